#![allow(clippy::unwrap_used)]
use super::*;

fn git(url: &str, git_ref: Option<&str>, rev: Option<&str>) -> RefKind {
    RefKind::Git {
        url: url.into(),
        git_ref: git_ref.map(Into::into),
        rev: rev.map(Into::into),
    }
}

const REV: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn references_parse_and_print_back() {
    let base = Path::new("/srv/flake");
    let r = FlakeRef::parse("git+file:///srv/repo?ref=main", base).unwrap();
    assert_eq!(r, FlakeRef::of(git("file:///srv/repo", Some("main"), None)));
    assert_eq!(r.to_string(), "git+file:///srv/repo?ref=main");
    assert_eq!(
        FlakeRef::parse("path:./data", base).unwrap(),
        FlakeRef::of(RefKind::Path {
            path: "/srv/flake/data".into()
        })
    );
    // A bare path outside a git repository is a path: reference; inside one, the repository
    // with `dir` the way down to it.
    let d = tempfile::tempdir().unwrap();
    let bare = FlakeRef::parse(".", d.path()).unwrap();
    assert!(matches!(bare.kind, RefKind::Path { .. }), "{bare:?}");
    std::fs::create_dir_all(d.path().join(".git")).unwrap();
    std::fs::create_dir_all(d.path().join("a/b")).unwrap();
    let bare = FlakeRef::parse(".", d.path()).unwrap();
    assert!(matches!(bare.kind, RefKind::Git { .. }), "{bare:?}");
    let sub = FlakeRef::parse("./a/b", d.path()).unwrap();
    assert_eq!(sub.dir.as_deref(), Some("a/b"));
    assert_eq!(
        sub.to_string(),
        format!("git+file://{}?dir=a/b", d.path().display())
    );
    assert_eq!(sub.local_tree().unwrap(), d.path());
    assert_eq!(
        FlakeRef::parse("../other/./x", base).unwrap().kind,
        RefKind::Path {
            path: "/srv/other/x".into()
        }
    );
    let back = FlakeRef::from_locked(&r.original()).unwrap();
    assert_eq!(back, r);
    let t = FlakeRef::parse("file:///srv/t.tar.xz", base).unwrap();
    assert_eq!(
        t.kind,
        RefKind::Tarball {
            url: "file:///srv/t.tar.xz".into()
        }
    );
    assert_eq!(t.to_string(), "tarball+file:///srv/t.tar.xz");
    assert_eq!(FlakeRef::from_locked(&t.original()).unwrap(), t);
}

#[test]
fn query_parameters_as_nix_2_8_records_them() {
    let base = Path::new("/");
    // `dir` stays in a git URL (Nix 2.8 keeps it there) and is an attribute too.
    let r = FlakeRef::parse(&format!("git+https://h.test/r.git?dir=sub&rev={REV}"), base).unwrap();
    assert_eq!(r.kind, git("https://h.test/r.git?dir=sub", None, Some(REV)));
    assert_eq!(r.dir.as_deref(), Some("sub"));
    let o = r.original();
    assert_eq!(o.url.as_deref(), Some("https://h.test/r.git?dir=sub"));
    assert_eq!(o.dir.as_deref(), Some("sub"));
    assert_eq!(FlakeRef::from_locked(&o).unwrap(), r);
    assert_eq!(
        r.to_string(),
        format!("git+https://h.test/r.git?dir=sub&rev={REV}")
    );
    // A tarball keeps its query, but for narHash, which any form is taken in.
    let t = FlakeRef::parse(
        "https://h.test/t.tar.gz?dir=a&narHash=sha256-47DEQpj8HBSa%2B/TImW%2B5JCeuQeRkm5NMpJWZG3hSuFU%3D",
        base,
    )
    .unwrap();
    assert_eq!(
        t.kind,
        RefKind::Tarball {
            url: "https://h.test/t.tar.gz?dir=a".into()
        }
    );
    assert_eq!(
        t.nar_hash.as_deref(),
        Some("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
    );
    let t2 = FlakeRef::parse("tarball+http://127.0.0.1:8/get?&narHash=sha256-47DEQpj8HBSa%2B/TImW%2B5JCeuQeRkm5NMpJWZG3hSuFU%3D&id=7", base).unwrap();
    assert_eq!(
        t2.kind,
        RefKind::Tarball {
            url: "http://127.0.0.1:8/get?id=7".into()
        }
    );
    // Forges: the third component is a rev when it is a commit hash, else a ref.
    let g = FlakeRef::parse("github:o/r/v1.0?host=127.0.0.1:4443&dir=x", base).unwrap();
    assert_eq!(
        g.kind,
        RefKind::Forge {
            forge: Forge::GitHub,
            owner: "o".into(),
            repo: "r".into(),
            git_ref: Some("v1.0".into()),
            rev: None,
            host: Some("127.0.0.1:4443".into()),
        }
    );
    assert_eq!(g.dir.as_deref(), Some("x"));
    assert_eq!(g.to_string(), "github:o/r/v1.0?host=127.0.0.1:4443&dir=x");
    assert_eq!(FlakeRef::from_locked(&g.original()).unwrap(), g);
    let g = FlakeRef::parse(&format!("gitlab:o/r/{REV}"), base).unwrap();
    assert_eq!(g.rev(), Some(REV));
    assert_eq!(g.original().kind, "gitlab");
}

#[test]
fn attribute_sets_are_references_too() {
    let base = Path::new("/srv/flake");
    let attrs = LockedRef {
        kind: "git".into(),
        url: Some("file:///srv/a".into()),
        git_ref: Some("main".into()),
        dir: Some("/sub/".into()),
        ..Default::default()
    };
    let r = FlakeRef::from_attrs(&attrs, base).unwrap();
    assert_eq!(r.kind, git("file:///srv/a", Some("main"), None));
    assert_eq!(r.dir.as_deref(), Some("sub"));
    assert_eq!(r.to_string(), "git+file:///srv/a?ref=main&dir=sub");
    let p = LockedRef {
        kind: "path".into(),
        path: Some("../c".into()),
        ..Default::default()
    };
    assert_eq!(
        FlakeRef::from_attrs(&p, base).unwrap().kind,
        RefKind::Path {
            path: "/srv/c".into()
        }
    );
    for (attrs, why) in [
        (
            LockedRef {
                kind: "git".into(),
                ..Default::default()
            },
            "has `url'",
        ),
        (
            LockedRef {
                kind: "path".into(),
                path: Some("/x".into()),
                owner: Some("o".into()),
                ..Default::default()
            },
            "`owner' does not apply",
        ),
        (
            LockedRef {
                kind: "mercurial".into(),
                url: Some("https://h/r".into()),
                ..Default::default()
            },
            "input type `mercurial'",
        ),
        (
            LockedRef {
                kind: "tarball".into(),
                url: Some("ftp://h/t.tar".into()),
                ..Default::default()
            },
            "file://, http:// or https://",
        ),
    ] {
        let e = FlakeRef::from_attrs(&attrs, base).unwrap_err().to_string();
        assert!(e.contains(why), "{attrs:?}: {e}");
    }
}

#[test]
fn unsupported_references_say_why() {
    let base = Path::new("/");
    for (text, why) in [
        ("nixpkgs", "flake registry names"),
        ("flake:nixpkgs", "flake registry names"),
        ("sourcehut:~o/r", "not supported yet"),
        ("hg+https://h/r", "input type `hg+https'"),
        ("file:///x.txt", "tarball+file"),
        ("https://h/x", "tarball+https"),
        ("git+file://rel", "absolute path"),
        ("git+ssh://h/r", "input type `git+ssh'"),
        ("path:/x?rev=abc", "does not apply to a path"),
        ("git+file:///x?rev=abc", "40-digit"),
        (
            "git+file:///x?submodules=1",
            "`submodules' is not supported",
        ),
        ("github:o", "OWNER/REPO"),
        ("github:o/r/a/b", "OWNER/REPO"),
        ("github:o/r/main?ref=dev", "given twice"),
        ("path:/x?dir=../..", "leaves the tree"),
        ("path:/x?narHash=md5-abc", "not a sha256 hash"),
    ] {
        let e = FlakeRef::parse(text, base).unwrap_err().to_string();
        assert!(e.contains(text) && e.contains(why), "{text}: {e}");
    }
}
