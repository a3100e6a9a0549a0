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
    // A section's name offset, and its bytes (checked only when asked for: a `.bss` lies
    // outside the file by nature).
    let section = |i: u64| -> Result<(u64, Result<&'a [u8], ElfError>), ElfError> {
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
        let body = usize::try_from(off)
            .ok()
            .zip(usize::try_from(off.saturating_add(size)).ok())
            .and_then(|(start, end)| data.get(start..end))
            .ok_or(ElfError::SectionOutside(i));
        Ok((name, body))
    };
    if shstrndx >= shnum {
        return Err(ElfError::NameTable {
            index: shstrndx,
            count: shnum,
        });
    }
    let strtab = section(shstrndx)?.1?;
    for i in 0..shnum {
        let (name_off, body) = section(i)?;
        let name = strtab
            .get(usize::try_from(name_off)?..)
            .and_then(|s| s.split(|&b| b == 0).next());
        if name == Some(want.as_bytes()) {
            return body;
        }
    }
    Err(ElfError::Missing(want.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// A little-endian ELF64 file whose sections are `(name, offset, size)`, after a null one
    /// and `.shstrtab`; `.want` holds `body`.
    fn elf(sections: &[(&str, u64, u64)], body: &[u8]) -> Vec<u8> {
        let mut names = b"\0.shstrtab\0".to_vec();
        let mut offs = Vec::new();
        for (n, _, _) in sections {
            offs.push(names.len() as u32);
            names.extend_from_slice(n.as_bytes());
            names.push(0);
        }
        let mut f = vec![0u8; 64];
        f[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let names_off = f.len() as u64;
        f.extend_from_slice(&names);
        let body_off = f.len() as u64;
        f.extend_from_slice(body);
        let shoff = f.len() as u64;
        f[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        f[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
        f[0x3C..0x3E].copy_from_slice(&(sections.len() as u16 + 2).to_le_bytes());
        f[0x3E..0x40].copy_from_slice(&1u16.to_le_bytes());
        let mut headers = vec![(0, 0, 0), (1, names_off, names.len() as u64)];
        for ((n, off, size), name) in sections.iter().zip(offs) {
            let off = if *n == ".want" { body_off } else { *off };
            headers.push((name, off, *size));
        }
        for (name, off, size) in headers {
            let mut sh = [0u8; 64];
            sh[..4].copy_from_slice(&name.to_le_bytes());
            sh[0x18..0x20].copy_from_slice(&off.to_le_bytes());
            sh[0x20..0x28].copy_from_slice(&size.to_le_bytes());
            f.extend_from_slice(&sh);
        }
        f
    }

    #[test]
    fn sections_outside_the_file_matter_only_when_asked_for() {
        // A `.bss` occupies no file space: its extent lies outside the file.
        let f = elf(&[(".bss", 1 << 40, 1 << 20), (".want", 0, 5)], b"hello");
        assert_eq!(elf_section(&f, ".want").unwrap(), b"hello");
        assert_eq!(elf_section(&f, ".bss"), Err(ElfError::SectionOutside(2)));
        assert_eq!(
            elf_section(&f, ".nope"),
            Err(ElfError::Missing(".nope".into()))
        );
        assert_eq!(elf_section(b"not elf", ".want"), Err(ElfError::NotElf));
    }
}
