//! kmod's binary index files (`modules.dep.bin`, `modules.alias.bin`, `modules.builtin.bin`):
//! Debian's `modprobe` looks modules up in these, never in the text `modules.dep` (libkmod's
//! `kmod_search_moddep` opens `modules.dep.bin` and gives up when it is missing), so a modules
//! tree without them is one `modprobe` cannot use.
//!
//! The format, as kmod documents it in its index reader: big-endian `u32`s; a header of the
//! magic `0xB007F457`, the version `0x00020001` and the root node's offset; then nodes of a
//! radix tree over the keys' bytes. A node's offset carries flags in its top nibble: `0x8`
//! the node has a prefix (the NUL-terminated bytes it adds to the key), `0x4` it has values
//! (a count, then per value a priority and the NUL-terminated value), `0x2` it has children
//! (the first and last byte labelling them, then one offset per byte in that range, 0 where
//! there is none). The child for byte `c` holds the keys continuing with `c`, without it.
//! kmod's readers keep at most 128 children, so keys are ASCII.
//!
//! [`IndexWriter`] builds one (nodes written children first, so every offset is known when it
//! is written; the output is a function of the keys and values alone); [`lookup`] reads one
//! back, as kmod's exact search does.
//!
//! Must not: decide what is indexed (that is [`super`]).

use std::collections::BTreeMap;

/// kmod's index magic.
pub const MAGIC: u32 = 0xB007_F457;
/// Format 2.1.
pub const VERSION: u32 = 0x0002_0001;

const FLAG_PREFIX: u32 = 0x8000_0000;
const FLAG_VALUES: u32 = 0x4000_0000;
const FLAG_CHILDREN: u32 = 0x2000_0000;
const OFFSET_MASK: u32 = 0x0FFF_FFFF;

/// Why a key cannot go into an index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("index key {0:?} is empty or holds a byte outside printable ASCII")]
    BadKey(String),
    #[error("index value {0:?} holds a NUL byte")]
    BadValue(String),
    #[error("the index is larger than the format's 256 MiB")]
    TooLarge,
}

/// The keys and values of one index file.
#[derive(Debug, Default, Clone)]
pub struct IndexWriter {
    entries: BTreeMap<Vec<u8>, Vec<(u32, String)>>,
}

/// A key's values: (priority, value).
type Values = Vec<(u32, String)>;
/// A key and its values, as the tree is built from them.
type Entry<'a> = (&'a [u8], &'a Values);

/// One node of the tree being written.
struct Node {
    prefix: Vec<u8>,
    values: Vec<(u32, String)>,
    children: BTreeMap<u8, Node>,
}

impl IndexWriter {
    pub fn new() -> IndexWriter {
        IndexWriter::default()
    }

    /// Adds `value` (with `priority`: lower comes first) under `key`.
    pub fn insert(&mut self, key: &str, value: &str, priority: u32) -> Result<(), IndexError> {
        if key.is_empty() || !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(IndexError::BadKey(key.to_owned()));
        }
        if value.contains('\0') {
            return Err(IndexError::BadValue(value.to_owned()));
        }
        let values = self.entries.entry(key.as_bytes().to_vec()).or_default();
        if !values.iter().any(|(_, v)| v == value) {
            values.push((priority, value.to_owned()));
            values.sort();
        }
        Ok(())
    }

    /// The index file's bytes.
    pub fn write(&self) -> Result<Vec<u8>, IndexError> {
        let keys: Vec<Entry<'_>> = self
            .entries
            .iter()
            .map(|(k, v)| (k.as_slice(), v))
            .collect();
        let root = build(&keys, 0);
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        let root_offset = write_node(&root, &mut out)?;
        out[8..12].copy_from_slice(&root_offset.to_be_bytes());
        Ok(out)
    }
}

/// The subtree of `keys` (sorted, all sharing their first `depth` bytes).
fn build(keys: &[Entry<'_>], depth: usize) -> Node {
    // The longest run of bytes every key has after `depth`.
    let mut common = keys
        .first()
        .map_or(0, |(k, _)| k.len().saturating_sub(depth));
    for (k, _) in keys {
        let rest = k.get(depth..).unwrap_or_default();
        let first = keys
            .first()
            .and_then(|(f, _)| f.get(depth..))
            .unwrap_or_default();
        common = common.min(rest.iter().zip(first).take_while(|(a, b)| a == b).count());
    }
    let end = depth + common;
    let prefix = keys
        .first()
        .and_then(|(k, _)| k.get(depth..end))
        .unwrap_or_default()
        .to_vec();
    let mut values = Vec::new();
    let mut groups: BTreeMap<u8, Vec<Entry<'_>>> = BTreeMap::new();
    for &(k, v) in keys {
        match k.get(end) {
            None => values.extend(v.iter().cloned()),
            Some(&c) => groups.entry(c).or_default().push((k, v)),
        }
    }
    let children = groups
        .into_iter()
        .map(|(c, ks)| (c, build(&ks, end + 1)))
        .collect();
    Node {
        prefix,
        values,
        children,
    }
}

/// Writes `node` after its children; returns its offset with its flags.
fn write_node(node: &Node, out: &mut Vec<u8>) -> Result<u32, IndexError> {
    let mut child_offsets = BTreeMap::new();
    for (&c, child) in &node.children {
        child_offsets.insert(c, write_node(child, out)?);
    }
    let offset = u32::try_from(out.len()).map_err(|_| IndexError::TooLarge)?;
    if offset > OFFSET_MASK {
        return Err(IndexError::TooLarge);
    }
    let mut flags = 0;
    if !node.prefix.is_empty() {
        flags |= FLAG_PREFIX;
        out.extend_from_slice(&node.prefix);
        out.push(0);
    }
    if let (Some((&first, _)), Some((&last, _))) = (
        child_offsets.first_key_value(),
        child_offsets.last_key_value(),
    ) {
        flags |= FLAG_CHILDREN;
        out.push(first);
        out.push(last);
        for c in first..=last {
            let o = child_offsets.get(&c).copied().unwrap_or(0);
            out.extend_from_slice(&o.to_be_bytes());
        }
    }
    if !node.values.is_empty() {
        flags |= FLAG_VALUES;
        let n = u32::try_from(node.values.len()).map_err(|_| IndexError::TooLarge)?;
        out.extend_from_slice(&n.to_be_bytes());
        for (priority, value) in &node.values {
            out.extend_from_slice(&priority.to_be_bytes());
            out.extend_from_slice(value.as_bytes());
            out.push(0);
        }
    }
    Ok(offset | flags)
}

/// The values of `key` in the index `data`, lowest priority first, as kmod's exact search
/// walks the tree; `None` when the key is absent or the file is not an index.
pub fn lookup(data: &[u8], key: &str) -> Option<Vec<String>> {
    let u32_at = |at: usize| -> Option<u32> {
        let b = data.get(at..at.checked_add(4)?)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let cstr_at = |at: usize| -> Option<(&[u8], usize)> {
        let rest = data.get(at..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        Some((&rest[..len], at + len + 1))
    };
    if u32_at(0)? != MAGIC || u32_at(4)? >> 16 != VERSION >> 16 {
        return None;
    }
    let key = key.as_bytes();
    let mut node = u32_at(8)?;
    let mut i = 0;
    // Each step consumes at least one key byte, so this ends.
    for _ in 0..=key.len() {
        let mut at = usize::try_from(node & OFFSET_MASK).ok()?;
        if at == 0 {
            return None;
        }
        if node & FLAG_PREFIX != 0 {
            let (prefix, next) = cstr_at(at)?;
            if key.get(i..i + prefix.len())? != prefix {
                return None;
            }
            i += prefix.len();
            at = next;
        }
        let mut child = None;
        if node & FLAG_CHILDREN != 0 {
            let (first, last) = (*data.get(at)?, *data.get(at + 1)?);
            if let Some(&c) = key.get(i) {
                if (first..=last).contains(&c) {
                    child = u32_at(at + 2 + 4 * usize::from(c - first));
                }
            }
            at += 2 + 4 * (usize::from(last.checked_sub(first)?) + 1);
        }
        if i == key.len() {
            if node & FLAG_VALUES == 0 {
                return None;
            }
            let n = u32_at(at)?;
            at += 4;
            let mut values = Vec::new();
            for _ in 0..n {
                let priority = u32_at(at)?;
                let (v, next) = cstr_at(at + 4)?;
                values.push((priority, String::from_utf8_lossy(v).into_owned()));
                at = next;
            }
            values.sort_by_key(|(p, _)| *p);
            return Some(values.into_iter().map(|(_, v)| v).collect());
        }
        node = child?;
        i += 1;
    }
    None
}

/// A module alias as kmod matches it: `-` becomes `_` outside bracket expressions; `None`
/// when a `[` is never closed (kmod skips such aliases too).
pub fn normalize_alias(alias: &str) -> Option<String> {
    let mut out = String::with_capacity(alias.len());
    let mut chars = alias.chars();
    while let Some(c) = chars.next() {
        match c {
            '[' => {
                out.push(c);
                loop {
                    let d = chars.next()?;
                    out.push(d);
                    if d == ']' {
                        break;
                    }
                }
            }
            '-' => out.push('_'),
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn every_key_reads_back_and_others_do_not() {
        let mut w = IndexWriter::new();
        let keys = [
            "ask",
            "ate",
            "on",
            "once",
            "one",
            "o",
            "ext4",
            "ext2",
            "e",
            "virtio_blk",
        ];
        for (n, k) in keys.iter().enumerate() {
            w.insert(k, &format!("value of {k}"), n as u32).unwrap();
        }
        w.insert("on", "second", 0).unwrap();
        let data = w.write().unwrap();
        assert_eq!(&data[..8], &[0xB0, 0x07, 0xF4, 0x57, 0, 2, 0, 1]);
        for k in keys {
            let v = lookup(&data, k).unwrap();
            assert!(v.contains(&format!("value of {k}")), "{k}: {v:?}");
        }
        assert_eq!(lookup(&data, "on").unwrap(), ["second", "value of on"]);
        for k in ["", "a", "as", "asks", "onc", "ext", "ext3", "virtio", "z"] {
            assert_eq!(lookup(&data, k), None, "{k}");
        }
        // Deterministic, whatever the insertion order.
        let mut w2 = IndexWriter::new();
        for (n, k) in keys.iter().enumerate().rev() {
            w2.insert(k, &format!("value of {k}"), n as u32).unwrap();
        }
        w2.insert("on", "second", 0).unwrap();
        assert_eq!(w2.write().unwrap(), data);
    }

    #[test]
    fn the_single_key_tree_and_bad_keys() {
        let mut w = IndexWriter::new();
        w.insert("loop", "kernel/drivers/block/loop.ko.xz:", 0)
            .unwrap();
        let data = w.write().unwrap();
        assert_eq!(
            lookup(&data, "loop").unwrap(),
            ["kernel/drivers/block/loop.ko.xz:"]
        );
        // The root carries the whole key as its prefix and the value.
        let root = u32::from_be_bytes(data[8..12].try_into().unwrap());
        assert_eq!(root & 0xF000_0000, FLAG_PREFIX | FLAG_VALUES);
        assert!(w.insert("", "x", 0).is_err());
        assert!(w.insert("caf\u{e9}", "x", 0).is_err());
        assert!(w.insert("a\nb", "x", 0).is_err());
        assert!(w.insert("a", "x\0", 0).is_err());
        assert_eq!(IndexWriter::new().write().unwrap().len(), 12);
        assert_eq!(lookup(b"not an index", "a"), None);
    }

    #[test]
    fn aliases_normalise_outside_brackets() {
        assert_eq!(
            normalize_alias("pci:v00001AF4d*sv*sd*bc*sc*i*").unwrap(),
            "pci:v00001AF4d*sv*sd*bc*sc*i*"
        );
        assert_eq!(normalize_alias("fs-ext4").unwrap(), "fs_ext4");
        assert_eq!(normalize_alias("a-[x-z]-b").unwrap(), "a_[x-z]_b");
        assert_eq!(normalize_alias("a[x-z"), None);
    }
}
