//! The dynamic-linking facts of an ELF file: its class and machine, `PT_INTERP`, and the
//! `DT_NEEDED`, `DT_SONAME`, `DT_RPATH` and `DT_RUNPATH` entries of its dynamic section. Only
//! the headers, the program headers, the dynamic segment and the dynamic string table are
//! read (by offset, so a 100 MiB library costs a few reads); every offset and size is
//! bounds-checked against the file and a cap.
//!
//! Must not: load or relocate anything, or read section headers (stripped files have none
//! that matter; the loader uses the program headers too). [`crate::initrd::elf`] is the
//! kernel modules' section reader and stays separate.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;
/// `e_machine` of x86-64.
pub const EM_X86_64: u16 = 62;
/// `e_type` of an executable and of a shared object (or position-independent executable).
pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;

/// The most program headers read.
const MAX_PHNUM: u64 = 4096;
/// The largest dynamic segment and dynamic string table read.
const MAX_DYNAMIC: u64 = 1 << 20;
const MAX_STRTAB: u64 = 64 << 20;
const MAX_INTERP: u64 = 4096;

/// Why an ELF file's dynamic facts could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("not an ELF file")]
    NotElf,
    #[error("unknown ELF class {0}")]
    Class(u8),
    #[error("unknown ELF data encoding {0}")]
    Encoding(u8),
    #[error("{what} at byte {offset} ({len} bytes) lies outside the file or above strata's limit")]
    Outside {
        what: &'static str,
        offset: u64,
        len: u64,
    },
    #[error("the dynamic section's string table address {0:#x} is in no loaded segment")]
    StrtabAddress(u64),
    #[error("a dynamic string offset {0} lies outside the string table")]
    StringOffset(u64),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// What the dynamic linker needs to know about a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicInfo {
    pub is64: bool,
    pub little_endian: bool,
    pub machine: u16,
    pub elf_type: u16,
    /// `PT_INTERP`, without its NUL.
    pub interp: Option<Vec<u8>>,
    pub needed: Vec<Vec<u8>>,
    pub soname: Option<Vec<u8>>,
    pub rpath: Option<Vec<u8>>,
    pub runpath: Option<Vec<u8>>,
    /// Whether the file has a dynamic segment at all.
    pub dynamic: bool,
}

impl DynamicInfo {
    /// Whether this is an x86-64 (64-bit little-endian) file.
    pub fn is_x86_64(&self) -> bool {
        self.is64 && self.little_endian && self.machine == EM_X86_64
    }
}

/// Whether `head` (the first bytes of a file) starts like an ELF file.
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}

struct Reader<'a> {
    file: &'a File,
    len: u64,
    is64: bool,
    le: bool,
}

impl Reader<'_> {
    fn bytes(
        &self,
        what: &'static str,
        offset: u64,
        len: u64,
        cap: u64,
    ) -> Result<Vec<u8>, ElfError> {
        let outside = ElfError::Outside { what, offset, len };
        if len > cap || offset.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(outside);
        }
        let size = usize::try_from(len).map_err(|_| outside)?;
        let mut buf = vec![0u8; size];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    fn word(&self, b: &[u8], at: usize, len: usize) -> u64 {
        let Some(bytes) = at.checked_add(len).and_then(|end| b.get(at..end)) else {
            return 0;
        };
        let mut v = 0u64;
        for i in 0..len {
            let byte = if self.le {
                bytes[len - 1 - i]
            } else {
                bytes[i]
            };
            v = v << 8 | u64::from(byte);
        }
        v
    }

    /// A native-size word (`Elf32_Addr`/`Elf64_Addr`).
    fn addr(&self, b: &[u8], at: usize) -> u64 {
        self.word(b, at, if self.is64 { 8 } else { 4 })
    }
}

struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// Reads the dynamic facts of the ELF file `file`.
pub fn read_dynamic(file: &File) -> Result<DynamicInfo, ElfError> {
    let len = file.metadata()?.len();
    let mut ident = [0u8; 64];
    let got = file.read_at(&mut ident, 0)?;
    if got < 52 || !is_elf(&ident) {
        return Err(ElfError::NotElf);
    }
    let is64 = match ident[4] {
        1 => false,
        2 => true,
        c => return Err(ElfError::Class(c)),
    };
    let le = match ident[5] {
        1 => true,
        2 => false,
        d => return Err(ElfError::Encoding(d)),
    };
    if is64 && got < 64 {
        return Err(ElfError::NotElf);
    }
    let r = Reader {
        file,
        len,
        is64,
        le,
    };
    let elf_type = r.word(&ident, 16, 2) as u16;
    let machine = r.word(&ident, 18, 2) as u16;
    let (phoff, phentsize, phnum) = if is64 {
        (
            r.word(&ident, 0x20, 8),
            r.word(&ident, 0x36, 2),
            r.word(&ident, 0x38, 2),
        )
    } else {
        (
            r.word(&ident, 0x1C, 4),
            r.word(&ident, 0x2A, 2),
            r.word(&ident, 0x2C, 2),
        )
    };
    let mut info = DynamicInfo {
        is64,
        little_endian: le,
        machine,
        elf_type,
        ..DynamicInfo::default()
    };
    let min_ent = if is64 { 56 } else { 32 };
    if phnum == 0 || phentsize < min_ent || phnum > MAX_PHNUM {
        return Ok(info);
    }
    let table = r.bytes(
        "the program headers",
        phoff,
        phentsize * phnum,
        MAX_PHNUM * 64,
    )?;
    let mut segments = Vec::new();
    for i in 0..phnum {
        let base = usize::try_from(i * phentsize).map_err(|_| ElfError::NotElf)?;
        let seg = if is64 {
            Segment {
                kind: r.word(&table, base, 4) as u32,
                offset: r.word(&table, base + 8, 8),
                vaddr: r.word(&table, base + 16, 8),
                filesz: r.word(&table, base + 32, 8),
            }
        } else {
            Segment {
                kind: r.word(&table, base, 4) as u32,
                offset: r.word(&table, base + 4, 4),
                vaddr: r.word(&table, base + 8, 4),
                filesz: r.word(&table, base + 16, 4),
            }
        };
        segments.push(seg);
    }
    if let Some(interp) = segments.iter().find(|s| s.kind == PT_INTERP) {
        let mut bytes = r.bytes("PT_INTERP", interp.offset, interp.filesz, MAX_INTERP)?;
        if let Some(nul) = bytes.iter().position(|&b| b == 0) {
            bytes.truncate(nul);
        }
        info.interp = Some(bytes);
    }
    let Some(dynamic) = segments.iter().find(|s| s.kind == PT_DYNAMIC) else {
        return Ok(info);
    };
    info.dynamic = true;
    let dyn_bytes = r.bytes(
        "the dynamic segment",
        dynamic.offset,
        dynamic.filesz,
        MAX_DYNAMIC,
    )?;
    let entsize = if is64 { 16 } else { 8 };
    let half = entsize / 2;
    let mut entries = Vec::new();
    let (mut strtab, mut strsz) = (None, None);
    for chunk in 0..dyn_bytes.len() / entsize {
        let base = chunk * entsize;
        let tag = r.addr(&dyn_bytes, base);
        let val = r.addr(&dyn_bytes, base + half);
        match tag {
            DT_NULL => break,
            DT_STRTAB => strtab = Some(val),
            DT_STRSZ => strsz = Some(val),
            DT_NEEDED | DT_SONAME | DT_RPATH | DT_RUNPATH => entries.push((tag, val)),
            _ => {}
        }
    }
    if entries.is_empty() {
        return Ok(info);
    }
    let (Some(strtab), Some(strsz)) = (strtab, strsz) else {
        return Ok(info);
    };
    // The string table is named by its address: find the loaded segment holding it.
    let offset = segments
        .iter()
        .filter(|s| s.kind == PT_LOAD)
        .find(|s| strtab >= s.vaddr && strtab - s.vaddr < s.filesz)
        .map(|s| strtab - s.vaddr + s.offset)
        .ok_or(ElfError::StrtabAddress(strtab))?;
    let strings = r.bytes("the dynamic string table", offset, strsz, MAX_STRTAB)?;
    let string = |off: u64| -> Result<Vec<u8>, ElfError> {
        let start = usize::try_from(off).map_err(|_| ElfError::StringOffset(off))?;
        let rest = strings.get(start..).ok_or(ElfError::StringOffset(off))?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(ElfError::StringOffset(off))?;
        Ok(rest[..end].to_vec())
    };
    for (tag, val) in entries {
        let s = string(val)?;
        match tag {
            DT_NEEDED => info.needed.push(s),
            DT_SONAME => info.soname = Some(s),
            DT_RPATH => info.rpath = Some(s),
            _ => info.runpath = Some(s),
        }
    }
    Ok(info)
}

/// A minimal x86-64 ELF file for tests: one `PT_LOAD` mapping the file at address 0, an
/// optional `PT_INTERP`, and a dynamic section with the given entries.
#[cfg(test)]
pub(crate) fn tiny_elf(
    elf_type: u16,
    interp: Option<&str>,
    soname: Option<&str>,
    needed: &[&str],
    runpath: Option<&str>,
) -> Vec<u8> {
    let phnum: u64 = if interp.is_some() { 3 } else { 2 };
    let ph_end = 64 + 56 * phnum;
    let mut strtab = vec![0u8];
    let mut add = |s: &str| {
        let off = strtab.len() as u64;
        strtab.extend_from_slice(s.as_bytes());
        strtab.push(0);
        off
    };
    let mut dynamic: Vec<(u64, u64)> = needed.iter().map(|n| (DT_NEEDED, add(n))).collect();
    if let Some(s) = soname {
        dynamic.push((DT_SONAME, add(s)));
    }
    if let Some(r) = runpath {
        dynamic.push((DT_RUNPATH, add(r)));
    }
    let interp_bytes = interp
        .map(|i| format!("{i}\0").into_bytes())
        .unwrap_or_default();
    let interp_off = ph_end;
    let strtab_off = interp_off + interp_bytes.len() as u64;
    let dyn_off = strtab_off + strtab.len() as u64;
    dynamic.push((DT_STRTAB, strtab_off));
    dynamic.push((DT_STRSZ, strtab.len() as u64));
    dynamic.push((DT_NULL, 0));
    let total = dyn_off + 16 * dynamic.len() as u64;

    let mut out = vec![0u8; 64];
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = 2;
    out[5] = 1;
    out[6] = 1;
    out[16..18].copy_from_slice(&elf_type.to_le_bytes());
    out[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
    out[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
    out[0x34..0x36].copy_from_slice(&64u16.to_le_bytes());
    out[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
    out[0x38..0x3A].copy_from_slice(&(phnum as u16).to_le_bytes());
    let mut ph = |kind: u32, offset: u64, size: u64| {
        let mut e = vec![0u8; 56];
        e[..4].copy_from_slice(&kind.to_le_bytes());
        e[8..16].copy_from_slice(&offset.to_le_bytes());
        e[16..24].copy_from_slice(&offset.to_le_bytes());
        e[32..40].copy_from_slice(&size.to_le_bytes());
        e[40..48].copy_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&e);
    };
    ph(PT_LOAD, 0, total);
    if interp.is_some() {
        ph(PT_INTERP, interp_off, interp_bytes.len() as u64);
    }
    ph(PT_DYNAMIC, dyn_off, 16 * dynamic.len() as u64);
    out.extend_from_slice(&interp_bytes);
    out.extend_from_slice(&strtab);
    for (tag, val) in dynamic {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&val.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::path::Path;

    #[test]
    fn reads_a_hand_made_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libx.so.1");
        std::fs::write(
            &path,
            tiny_elf(
                ET_DYN,
                Some("/lib64/ld-linux-x86-64.so.2"),
                Some("libx.so.1"),
                &["libc.so.6", "$ORIGIN/private/liby.so"],
                Some("$ORIGIN/private"),
            ),
        )
        .unwrap();
        let info = read_dynamic(&File::open(&path).unwrap()).unwrap();
        assert!(info.is_x86_64() && info.dynamic);
        assert_eq!(info.elf_type, ET_DYN);
        assert_eq!(
            info.interp.as_deref(),
            Some(&b"/lib64/ld-linux-x86-64.so.2"[..])
        );
        assert_eq!(info.soname.as_deref(), Some(&b"libx.so.1"[..]));
        assert_eq!(
            info.needed,
            [b"libc.so.6".to_vec(), b"$ORIGIN/private/liby.so".to_vec()]
        );
        assert_eq!(info.runpath.as_deref(), Some(&b"$ORIGIN/private"[..]));
        assert_eq!(info.rpath, None);
    }

    fn host(path: &str) -> Option<File> {
        Path::new(path).exists().then(|| File::open(path).unwrap())
    }

    #[test]
    fn reads_the_host_c_library() {
        let Some(libc) = host("/usr/lib/x86_64-linux-gnu/libc.so.6") else {
            eprintln!("skipped: no /usr/lib/x86_64-linux-gnu/libc.so.6 on this host");
            return;
        };
        let info = read_dynamic(&libc).unwrap();
        assert!(info.is_x86_64());
        assert_eq!(info.elf_type, ET_DYN);
        assert_eq!(info.soname.as_deref(), Some(&b"libc.so.6"[..]));
        assert!(info
            .needed
            .iter()
            .any(|n| n.starts_with(b"ld-linux-x86-64.so")));
    }

    #[test]
    fn reads_a_host_program() {
        let Some(ls) = host("/usr/bin/ls") else {
            eprintln!("skipped: no /usr/bin/ls on this host");
            return;
        };
        let info = read_dynamic(&ls).unwrap();
        assert_eq!(
            info.interp.as_deref(),
            Some(&b"/lib64/ld-linux-x86-64.so.2"[..])
        );
        assert!(info.needed.contains(&b"libc.so.6".to_vec()));
        assert_eq!(info.soname, None);
    }

    #[test]
    fn refuses_what_is_not_elf_and_bounds_everything() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("script");
        std::fs::write(
            &text,
            "#!/bin/sh\necho this is not ELF at all, really not\n",
        )
        .unwrap();
        assert!(matches!(
            read_dynamic(&File::open(&text).unwrap()),
            Err(ElfError::NotElf)
        ));
        // A header whose program headers lie past the end of the file.
        let mut head = vec![0u8; 64];
        head[..4].copy_from_slice(b"\x7fELF");
        head[4] = 2;
        head[5] = 1;
        head[0x20..0x28].copy_from_slice(&1_000_000u64.to_le_bytes());
        head[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        head[0x38..0x3A].copy_from_slice(&3u16.to_le_bytes());
        let bad = dir.path().join("bad");
        std::fs::write(&bad, &head).unwrap();
        let err = read_dynamic(&File::open(&bad).unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .contains("the program headers at byte 1000000"),
            "{err}"
        );
    }
}
