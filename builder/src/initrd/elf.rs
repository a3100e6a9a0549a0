//! Just enough of ELF to find one section's bytes in a kernel module (32 or 64 bits, either
//! byte order), every offset bounds-checked.
//!
//! Must not: interpret a section's contents (that is [`super::modules`]).

/// Why an ELF file's section could not be found. Messages read well after "failed to read
/// the section: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("not an ELF file")]
    NotElf,
    #[error("unknown ELF class {0}")]
    Class(u8),
    #[error("unknown ELF data encoding {0}")]
    Encoding(u8),
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("section header size {0} is too small")]
    HeaderSize(u64),
    #[error("section header {0} lies outside the file")]
    HeaderOutside(u64),
    #[error("section {0} lies outside the file")]
    SectionOutside(u64),
    #[error("an offset does not fit in memory: {0}")]
    Offset(#[from] std::num::TryFromIntError),
    #[error("section name table index {index} is not below {count}")]
    NameTable { index: u64, count: u64 },
    #[error("no {0} section")]
    Missing(String),
}

/// The contents of the section called `want` of an ELF file (32 or 64 bits, either byte
/// order), every offset bounds-checked.
pub fn elf_section<'a>(data: &'a [u8], want: &str) -> Result<&'a [u8], ElfError> {
    if data.len() < 52 || &data[..4] != b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    let is64 = match data[4] {
        1 => false,
        2 => true,
        c => return Err(ElfError::Class(c)),
    };
    let le = match data[5] {
        1 => true,
        2 => false,
        d => return Err(ElfError::Encoding(d)),
    };
    let get = |off: usize, len: usize| -> Result<u64, ElfError> {
        let b = off
            .checked_add(len)
            .and_then(|end| data.get(off..end))
            .ok_or(ElfError::Truncated(off))?;
        let mut v = 0u64;
        for i in 0..len {
            let byte = if le { b[len - 1 - i] } else { b[i] };
            v = v << 8 | u64::from(byte);
        }
        Ok(v)
    };
    let (shoff, shentsize, shnum, shstrndx) = if is64 {
        (get(0x28, 8)?, get(0x3A, 2)?, get(0x3C, 2)?, get(0x3E, 2)?)
    } else {
        (get(0x20, 4)?, get(0x2E, 2)?, get(0x30, 2)?, get(0x32, 2)?)
    };
    let min_ent = if is64 { 0x40 } else { 0x28 };
    if shentsize < min_ent {
        return Err(ElfError::HeaderSize(shentsize));
    }
    let section = |i: u64| -> Result<(u64, &'a [u8]), ElfError> {
        let base = i
            .checked_mul(shentsize)
            .and_then(|o| o.checked_add(shoff))
            .and_then(|o| usize::try_from(o).ok())
            .ok_or(ElfError::HeaderOutside(i))?;
        let (name, off, size) = if is64 {
            (get(base, 4)?, get(base + 0x18, 8)?, get(base + 0x20, 8)?)
        } else {
            (get(base, 4)?, get(base + 0x10, 4)?, get(base + 0x14, 4)?)
        };
        let start = usize::try_from(off)?;
        let end = usize::try_from(off.saturating_add(size))?;
        let body = data.get(start..end).ok_or(ElfError::SectionOutside(i))?;
        Ok((name, body))
    };
    if shstrndx >= shnum {
        return Err(ElfError::NameTable {
            index: shstrndx,
            count: shnum,
        });
    }
    let (_, strtab) = section(shstrndx)?;
    for i in 0..shnum {
        let (name_off, body) = section(i)?;
        let name = strtab
            .get(usize::try_from(name_off)?..)
            .and_then(|s| s.split(|&b| b == 0).next());
        if name == Some(want.as_bytes()) {
            return Ok(body);
        }
    }
    Err(ElfError::Missing(want.to_owned()))
}
