//! The console's keyboard layout (`console.keyMap`): the binary keymap the builder compiled
//! with Debian's `loadkeys -b`, parsed here ([`Keymap::parse`]) and handed to the kernel one
//! entry at a time (`ioctl(KDSKBENT)` on [`CONSOLE`], through [`Sys::set_key_entries`]) by
//! stage 2 at boot ([`load`]).
//!
//! The format, as kbd's `loadkeys -b` writes it (checked against its output for Debian's
//! `de-latin1` and `us`): the 7 bytes `bkeymap`, then one byte per keymap table of the
//! kernel ([`MAX_NR_KEYMAPS`], 256: one table per combination of modifiers), 1 when the map
//! defines the table and 0 when not, then, for each defined table in order, its
//! [`NR_KEYS`] (128) entries as 16-bit values in the machine's byte order (little-endian on
//! x86). Nothing follows. Function-key strings and compose tables are not part of it.
//!
//! Loading sets every entry of every defined table and removes each other table but the
//! plain one (table 0, which the kernel never removes) with the kernel's `K_NOSUCHMAP` at
//! index 0, so the console's layout is exactly the map's, whatever was loaded before.
//!
//! Must not: run a program (the init is static and the keymap tools are dynamic), or fail
//! the boot: a keymap that cannot be read or loaded is reported on the console.

use crate::sys::Sys;

/// The magic the binary format starts with.
pub const MAGIC: &[u8; 7] = b"bkeymap";
/// The number of keymap tables the kernel has (`MAX_NR_KEYMAPS`).
pub const MAX_NR_KEYMAPS: usize = 256;
/// The number of entries in a table (`NR_KEYS`).
pub const NR_KEYS: usize = 128;
/// The value that, at index 0 of a table other than 0, removes the table (`K_NOSUCHMAP`:
/// `K(KT_SPEC, 127)`).
pub const K_NOSUCHMAP: u16 = 0x027f;
/// The console whose keyboard the keymap is set on: the foreground virtual console. The
/// keymap is the kernel's, shared by every virtual console.
pub const CONSOLE: &str = "/dev/tty0";

/// One `KDSKBENT`: table, index within the table, value.
pub type KeyEntry = (u8, u8, u16);

/// Why a binary keymap cannot be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    #[error("not a binary keymap: it does not start with `bkeymap'")]
    NoMagic,
    #[error("table flag at byte {offset} is {value}, not 0 or 1")]
    BadFlag { offset: usize, value: u8 },
    #[error("the keymap is {found} bytes long, but its {tables} tables make it {expected} bytes")]
    Length {
        found: usize,
        expected: usize,
        tables: usize,
    },
}

/// A parsed binary keymap: the defined tables, in table order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    tables: Vec<(u8, [u16; NR_KEYS])>,
}

impl Keymap {
    /// Parses the binary format (see the module documentation), strictly: the magic, flags
    /// of 0 or 1, and exactly the entries the flags announce.
    pub fn parse(data: &[u8]) -> Result<Keymap, KeymapError> {
        let rest = data.strip_prefix(MAGIC).ok_or(KeymapError::NoMagic)?;
        let Some((flags, mut entries)) = rest.split_at_checked(MAX_NR_KEYMAPS) else {
            return Err(KeymapError::Length {
                found: data.len(),
                expected: MAGIC.len() + MAX_NR_KEYMAPS,
                tables: 0,
            });
        };
        let mut defined = Vec::new();
        for (table, &flag) in flags.iter().enumerate() {
            match flag {
                0 => {}
                // `table` < MAX_NR_KEYMAPS = 256.
                1 => defined.push(table as u8),
                value => {
                    return Err(KeymapError::BadFlag {
                        offset: MAGIC.len() + table,
                        value,
                    })
                }
            }
        }
        let expected = MAGIC.len() + MAX_NR_KEYMAPS + defined.len() * NR_KEYS * 2;
        if data.len() != expected {
            return Err(KeymapError::Length {
                found: data.len(),
                expected,
                tables: defined.len(),
            });
        }
        let mut tables = Vec::with_capacity(defined.len());
        for table in defined {
            let mut keys = [0u16; NR_KEYS];
            for key in &mut keys {
                let Some(([lo, hi], more)) = entries.split_first_chunk::<2>() else {
                    // Unreachable: the length was checked above.
                    return Err(KeymapError::Length {
                        found: data.len(),
                        expected,
                        tables: tables.len(),
                    });
                };
                *key = u16::from_le_bytes([*lo, *hi]);
                entries = more;
            }
            tables.push((table, keys));
        }
        Ok(Keymap { tables })
    }

    /// The defined tables' numbers.
    pub fn tables(&self) -> Vec<u8> {
        self.tables.iter().map(|(t, _)| *t).collect()
    }

    /// The value of `index` in `table`, if the table is defined.
    pub fn get(&self, table: u8, index: u8) -> Option<u16> {
        self.tables
            .iter()
            .find(|(t, _)| *t == table)
            .and_then(|(_, keys)| keys.get(usize::from(index)).copied())
    }

    /// The `KDSKBENT` calls that make the kernel's keymap this one: every entry of each
    /// defined table, then the removal of each other table but table 0, in table order.
    pub fn entries(&self) -> Vec<KeyEntry> {
        let mut out = Vec::with_capacity(self.tables.len() * NR_KEYS + MAX_NR_KEYMAPS);
        let mut next = self.tables.iter().peekable();
        for table in 0..=u8::MAX {
            match next.next_if(|(t, _)| *t == table) {
                Some((_, keys)) => {
                    for (index, value) in (0..=u8::MAX).zip(keys.iter()) {
                        out.push((table, index, *value));
                    }
                }
                None if table != 0 => out.push((table, 0, K_NOSUCHMAP)),
                None => {}
            }
        }
        out
    }
}

/// Loads the binary keymap at `path` into the kernel through [`CONSOLE`]. Problems are
/// reported on the console, never fatal; returns whether the whole keymap was loaded.
pub fn load(sys: &mut dyn Sys, path: &str) -> bool {
    let data = match sys.read_file(path) {
        Ok(d) => d,
        Err(e) => {
            sys.console(&format!("strata: console keymap {path} not loaded: {e}"));
            return false;
        }
    };
    let map = match Keymap::parse(&data) {
        Ok(m) => m,
        Err(e) => {
            sys.console(&format!("strata: console keymap {path} not loaded: {e}"));
            return false;
        }
    };
    match sys.set_key_entries(CONSOLE, &map.entries()) {
        Ok(0) => true,
        Ok(refused) => {
            sys.console(&format!(
                "strata: console keymap {path}: the kernel refused {refused} of its entries"
            ));
            false
        }
        Err(e) => {
            sys.console(&format!(
                "strata: console keymap {path} not loaded: {CONSOLE}: {e}"
            ));
            false
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::testing::Recorder;

    /// A binary keymap with `tables` defined, entry `i` of table `t` being `t * 256 + i`.
    fn bkeymap(tables: &[u8]) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        let mut flags = [0u8; MAX_NR_KEYMAPS];
        for &t in tables {
            flags[usize::from(t)] = 1;
        }
        v.extend_from_slice(&flags);
        for (t, &flag) in flags.iter().enumerate() {
            if flag == 1 {
                for i in 0..NR_KEYS {
                    v.extend_from_slice(&((t * 256 + i) as u16).to_le_bytes());
                }
            }
        }
        v
    }

    /// The head of what `loadkeys -b de-latin1` (kbd 2.5.1, Debian's console-data 1.12)
    /// writes: the magic and the flags of tables 0 to 8 (it defines tables 0-2, 4-6, 8-10
    /// and 12; entry 21 of table 0, the key labelled Y on a US keyboard, is 0x0b7a: `z' as
    /// KT_LETTER, stored as the bytes 7a 0b).
    const DE_LATIN1_HEAD: [u8; 16] = [
        b'b', b'k', b'e', b'y', b'm', b'a', b'p', 1, 1, 1, 0, 1, 1, 1, 0, 1,
    ];

    #[test]
    fn the_format_loadkeys_writes_is_parsed() {
        let data = bkeymap(&[0, 1, 2, 4, 5, 6, 8, 9, 10, 12]);
        assert_eq!(&data[..16], &DE_LATIN1_HEAD);
        // 7 + 256 + 10 tables of 128 two-byte entries: the size loadkeys -b de-latin1 gives.
        assert_eq!(data.len(), 2823);
        let map = Keymap::parse(&data).unwrap();
        assert_eq!(map.tables(), [0, 1, 2, 4, 5, 6, 8, 9, 10, 12]);
        assert_eq!(map.get(0, 0), Some(0));
        assert_eq!(map.get(2, 127), Some(2 * 256 + 127));
        assert_eq!(map.get(12, 1), Some(12 * 256 + 1));
        assert_eq!(map.get(3, 1), None);
        // Little-endian: the low byte first.
        let mut one = bkeymap(&[0]);
        one[7 + 256 + 42..7 + 256 + 44].copy_from_slice(&[0x7a, 0x0b]);
        assert_eq!(Keymap::parse(&one).unwrap().get(0, 21), Some(0x0b7a));
    }

    #[test]
    fn malformed_keymaps_are_refused_with_the_reason() {
        assert_eq!(Keymap::parse(b""), Err(KeymapError::NoMagic));
        assert_eq!(Keymap::parse(b"bkeymaq"), Err(KeymapError::NoMagic));
        assert_eq!(
            Keymap::parse(b"bkeymap\x01\x00"),
            Err(KeymapError::Length {
                found: 9,
                expected: 263,
                tables: 0
            })
        );
        let mut bad = bkeymap(&[0, 1]);
        bad[7 + 3] = 2;
        assert_eq!(
            Keymap::parse(&bad),
            Err(KeymapError::BadFlag {
                offset: 10,
                value: 2
            })
        );
        let short = bkeymap(&[0, 1]);
        let e = Keymap::parse(&short[..short.len() - 1]).unwrap_err();
        assert_eq!(
            e,
            KeymapError::Length {
                found: 7 + 256 + 512 - 1,
                expected: 7 + 256 + 512,
                tables: 2
            }
        );
        assert!(e.to_string().contains("2 tables"), "{e}");
        let mut long = bkeymap(&[0]);
        long.push(0);
        assert!(matches!(
            Keymap::parse(&long),
            Err(KeymapError::Length { tables: 1, .. })
        ));
        // Only the flags, no table: a valid (empty) map.
        assert!(Keymap::parse(&bkeymap(&[])).unwrap().tables().is_empty());
    }

    #[test]
    fn loading_sets_every_entry_and_removes_the_other_tables() {
        let mut sys = Recorder::new();
        sys.file("/nix/store/x-console-keymap", &bkeymap(&[0, 2]));
        assert!(load(&mut sys, "/nix/store/x-console-keymap"));
        assert_eq!(sys.calls, ["set-keys /dev/tty0 510"]);
        let keys = &sys.key_entries;
        // Tables 0 and 2 in full, then every other table but 0 removed.
        assert_eq!(keys.len(), 2 * NR_KEYS + 254);
        assert_eq!(keys[0], (0, 0, 0));
        assert_eq!(keys[127], (0, 127, 127));
        assert_eq!(keys[128], (1, 0, K_NOSUCHMAP));
        assert_eq!(keys[129], (2, 0, 512));
        assert_eq!(keys[129 + 127], (2, 127, 512 + 127));
        assert_eq!(keys[257], (3, 0, K_NOSUCHMAP));
        assert_eq!(*keys.last().unwrap(), (255, 0, K_NOSUCHMAP));
        assert!(!keys.iter().any(|&(t, _, v)| t == 0 && v == K_NOSUCHMAP));
        assert!(sys.console.is_empty(), "{:?}", sys.console);
    }

    #[test]
    fn problems_are_reported_not_fatal() {
        let mut sys = Recorder::new();
        assert!(!load(&mut sys, "/nix/store/missing"));
        assert!(
            sys.console[0].starts_with("strata: console keymap /nix/store/missing not loaded"),
            "{:?}",
            sys.console
        );
        sys.file("/nix/store/text", b"keymaps 0-2\n");
        assert!(!load(&mut sys, "/nix/store/text"));
        assert!(sys.console[1].ends_with("does not start with `bkeymap'"));
        assert!(sys.calls.is_empty(), "{:?}", sys.calls);
        // Entries the kernel refuses are counted.
        sys.file("/nix/store/map", &bkeymap(&[0]));
        sys.refused_keys = 3;
        assert!(!load(&mut sys, "/nix/store/map"));
        assert!(sys.console[2].ends_with("the kernel refused 3 of its entries"));
        // No console to set it on.
        sys.refused_keys = 0;
        sys.key_error = Some(libc::ENXIO);
        assert!(!load(&mut sys, "/nix/store/map"));
        assert!(sys.console[3].contains("/dev/tty0: "), "{:?}", sys.console);
    }

    #[test]
    fn the_real_ioctl_is_refused_by_what_is_not_a_console() {
        use crate::sys::RealSys;
        let mut sys = RealSys::new();
        // /dev/null opens, but is no terminal: every KDSKBENT is refused (ENOTTY) and counted.
        assert_eq!(
            sys.set_key_entries("/dev/null", &[(0, 1, 0x1b), (1, 0, K_NOSUCHMAP)])
                .unwrap(),
            2
        );
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("tty0");
        let e = sys
            .set_key_entries(missing.to_str().unwrap(), &[(0, 1, 0x1b)])
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }
}
