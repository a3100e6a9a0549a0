//! `<hash>.narinfo`: one store path's metadata in a binary cache, `Key: value` lines in
//! the order Nix writes them.

use std::collections::BTreeSet;

use crate::{Hash, HashAlgo, StoreDir, StorePath};

/// The parsed form of a `.narinfo` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarInfo {
    pub path: StorePath,
    /// Relative to the cache's root, e.g. `nar/<filehash>.nar.xz`.
    pub url: String,
    /// `none`, `xz`, `zstd`, ... as the file names it.
    pub compression: String,
    pub file_hash: Option<Hash>,
    pub file_size: Option<u64>,
    pub nar_hash: Hash,
    pub nar_size: u64,
    pub references: BTreeSet<StorePath>,
    pub deriver: Option<StorePath>,
    pub sigs: Vec<String>,
    pub ca: Option<String>,
}

/// A `.narinfo` that cannot be read, with the line it fails on.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct NarInfoError {
    pub line: usize,
    pub problem: String,
}

impl NarInfo {
    /// The text Nix 2.8 writes for the same information.
    pub fn to_text(&self, dir: &StoreDir) -> String {
        let mut s = format!("StorePath: {}\n", dir.display(&self.path));
        s += &format!("URL: {}\n", self.url);
        s += &format!("Compression: {}\n", self.compression);
        if let Some(h) = &self.file_hash {
            s += &format!("FileHash: sha256:{}\n", h.to_nix32());
        }
        if let Some(n) = self.file_size {
            s += &format!("FileSize: {n}\n");
        }
        s += &format!("NarHash: sha256:{}\n", self.nar_hash.to_nix32());
        s += &format!("NarSize: {}\n", self.nar_size);
        let refs: Vec<&str> = self.references.iter().map(StorePath::base_name).collect();
        s += &format!("References: {}\n", refs.join(" "));
        if let Some(d) = &self.deriver {
            s += &format!("Deriver: {}\n", d.base_name());
        }
        for sig in &self.sigs {
            s += &format!("Sig: {sig}\n");
        }
        if let Some(ca) = &self.ca {
            s += &format!("CA: {ca}\n");
        }
        s
    }

    /// Parses a `.narinfo`. Unknown keys are skipped (Nix writes `System`, others may write
    /// more); the required ones are `StorePath`, `URL`, `NarHash` and `NarSize`. As in Nix, a
    /// missing `Compression` means bzip2.
    pub fn parse(dir: &StoreDir, text: &str) -> Result<NarInfo, NarInfoError> {
        let mut path = None;
        let mut url = None;
        let mut compression = None;
        let mut file_hash = None;
        let mut file_size = None;
        let mut nar_hash = None;
        let mut nar_size = None;
        let mut references = BTreeSet::new();
        let mut deriver = None;
        let mut sigs = Vec::new();
        let mut ca = None;
        let mut last = 0;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            last = line;
            let err = |problem: String| NarInfoError { line, problem };
            if raw.is_empty() {
                continue;
            }
            let Some((key, value)) = raw.split_once(": ").or_else(|| {
                // `References:` with nothing after it.
                raw.strip_suffix(':').map(|k| (k, ""))
            }) else {
                return Err(err(format!("expected 'Key: value', found '{}'", clip(raw))));
            };
            let parse_hash = |v: &str| {
                Hash::parse(v, None)
                    .ok()
                    .filter(|h| h.algo() == HashAlgo::Sha256)
                    .ok_or_else(|| err(format!("{key} '{}' is not a SHA-256 hash", clip(v))))
            };
            let parse_size = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| err(format!("{key} '{}' is not a size", clip(v))))
            };
            let base = |v: &str| {
                StorePath::from_base_name(v)
                    .map_err(|e| err(format!("{key} '{}' is not a store path: {e}", clip(v))))
            };
            match key {
                "StorePath" => {
                    path = Some(
                        dir.parse(value)
                            .map_err(|e| err(format!("StorePath '{}': {e}", clip(value))))?,
                    )
                }
                "URL" => {
                    if value.is_empty() || value.starts_with('/') || value.contains("..") {
                        return Err(err(format!(
                            "URL '{}' is not a relative file name",
                            clip(value)
                        )));
                    }
                    url = Some(value.to_owned())
                }
                "Compression" => compression = Some(value.to_owned()),
                "FileHash" => file_hash = Some(parse_hash(value)?),
                "FileSize" => file_size = Some(parse_size(value)?),
                "NarHash" => nar_hash = Some(parse_hash(value)?),
                "NarSize" => nar_size = Some(parse_size(value)?),
                "References" => {
                    for r in value.split_whitespace() {
                        references.insert(base(r)?);
                    }
                }
                "Deriver" if !value.is_empty() && value != "unknown-deriver" => {
                    deriver = Some(base(value)?);
                }
                "Sig" => sigs.push(value.to_owned()),
                "CA" if !value.is_empty() => ca = Some(value.to_owned()),
                _ => {}
            }
        }
        let missing = |k: &str| NarInfoError {
            line: last,
            problem: format!("the '{k}' line is missing"),
        };
        Ok(NarInfo {
            path: path.ok_or_else(|| missing("StorePath"))?,
            url: url.ok_or_else(|| missing("URL"))?,
            compression: compression.unwrap_or_else(|| "bzip2".to_owned()),
            file_hash,
            file_size,
            nar_hash: nar_hash.ok_or_else(|| missing("NarHash"))?,
            nar_size: nar_size.ok_or_else(|| missing("NarSize"))?,
            references,
            deriver,
            sigs,
            ca,
        })
    }
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (StoreDir, NarInfo) {
        let dir = StoreDir::new("/nix/store").unwrap();
        let p = dir
            .parse("/nix/store/7h7qgvs4kgzsn8a6rb274saxyqh4jxlz-hello")
            .unwrap();
        let r = dir
            .parse("/nix/store/2bcv91i8fahqghn8dmyr791iaycbsjdd-dep")
            .unwrap();
        let info = NarInfo {
            path: p.clone(),
            url: "nar/abc.nar.xz".into(),
            compression: "xz".into(),
            file_hash: Some(Hash::of(HashAlgo::Sha256, b"f")),
            file_size: Some(10),
            nar_hash: Hash::of(HashAlgo::Sha256, b"n"),
            nar_size: 120,
            references: [p, r].into_iter().collect(),
            deriver: Some(
                StorePath::from_base_name("0c4sbqpmszg30rpppb5pi7ay4gx3xyf3-hello.drv").unwrap(),
            ),
            sigs: vec!["k:c2ln".into()],
            ca: None,
        };
        (dir, info)
    }

    #[test]
    fn round_trips() {
        let (dir, info) = sample();
        let text = info.to_text(&dir);
        assert!(text.starts_with("StorePath: /nix/store/7h7qgvs4kgzsn8a6rb274saxyqh4jxlz-hello\nURL: nar/abc.nar.xz\nCompression: xz\nFileHash: sha256:"));
        assert!(text.contains("\nReferences: 2bcv91i8fahqghn8dmyr791iaycbsjdd-dep 7h7qgvs4kgzsn8a6rb274saxyqh4jxlz-hello\nDeriver: 0c4sbqpmszg30rpppb5pi7ay4gx3xyf3-hello.drv\nSig: k:c2ln\n"));
        assert_eq!(NarInfo::parse(&dir, &text).unwrap(), info);
    }

    #[test]
    fn empty_references_and_unknown_keys() {
        let (dir, mut info) = sample();
        info.references.clear();
        info.deriver = None;
        let text = info
            .to_text(&dir)
            .replace("NarSize", "System: x86_64-linux\nNarSize");
        assert!(text.contains("References: \n"));
        assert_eq!(NarInfo::parse(&dir, &text).unwrap(), info);
    }

    #[test]
    fn bad_input_names_the_line() {
        let (dir, info) = sample();
        let text = info.to_text(&dir);
        let e = NarInfo::parse(&dir, &text.replace("NarSize: 120", "NarSize: lots")).unwrap_err();
        assert_eq!(e.line, 7);
        assert!(e.problem.contains("NarSize 'lots'"), "{e}");
        let e =
            NarInfo::parse(&dir, &text.replace("URL: nar/abc.nar.xz", "URL: ../x")).unwrap_err();
        assert!(e.problem.contains("not a relative"), "{e}");
        let e = NarInfo::parse(
            &dir,
            "StorePath: /nix/store/7h7qgvs4kgzsn8a6rb274saxyqh4jxlz-hello\n",
        )
        .unwrap_err();
        assert!(e.problem.contains("'URL' line is missing"), "{e}");
        let e = NarInfo::parse(&dir, "garbage\n").unwrap_err();
        assert_eq!(e.line, 1);
    }
}
