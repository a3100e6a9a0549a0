//! The host's apt sources: [`find_debian_archive`] reads `etc/apt/sources.list` and
//! `etc/apt/sources.list.d/*.list` (one-line format) and `*.sources` (deb822 format, through
//! [`super::deb822`]) under a root directory and returns the first `deb` entry with the `main`
//! component, which gives the archive's base URI and suite.
//!
//! Must not: decide which archive strata uses (that rule is [`super::mirror`]).

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::deb822::{classify_line, truncate, Line};

/// Whether an apt source entry is for binary (`deb`) or source (`deb-src`) packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AptKind {
    Deb,
    DebSrc,
}

/// One apt source entry: one type, one URI, one suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptEntry {
    pub kind: AptKind,
    /// The archive's base URI, without a trailing `/`.
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    /// Options (`[arch=amd64 signed-by=...]` or the deb822 fields other than the five read
    /// here), as written; keys lowercased.
    pub options: Vec<(String, String)>,
}

/// The Debian archive strata fetches from: base URI and suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub uri: String,
    pub suite: String,
}

/// A malformed line in an apt sources file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {message}")]
pub struct SourcesSyntaxError {
    pub line: usize,
    pub message: String,
}

/// Reading the host's apt sources failed.
#[derive(Debug, Error)]
pub enum SourcesError {
    #[error("reading {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Syntax {
        path: PathBuf,
        #[source]
        source: SourcesSyntaxError,
    },
}

fn syntax(line: usize, message: impl Into<String>) -> SourcesSyntaxError {
    SourcesSyntaxError {
        line,
        message: message.into(),
    }
}

fn parse_kind(s: &str) -> Option<AptKind> {
    match s {
        "deb" => Some(AptKind::Deb),
        "deb-src" => Some(AptKind::DebSrc),
        _ => None,
    }
}

/// Checks a suite and its components: a suite ending in `/` is an exact path and takes no
/// components; any other suite needs at least one.
fn check_suite(line: usize, suite: &str, components: &[String]) -> Result<(), SourcesSyntaxError> {
    if suite.ends_with('/') {
        if !components.is_empty() {
            return Err(syntax(
                line,
                format!("suite `{suite}` is an exact path and takes no components"),
            ));
        }
    } else if components.is_empty() {
        return Err(syntax(
            line,
            format!("suite `{suite}` needs at least one component"),
        ));
    }
    Ok(())
}

/// Parses a `sources.list` file in the one-line format:
/// `deb [ option=value ... ] uri suite [component ...]`, `#` starting a comment.
pub fn parse_sources_list(text: &str) -> Result<Vec<AptEntry>, SourcesSyntaxError> {
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (kind_word, mut rest) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| syntax(n, format!("incomplete entry `{}`", truncate(line))))?;
        let kind = parse_kind(kind_word).ok_or_else(|| {
            syntax(
                n,
                format!("unknown type `{kind_word}` (expected deb or deb-src)"),
            )
        })?;
        rest = rest.trim_start();
        let mut options = Vec::new();
        if let Some(inner) = rest.strip_prefix('[') {
            let close = inner
                .find(']')
                .ok_or_else(|| syntax(n, "options list `[` without `]`"))?;
            for opt in inner[..close].split_whitespace() {
                let (k, v) = opt
                    .split_once('=')
                    .ok_or_else(|| syntax(n, format!("option `{opt}` is not `key=value`")))?;
                options.push((k.to_ascii_lowercase(), v.to_string()));
            }
            rest = inner[close + 1..].trim_start();
        }
        let mut words = rest.split_whitespace();
        let uri = words.next().ok_or_else(|| syntax(n, "missing URI"))?;
        let suite = words.next().ok_or_else(|| syntax(n, "missing suite"))?;
        let components: Vec<String> = words.map(str::to_string).collect();
        check_suite(n, suite, &components)?;
        entries.push(AptEntry {
            kind,
            uri: uri.trim_end_matches('/').to_string(),
            suite: suite.to_string(),
            components,
            options,
        });
    }
    Ok(entries)
}

/// Parses a `.sources` file (deb822 format: `Types`, `URIs`, `Suites`, `Components`,
/// `Enabled`, and options as other fields). One entry per type, URI and suite, in that order;
/// stanzas with `Enabled: no` are skipped.
pub fn parse_deb822_sources(text: &str) -> Result<Vec<AptEntry>, SourcesSyntaxError> {
    struct Field<'a> {
        name: &'a str,
        line: usize,
        value: String,
    }
    fn flush(
        fields: &mut Vec<Field<'_>>,
        start: usize,
        out: &mut Vec<AptEntry>,
    ) -> Result<(), SourcesSyntaxError> {
        if fields.is_empty() {
            return Ok(());
        }
        let get = |name: &str| fields.iter().find(|f| f.name.eq_ignore_ascii_case(name));
        let list = |name: &str| -> Result<(Vec<&str>, usize), SourcesSyntaxError> {
            let f =
                get(name).ok_or_else(|| syntax(start, format!("stanza has no `{name}` field")))?;
            let v: Vec<&str> = f.value.split_whitespace().collect();
            if v.is_empty() {
                return Err(syntax(f.line, format!("`{name}` is empty")));
            }
            Ok((v, f.line))
        };
        let enabled = match get("Enabled") {
            None => true,
            Some(f) => match f.value.to_ascii_lowercase().as_str() {
                "yes" => true,
                "no" => false,
                v => {
                    return Err(syntax(
                        f.line,
                        format!("`Enabled: {v}` is neither yes nor no"),
                    ))
                }
            },
        };
        if enabled {
            let (types, tl) = list("Types")?;
            let (uris, _) = list("URIs")?;
            let (suites, sl) = list("Suites")?;
            let components: Vec<String> = get("Components")
                .map(|f| f.value.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default();
            let options: Vec<(String, String)> = fields
                .iter()
                .filter(|f| {
                    !["types", "uris", "suites", "components", "enabled"]
                        .iter()
                        .any(|k| f.name.eq_ignore_ascii_case(k))
                })
                .map(|f| (f.name.to_ascii_lowercase(), f.value.clone()))
                .collect();
            for t in &types {
                let kind = parse_kind(t).ok_or_else(|| {
                    syntax(tl, format!("unknown type `{t}` (expected deb or deb-src)"))
                })?;
                for uri in &uris {
                    for suite in &suites {
                        check_suite(sl, suite, &components)?;
                        out.push(AptEntry {
                            kind,
                            uri: uri.trim_end_matches('/').to_string(),
                            suite: suite.to_string(),
                            components: components.clone(),
                            options: options.clone(),
                        });
                    }
                }
            }
        }
        fields.clear();
        Ok(())
    }

    let mut out = Vec::new();
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut start = 0;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        match classify_line(line, true).map_err(|m| syntax(n, m.to_string()))? {
            Line::Blank => flush(&mut fields, start, &mut out)?,
            Line::Comment => {}
            Line::Continuation(v) => {
                let v = v.trim_start();
                let f = fields
                    .last_mut()
                    .ok_or_else(|| syntax(n, "continuation line outside a field"))?;
                f.value.push('\n');
                f.value.push_str(v);
            }
            Line::Field { name, value } => {
                if fields.is_empty() {
                    start = n;
                }
                if let Some(f) = fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)) {
                    return Err(syntax(
                        n,
                        format!(
                            "field `{name}` appears twice in one stanza (first on line {})",
                            f.line
                        ),
                    ));
                }
                fields.push(Field {
                    name,
                    line: n,
                    value: value.to_string(),
                });
            }
        }
    }
    flush(&mut fields, start, &mut out)?;
    Ok(out)
}

/// The first `deb` entry with the `main` component among `entries` that applies to `arch` (an
/// `arch=` option, if present, must list it).
pub fn first_main_archive(entries: &[AptEntry], arch: &str) -> Option<AptSource> {
    entries
        .iter()
        .find(|e| {
            e.kind == AptKind::Deb
                && e.components.iter().any(|c| c == "main")
                && e.options.iter().all(|(k, v)| {
                    (k != "arch" && k != "architectures")
                        || v.split([',', ' ', '\n']).any(|a| a == arch)
                })
        })
        .map(|e| AptSource {
            uri: e.uri.clone(),
            suite: e.suite.clone(),
        })
}

/// Finds the Debian archive (base URI and suite) in the apt sources under `root` (`/` for the
/// host): `etc/apt/sources.list`, then the `*.list` and `*.sources` files of
/// `etc/apt/sources.list.d` in name order, as apt reads them. Missing files are skipped;
/// `Ok(None)` when no `deb` entry has the `main` component for `arch`.
pub fn find_debian_archive(root: &Path, arch: &str) -> Result<Option<AptSource>, SourcesError> {
    let apt = root.join("etc/apt");
    let mut files: Vec<(PathBuf, bool)> = vec![(apt.join("sources.list"), false)];
    let dir = apt.join("sources.list.d");
    match std::fs::read_dir(&dir) {
        Ok(rd) => {
            let mut parts = Vec::new();
            for entry in rd {
                let entry = entry.map_err(|source| SourcesError::Io {
                    path: dir.clone(),
                    source,
                })?;
                let path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.ends_with(".list") {
                    parts.push((path, false));
                } else if name.ends_with(".sources") {
                    parts.push((path, true));
                }
            }
            parts.sort();
            files.extend(parts);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(SourcesError::Io { path: dir, source }),
    }
    for (path, deb822) in files {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(SourcesError::Io { path, source }),
        };
        let parsed = if deb822 {
            parse_deb822_sources(&text)
        } else {
            parse_sources_list(&text)
        };
        let entries = parsed.map_err(|source| SourcesError::Syntax {
            path: path.clone(),
            source,
        })?;
        if let Some(found) = first_main_archive(&entries, arch) {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::index::{parse_packages_bytes, Index};
    use crate::debian::lock::{sha256_hex, LockedIndex};

    #[test]
    fn sources_list_one_line() {
        let text = "\
# a comment
deb-src http://archive.invalid/debian bookworm main

deb [ arch=i386 ] http://archive.invalid/i386-only bookworm main
deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/x.gpg] http://archive.invalid/debian/ bookworm contrib main # trailing comment
deb http://archive.invalid/flat ./
";
        let entries = parse_sources_list(text).unwrap();
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0].kind, AptKind::DebSrc);
        assert_eq!(entries[2].uri, "http://archive.invalid/debian");
        assert_eq!(entries[2].components, ["contrib", "main"]);
        assert_eq!(
            entries[2].options,
            [
                ("arch".to_string(), "amd64,arm64".to_string()),
                (
                    "signed-by".to_string(),
                    "/usr/share/keyrings/x.gpg".to_string()
                )
            ]
        );
        assert_eq!(entries[3].suite, "./");
        assert!(entries[3].components.is_empty());
        assert_eq!(
            first_main_archive(&entries, "amd64"),
            Some(AptSource {
                uri: "http://archive.invalid/debian".into(),
                suite: "bookworm".into()
            })
        );
        assert_eq!(
            first_main_archive(&entries, "i386").map(|s| s.uri),
            Some("http://archive.invalid/i386-only".into())
        );
        for (bad, line, msg) in [
            ("\ndeb http://archive.invalid/debian\n", 2, "missing suite"),
            ("deb\n", 1, "incomplete entry"),
            (
                "rpm http://archive.invalid/x a b\n",
                1,
                "unknown type `rpm`",
            ),
            (
                "deb [arch=amd64 http://archive.invalid/x a b\n",
                1,
                "without `]`",
            ),
            (
                "deb [trusted] http://archive.invalid/x a b\n",
                1,
                "not `key=value`",
            ),
            (
                "deb http://archive.invalid/x bookworm\n",
                1,
                "needs at least one component",
            ),
            (
                "deb http://archive.invalid/x ./ main\n",
                1,
                "takes no components",
            ),
        ] {
            let e = parse_sources_list(bad).unwrap_err();
            assert_eq!(e.line, line, "{e}");
            assert!(e.message.contains(msg), "{e}");
        }
    }

    #[test]
    fn sources_deb822() {
        let text = "\
# disabled first
Types: deb
URIs: http://archive.invalid/disabled
Suites: bookworm
Components: main
Enabled: no

Types: deb-src deb
# a comment inside the stanza
URIs: http://archive.invalid/debian http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 bWFkZSB1cA==
 -----END PGP PUBLIC KEY BLOCK-----
";
        let entries = parse_deb822_sources(text).unwrap();
        let shown: Vec<String> = entries
            .iter()
            .map(|e| format!("{:?} {} {}", e.kind, e.uri, e.suite))
            .collect();
        assert_eq!(
            shown,
            [
                "DebSrc http://archive.invalid/debian bookworm",
                "DebSrc http://archive.invalid/debian bookworm-updates",
                "DebSrc http://mirror.invalid/debian bookworm",
                "DebSrc http://mirror.invalid/debian bookworm-updates",
                "Deb http://archive.invalid/debian bookworm",
                "Deb http://archive.invalid/debian bookworm-updates",
                "Deb http://mirror.invalid/debian bookworm",
                "Deb http://mirror.invalid/debian bookworm-updates",
            ]
        );
        assert_eq!(entries[0].components, ["main", "contrib"]);
        assert_eq!(entries[0].options[0].0, "signed-by");
        assert!(entries[0].options[0].1.contains("BEGIN PGP"));
        assert_eq!(
            first_main_archive(&entries, "amd64"),
            Some(AptSource {
                uri: "http://archive.invalid/debian".into(),
                suite: "bookworm".into()
            })
        );
        for (bad, line, msg) in [
            (
                "Types: deb\nSuites: a\nComponents: main\n",
                1,
                "no `URIs` field",
            ),
            (
                "Types: deb\nURIs: http://archive.invalid/x\nSuites:\nComponents: main\n",
                3,
                "`Suites` is empty",
            ),
            (
                "Types: deb\nURIs: http://archive.invalid/x\nSuites: a\n",
                3,
                "needs at least one component",
            ),
            (
                "Types: rpm\nURIs: http://archive.invalid/x\nSuites: a\nComponents: main\n",
                1,
                "unknown type",
            ),
            ("Types: deb\ntypes: deb\n", 2, "appears twice"),
            (" cont\n", 1, "continuation line outside"),
            ("\n\nno colon\n", 3, "expected `Field: value`"),
            ("Enabled: perhaps\n", 1, "neither yes nor no"),
        ] {
            let e = parse_deb822_sources(bad).unwrap_err();
            assert_eq!(e.line, line, "{e}");
            assert!(e.message.contains(msg), "{e}");
        }
    }

    #[test]
    fn find_archive_in_a_root() {
        let root = tempfile::tempdir().unwrap();
        let apt = root.path().join("etc/apt");
        assert_eq!(find_debian_archive(root.path(), "amd64").unwrap(), None);
        std::fs::create_dir_all(apt.join("sources.list.d")).unwrap();
        std::fs::write(apt.join("sources.list"), "# nothing here\n").unwrap();
        let d = apt.join("sources.list.d");
        std::fs::write(
            d.join("10-extra.list"),
            "deb http://archive.invalid/extra bookworm contrib\n",
        )
        .unwrap();
        std::fs::write(
            d.join("20-debian.sources"),
            "Types: deb\nURIs: http://archive.invalid/debian\nSuites: trixie\nComponents: main\n",
        )
        .unwrap();
        std::fs::write(
            d.join("30-other.list"),
            "deb http://archive.invalid/other sid main\n",
        )
        .unwrap();
        std::fs::write(
            d.join("05-off.list.disabled"),
            "deb http://archive.invalid/off sid main\n",
        )
        .unwrap();
        assert_eq!(
            find_debian_archive(root.path(), "amd64").unwrap(),
            Some(AptSource {
                uri: "http://archive.invalid/debian".into(),
                suite: "trixie".into()
            })
        );
        std::fs::write(d.join("15-broken.list"), "deb http://archive.invalid/x\n").unwrap();
        let e = find_debian_archive(root.path(), "amd64")
            .unwrap_err()
            .to_string();
        assert!(e.contains("15-broken.list: line 1: missing suite"), "{e}");
    }

    // ---------------------------------------------------------------- the host's apt lists

    /// Decodes an LZ4 frame stream (the LZ4 frame format specification), as apt stores its
    /// lists. Checksums are skipped, not verified.
    fn lz4_decode(mut data: &[u8]) -> Vec<u8> {
        fn take<'a>(d: &mut &'a [u8], n: usize) -> &'a [u8] {
            let (a, b) = d.split_at(n);
            *d = b;
            a
        }
        fn u32le(d: &mut &[u8]) -> u32 {
            let b = take(d, 4);
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        }
        let mut out = Vec::new();
        while !data.is_empty() {
            let magic = u32le(&mut data);
            if (0x184D_2A50..=0x184D_2A5F).contains(&magic) {
                let n = u32le(&mut data) as usize;
                take(&mut data, n);
                continue;
            }
            assert_eq!(magic, 0x184D_2204, "not an LZ4 frame");
            let flg = take(&mut data, 2)[0];
            assert_eq!(flg >> 6, 1, "LZ4 frame version");
            let block_checksum = flg & 0x10 != 0;
            let content_checksum = flg & 0x04 != 0;
            if flg & 0x08 != 0 {
                take(&mut data, 8);
            }
            if flg & 0x01 != 0 {
                take(&mut data, 4);
            }
            take(&mut data, 1); // header checksum
            loop {
                let size = u32le(&mut data);
                if size == 0 {
                    break;
                }
                let block = take(&mut data, (size & 0x7FFF_FFFF) as usize);
                if size & 0x8000_0000 != 0 {
                    out.extend_from_slice(block);
                } else {
                    lz4_block(block, &mut out);
                }
                if block_checksum {
                    take(&mut data, 4);
                }
            }
            if content_checksum {
                take(&mut data, 4);
            }
        }
        out
    }

    fn lz4_block(b: &[u8], out: &mut Vec<u8>) {
        let mut i = 0;
        let length = |i: &mut usize, mut n: usize| {
            if n == 15 {
                loop {
                    let x = b[*i];
                    *i += 1;
                    n += usize::from(x);
                    if x != 255 {
                        break;
                    }
                }
            }
            n
        };
        loop {
            let token = b[i];
            i += 1;
            let lit = length(&mut i, usize::from(token >> 4));
            out.extend_from_slice(&b[i..i + lit]);
            i += lit;
            if i == b.len() {
                break;
            }
            let offset = usize::from(b[i]) | usize::from(b[i + 1]) << 8;
            i += 2;
            let len = length(&mut i, usize::from(token & 15)) + 4;
            let start = out.len() - offset;
            for k in 0..len {
                out.push(out[start + k]);
            }
        }
    }

    #[test]
    fn lz4_decoder_on_stored_blocks() {
        // One frame, no checksums, one uncompressed block, then one compressed block that
        // repeats the previous bytes.
        let mut f = vec![0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82];
        f.extend_from_slice(&(3u32 | 0x8000_0000).to_le_bytes());
        f.extend_from_slice(b"abc");
        // token: 1 literal, match length 15+1 → 20; offset 4
        f.extend_from_slice(&6u32.to_le_bytes());
        f.extend_from_slice(&[0x1F, b'd', 4, 0, 1, 0x00]);
        f.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(lz4_decode(&f), b"abcdabcdabcdabcdabcdabcd");
    }

    #[test]
    fn host_apt_lists_resolve() {
        let Ok(dir) = std::fs::read_dir("/var/lib/apt/lists") else {
            return;
        };
        let mut files: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                n.ends_with("_binary-amd64_Packages") || n.ends_with("_binary-amd64_Packages.lz4")
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return;
        }
        let mut all = Vec::new();
        let mut locked = Vec::new();
        let mut datas = Vec::new();
        for f in &files {
            let raw = std::fs::read(f).unwrap();
            let data = if f.extension().is_some_and(|e| e == "lz4") {
                lz4_decode(&raw)
            } else {
                raw
            };
            let t = std::time::Instant::now();
            let pkgs =
                parse_packages_bytes(&data).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            eprintln!(
                "{}: {} bytes, {} stanzas, parsed in {:?}",
                f.display(),
                data.len(),
                pkgs.len(),
                t.elapsed()
            );
            locked.push(LockedIndex {
                path: "dists/host/main/binary-amd64/Packages".into(),
                sha256: sha256_hex(&data),
            });
            all.extend(pkgs);
            datas.push(data);
        }
        let idx = Index::new("amd64", all);
        let r = idx.resolve(&["busybox-static", "tzdata"]).unwrap();
        let got: Vec<String> = r.packages.iter().map(|p| p.package.name.clone()).collect();
        assert!(got.contains(&"busybox-static".into()) && got.contains(&"tzdata".into()));
        eprintln!("busybox-static + tzdata: {got:?}");
        let mut essential: Vec<&str> = idx.essential();
        essential.push("busybox-static");
        let r = idx.resolve(&essential).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("essential + busybox-static: {} packages", r.packages.len());
        // The digest of the whole suite: every essential package usable.
        let t = std::time::Instant::now();
        let indexes: Vec<(LockedIndex, &[u8])> = locked
            .iter()
            .cloned()
            .zip(datas.iter().map(Vec::as_slice))
            .collect();
        let digest = crate::debian::digest::build("host", "amd64", &indexes).unwrap();
        let text = String::from_utf8(digest).unwrap();
        let lines = crate::debian::digest::split(&text).unwrap();
        eprintln!(
            "digest: {} packages, {} bytes, made in {:?}",
            lines.records.len(),
            text.len(),
            t.elapsed()
        );
        for name in idx.essential() {
            let (_, line) = lines.records.iter().find(|(n, _)| *n == name).unwrap();
            let r: crate::debian::digest::DigestRecord = serde_json::from_str(line).unwrap();
            assert!(r.broken.is_none(), "{name}: {:?}", r.broken);
        }
        // The host's apt sources parse (whatever they say).
        if Path::new("/etc/apt").exists() {
            find_debian_archive(Path::new("/"), "amd64").unwrap();
        }
    }
}
