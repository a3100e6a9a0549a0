//! Golden files for one, two and many generations (`tests/golden/`; `STRATA_BLESS=1` rewrites
//! them), sharing, limits, malformed bootspecs, and installs into a directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::*;

/// A generation whose kernel is `kernel` (one of a few fake kernels, by number).
fn generation(number: u32, kernel: u32) -> Generation {
    let top = format!("/nix/store/{number:032}-strata-system-saguaro");
    Generation {
        number,
        date: format!("2026-11-{:02}", number.min(28)),
        label: "strata-24.11".into(),
        init: format!("{top}/init"),
        toplevel: top,
        kernel: format!(
            "/nix/store/{kernel:032}-linux-image-6.1.0-50-amd64/boot/vmlinuz-6.1.0-50-amd64"
        ),
        initrd: Some(format!("/nix/store/{number:032}-initrd/initrd")),
        kernel_params: vec!["console=ttyS0,115200".into(), "quiet".into()],
        kernel_hash: format!("{kernel:08x}{kernel:08x}{kernel:08x}{kernel:08x}"),
        initrd_hash: Some(format!("{:032x}", u128::from(number) * 7919)),
    }
}

fn text_of(plan: &Plan, path: &str) -> String {
    plan.files
        .iter()
        .find(|f| f.path == path)
        .map(|f| match &f.content {
            Content::Text(t) => t.clone(),
            Content::Copy(s) => format!("copy of {s}\n"),
        })
        .unwrap_or_else(|| panic!("no {path} in the plan"))
}

/// The whole plan as one text: every file's path and contents.
fn render(plan: &Plan) -> String {
    let mut out = String::new();
    for f in &plan.files {
        out.push_str(&format!("=== {}\n", f.path));
        match &f.content {
            Content::Text(t) => out.push_str(t),
            Content::Copy(s) => out.push_str(&format!("copy of {s}\n")),
        }
    }
    out
}

fn golden(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("STRATA_BLESS").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, got).unwrap();
    }
    let want = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (STRATA_BLESS=1 writes it)", path.display()));
    assert_eq!(got, want, "{name} differs from {}", path.display());
}

#[test]
fn golden_files() {
    let one = [generation(1, 1)];
    let two = [generation(1, 1), generation(2, 1)];
    let many: Vec<Generation> = (1..=12).map(|n| generation(n, n / 5)).collect();
    let s = |default: u32| Settings {
        timeout: Some(3),
        default,
        ..Settings::default()
    };
    golden(
        "systemd-boot-one",
        &render(&systemd_boot(&one, &s(1)).unwrap()),
    );
    golden(
        "systemd-boot-two",
        &render(&systemd_boot(&two, &s(2)).unwrap()),
    );
    let limited = Settings {
        limit: Some(4),
        timeout: None,
        ..s(10)
    };
    golden(
        "systemd-boot-many-limit-4",
        &render(&systemd_boot(&many, &limited).unwrap()),
    );
    let serial = Settings {
        serial: true,
        search: Some(Search::Label("ESP".into())),
        ..s(1)
    };
    golden("grub-one-serial", &render(&grub(&one, &serial).unwrap()));
    let uuid = Settings {
        search: Some(Search::Uuid("1234-ABCD".into())),
        ..s(2)
    };
    golden("grub-two", &render(&grub(&two, &uuid).unwrap()));
    golden(
        "grub-many-limit-4",
        &render(&grub(&many, &limited).unwrap()),
    );
}

#[test]
fn files_are_shared_and_limits_respected() {
    // Generations 1 and 2 share a kernel: one copy; each has its own initrd.
    let plan = systemd_boot(&[generation(1, 1), generation(2, 1)], &Settings::default()).unwrap();
    let copies: Vec<&str> = plan
        .files
        .iter()
        .filter(|f| matches!(f.content, Content::Copy(_)))
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(copies.len(), 3, "{copies:?}");
    assert_eq!(
        copies.iter().filter(|c| c.contains("vmlinuz")).count(),
        1,
        "{copies:?}"
    );

    // A limit keeps the newest; a default that fell off falls back to the newest.
    let many: Vec<Generation> = (1..=6).map(|n| generation(n, n)).collect();
    let s = Settings {
        limit: Some(2),
        default: 1,
        ..Settings::default()
    };
    let plan = systemd_boot(&many, &s).unwrap();
    let entries: Vec<&str> = plan
        .files
        .iter()
        .filter(|f| f.path.starts_with("loader/entries/"))
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        entries,
        [
            "loader/entries/strata-generation-6.conf",
            "loader/entries/strata-generation-5.conf"
        ]
    );
    assert!(text_of(&plan, "loader/loader.conf").contains("default strata-generation-6.conf"));
    assert_eq!(
        systemd_boot(&[], &s).unwrap_err().to_string(),
        "there is no generation to boot"
    );
}

#[test]
fn malformed_bootspecs_are_refused_with_the_generation_named() {
    let mut hash = |p: &str| Ok(format!("{:032x}", p.len()));
    let good = r#"{"org.nixos.bootspec.v1": {"system": "x86_64-linux", "init": "/t/init",
        "initrd": "/nix/store/i/initrd", "kernel": "/nix/store/k/bzImage",
        "kernelParams": ["quiet"], "label": "l", "toplevel": "/t"},
        "org.nixos.specialisation.v1": {}}"#;
    let g = Generation::from_bootspec(3, "2026-11-21", good, &mut hash).unwrap();
    assert_eq!(g.kernel, "/nix/store/k/bzImage");
    assert_eq!(g.kernel_params, ["quiet"]);
    for (bad, want) in [
        ("{", "EOF"),
        (r#"{"org.nixos.bootspec.v1": {}}"#, "missing field"),
        (
            &good.replace("\"/nix/store/k/bzImage\"", "\"bzImage\""),
            "is not an absolute path",
        ),
    ] {
        let e = Generation::from_bootspec(7, "2026-11-21", bad, &mut hash).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("generation 7 has a malformed boot.json"),
            "{text}"
        );
        assert!(text.contains(want), "{text}");
    }
    let mut missing = |_: &str| Err(io::Error::from(io::ErrorKind::NotFound));
    let e = Generation::from_bootspec(8, "2026-11-21", good, &mut missing).unwrap_err();
    assert!(e.to_string().contains("kernel /nix/store/k/bzImage"), "{e}");
}

/// A store with the fake kernels and initrds of `gens`, as real files.
fn fake_store(gens: &[Generation]) -> (tempfile::TempDir, BTreeMap<String, PathBuf>) {
    let t = tempfile::tempdir().unwrap();
    let mut map = BTreeMap::new();
    for g in gens {
        for p in [Some(&g.kernel), g.initrd.as_ref()].into_iter().flatten() {
            let real = t.path().join(p.trim_start_matches('/'));
            fs::create_dir_all(real.parent().unwrap()).unwrap();
            fs::write(&real, format!("contents of {p}\n")).unwrap();
            map.insert(p.clone(), real);
        }
    }
    (t, map)
}

#[test]
fn install_writes_once_removes_what_no_generation_uses_and_keeps_the_rest() {
    let gens: Vec<Generation> = (1..=3).map(|n| generation(n, n)).collect();
    let (_store, map) = fake_store(&gens);
    let resolve = |p: &str| map[p].clone();
    let esp = tempfile::tempdir().unwrap();
    // Files that are not strata's.
    fs::create_dir_all(esp.path().join("EFI/BOOT")).unwrap();
    fs::write(esp.path().join("EFI/BOOT/BOOTX64.EFI"), "systemd-boot").unwrap();
    fs::create_dir_all(esp.path().join("loader/entries")).unwrap();
    fs::write(
        esp.path().join("loader/entries/windows.conf"),
        "title Windows\n",
    )
    .unwrap();

    let s = Settings {
        default: 3,
        ..Settings::default()
    };
    let plan = systemd_boot(&gens, &s).unwrap();
    let r = install(&plan, esp.path(), &resolve).unwrap();
    assert_eq!(r.written.len(), plan.files.len());
    let kernel1 = esp
        .path()
        .join(file_name(&gens[0].kernel, &gens[0].kernel_hash));
    assert_eq!(
        fs::read_to_string(&kernel1).unwrap(),
        format!("contents of {}\n", gens[0].kernel)
    );
    assert!(esp
        .path()
        .join("loader/entries/strata-generation-2.conf")
        .is_file());

    // Again: nothing to do.
    let r = install(&plan, esp.path(), &resolve).unwrap();
    assert_eq!(r, InstallReport::default());

    // Generation 1 goes: its kernel, initrd and entry go; other files stay.
    let plan = systemd_boot(&gens[1..], &s).unwrap();
    let r = install(&plan, esp.path(), &resolve).unwrap();
    assert!(r.written.is_empty(), "{r:?}");
    assert_eq!(r.removed.len(), 3, "{r:?}");
    assert!(!kernel1.exists());
    assert!(!esp
        .path()
        .join("loader/entries/strata-generation-1.conf")
        .exists());
    assert!(esp.path().join("EFI/BOOT/BOOTX64.EFI").is_file());
    assert!(esp.path().join("loader/entries/windows.conf").is_file());
}

#[test]
fn an_install_that_would_not_fit_writes_nothing() {
    let gens = [generation(1, 1)];
    let (_store, map) = fake_store(&gens);
    let resolve = |p: &str| map[p].clone();
    let esp = tempfile::tempdir().unwrap();
    let plan = grub(&gens, &Settings::default()).unwrap();
    let tiny = |_: &Path| Ok(1000u64);
    let e = install_with(&plan, esp.path(), &resolve, &tiny).unwrap_err();
    assert!(matches!(e, Error::NoSpace { free: 1000, .. }), "{e}");
    assert!(e.to_string().contains("nothing was written"), "{e}");
    assert_eq!(fs::read_dir(esp.path()).unwrap().count(), 0);
}

#[test]
fn no_kernel_parameter_can_add_a_menu_command() {
    let s = Settings {
        default: 1,
        ..Settings::default()
    };
    // A line break would end the `linux` line (GRUB) or the `options` key (systemd-boot) and
    // start a command of the parameter's choosing: refused, from a bootspec or not.
    let hostile = "quiet\n}\nmenuentry evil {\n  linux /evil init=/bin/sh\n";
    let mut g = generation(1, 1);
    g.kernel_params.push(hostile.into());
    for e in [grub(&[g.clone()], &s), systemd_boot(&[g], &s)] {
        let text = e.unwrap_err().to_string();
        assert!(
            text.starts_with("generation 1 has a malformed boot.json")
                && text.contains("menuentry evil"),
            "{text}"
        );
    }
    let mut hash = |p: &str| Ok(format!("{:032x}", p.len()));
    for bad in [
        serde_json::to_string(hostile).unwrap(),
        "\"console=ttyS0 init=/bin/sh\"".into(),
        "\"\"".into(),
    ] {
        let json = format!(
            r#"{{"org.nixos.bootspec.v1": {{"system": "x86_64-linux", "init": "/t/init",
            "kernel": "/nix/store/k/bzImage", "kernelParams": ["quiet", {bad}],
            "label": "l", "toplevel": "/t"}}}}"#
        );
        let text = Generation::from_bootspec(4, "2026-11-21", &json, &mut hash)
            .unwrap_err()
            .to_string();
        assert!(text.contains("its kernel parameter"), "{bad}: {text}");
    }
    let mut label = generation(1, 1);
    label.label = "l\nmenuentry evil {".into();
    assert!(grub(&[label], &s).is_err());

    // What GRUB's parser would read as a separator, an expansion or a quote stays inside one
    // quoted word of the `linux` line; plain parameters are written as they are.
    let mut g = generation(1, 1);
    g.kernel_params = vec![
        "console=ttyS0,115200".into(),
        "a;reboot".into(),
        "x=$(halt)".into(),
        "it's".into(),
        "b}".into(),
    ];
    let cfg = text_of(&grub(&[g], &s).unwrap(), "grub/grub.cfg");
    let linux = cfg.lines().find(|l| l.starts_with("  linux ")).unwrap();
    assert!(
        linux.ends_with(" console=ttyS0,115200 'a;reboot' 'x=$(halt)' 'it'\\''s' 'b}'"),
        "{linux}"
    );
    assert_eq!(cfg.lines().filter(|l| l.contains("menuentry")).count(), 2);
}
