//! The kernel command line and the initrd's `etc/strata-initrd.conf`, read into [`BootParams`].
//!
//! The command line is split as the kernel splits it: words separated by spaces, with double
//! quotes grouping spaces into a word (`a="b c"` is the word `a=b c`). The configuration file
//! has one `key=value` per line (`#` starts a comment) and is read first, so a value given on
//! the command line wins. Keys:
//!
//! | key | meaning |
//! |---|---|
//! | `root=` | the root device: a path, `LABEL=`, `UUID=`, `PARTUUID=`, or `/dev/disk/by-{label,uuid,partuuid}/...` |
//! | `rootfstype=` | its file system type (`auto`: probed) |
//! | `rootflags=` | mount options, comma-separated |
//! | `ro`, `rw` | mount the root read-only or read-write (read-write by default) |
//! | `init=` | the program stage 1 starts on the real root: the generation's `init` |
//! | `kernel=` | the kernel version the initrd's modules are for |
//! | `module=` | a module to load, in order (repeatable; the configuration file's list) |
//! | `console=` | the consoles (repeatable; the last is `/dev/console`) |
//! | `strata.rescue`, `rescue`, `emergency`, `single` | a shell instead of going on (in stage 1 before mounting the root) |
//! | `strata.root_timeout=SECONDS` | how long to wait for the root device (30 by default) |
//! | `strata.live=IMAGE` | a live system: the root device is a medium holding `IMAGE`, a squashfs image of the root tree; the root is an overlay of that image and a writable tmpfs |
//! | `strata.<name>=<value>` | other options, kept for later stages |

use std::collections::BTreeMap;
use std::time::Duration;

/// How long stage 1 waits for the root device unless told otherwise.
pub const DEFAULT_ROOT_TIMEOUT: Duration = Duration::from_secs(30);

/// The root device, as named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootSpec {
    /// A device path such as `/dev/vda1`.
    Path(String),
    Label(String),
    Uuid(String),
    PartUuid(String),
}

impl RootSpec {
    /// Reads `root=`'s value; `/dev/disk/by-*` names (made by udev, which strata's initrd does
    /// not run) become the matching kind.
    pub fn parse(v: &str) -> Option<RootSpec> {
        if v.is_empty() {
            return None;
        }
        type Make = fn(String) -> RootSpec;
        let kinds: [(&str, &str, Make); 3] = [
            ("LABEL=", "/dev/disk/by-label/", RootSpec::Label),
            ("UUID=", "/dev/disk/by-uuid/", RootSpec::Uuid),
            ("PARTUUID=", "/dev/disk/by-partuuid/", RootSpec::PartUuid),
        ];
        for (prefix, dir, make) in kinds {
            if let Some(rest) = v.strip_prefix(prefix).or_else(|| v.strip_prefix(dir)) {
                return Some(make(unescape_udev(rest)));
            }
        }
        Some(RootSpec::Path(v.to_owned()))
    }
}

impl std::fmt::Display for RootSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RootSpec::Path(p) => f.write_str(p),
            RootSpec::Label(l) => write!(f, "LABEL={l}"),
            RootSpec::Uuid(u) => write!(f, "UUID={u}"),
            RootSpec::PartUuid(u) => write!(f, "PARTUUID={u}"),
        }
    }
}

/// udev writes `/dev/disk/by-label/` names with `\x20`-style escapes for spaces and slashes.
fn unescape_udev(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 2..i + 4], 16) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Everything the boot stages read from the command line and the initrd's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BootParams {
    pub root: Option<RootSpec>,
    pub root_fstype: Option<String>,
    pub root_flags: Vec<String>,
    /// `ro` or `rw` given: true for `ro`.
    pub read_only: Option<bool>,
    pub init: Option<String>,
    pub kernel: Option<String>,
    pub modules: Vec<String>,
    pub consoles: Vec<String>,
    pub rescue: bool,
    pub root_timeout: Duration,
    /// Other `strata.*` options, without the prefix.
    pub strata: BTreeMap<String, String>,
    /// Problems met while reading (unknown values), to print; none is fatal.
    pub warnings: Vec<String>,
}

/// Splits a kernel command line into words, honouring double quotes.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                any = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

impl BootParams {
    /// Reads the initrd's configuration (if any), then the command line.
    pub fn read(conf: Option<&str>, cmdline: &str) -> BootParams {
        let mut p = BootParams {
            root_timeout: DEFAULT_ROOT_TIMEOUT,
            ..BootParams::default()
        };
        if let Some(conf) = conf {
            for line in conf.lines() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                p.apply(line);
            }
        }
        for w in split_words(cmdline) {
            p.apply(&w);
        }
        p
    }

    fn apply(&mut self, word: &str) {
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word, None),
        };
        match (key, value) {
            ("root", Some(v)) => self.root = RootSpec::parse(v),
            ("rootfstype", Some(v)) => {
                self.root_fstype = (!v.is_empty() && v != "auto").then(|| v.to_owned())
            }
            ("rootflags", Some(v)) => {
                self.root_flags = v
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            ("ro", None) => self.read_only = Some(true),
            ("rw", None) => self.read_only = Some(false),
            ("init", Some(v)) => self.init = Some(v.to_owned()),
            ("kernel", Some(v)) => self.kernel = Some(v.to_owned()),
            ("module", Some(v)) => self.modules.push(v.to_owned()),
            ("console", Some(v)) => self.consoles.push(v.to_owned()),
            ("rescue" | "emergency" | "single" | "strata.rescue", None) => self.rescue = true,
            ("strata.rescue", Some(v)) => self.rescue = !matches!(v, "0" | "no" | "false"),
            ("strata.root_timeout", Some(v)) => match v.parse::<u64>() {
                Ok(s) if s > 0 => self.root_timeout = Duration::from_secs(s),
                _ => self.warnings.push(format!(
                    "strata.root_timeout={v} is not a positive number of seconds; waiting {} s",
                    self.root_timeout.as_secs()
                )),
            },
            (k, v) => {
                if let Some(name) = k.strip_prefix("strata.") {
                    self.strata
                        .insert(name.to_owned(), v.unwrap_or("").to_owned());
                }
            }
        }
    }

    /// The device names of the `console=` entries (`ttyS0,115200` -> `ttyS0`), in order.
    pub fn console_devices(&self) -> Vec<String> {
        self.consoles
            .iter()
            .map(|c| c.split(',').next().unwrap_or("").to_owned())
            .filter(|c| !c.is_empty())
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_the_kernel() {
        assert_eq!(
            split_words("  a b=\"c d\" \"e f\"=g  h\n"),
            ["a", "b=c d", "e f=g", "h"]
        );
        assert_eq!(split_words(""), Vec::<String>::new());
        assert_eq!(split_words("x=\"\""), ["x="]);
    }

    #[test]
    fn root_names() {
        assert_eq!(
            RootSpec::parse("/dev/vda1"),
            Some(RootSpec::Path("/dev/vda1".into()))
        );
        assert_eq!(
            RootSpec::parse("LABEL=strata"),
            Some(RootSpec::Label("strata".into()))
        );
        assert_eq!(
            RootSpec::parse("/dev/disk/by-label/my\\x20disk"),
            Some(RootSpec::Label("my disk".into()))
        );
        assert_eq!(
            RootSpec::parse("UUID=0a1b"),
            Some(RootSpec::Uuid("0a1b".into()))
        );
        assert_eq!(
            RootSpec::parse("/dev/disk/by-partuuid/1234-5678"),
            Some(RootSpec::PartUuid("1234-5678".into()))
        );
        assert_eq!(RootSpec::parse(""), None);
        assert_eq!(RootSpec::Label("x".into()).to_string(), "LABEL=x");
    }

    #[test]
    fn the_command_line_wins_over_the_initrd_configuration() {
        let conf = "# comment\nroot=/dev/disk/by-label/strata\nrootfstype=ext4\n\
                    rootflags=defaults\nkernel=6.1.0-50-amd64\nmodule=virtio\nmodule=virtio_blk\n";
        let p = BootParams::read(
            Some(conf),
            "BOOT_IMAGE=/k root=PARTUUID=abcd rootflags=noatime,discard ro \
             init=/nix/store/x-strata-system/init console=tty0 console=ttyS0,115200 \
             strata.root_timeout=5 strata.debug quiet",
        );
        assert_eq!(p.root, Some(RootSpec::PartUuid("abcd".into())));
        assert_eq!(p.root_fstype.as_deref(), Some("ext4"));
        assert_eq!(p.root_flags, ["noatime", "discard"]);
        assert_eq!(p.read_only, Some(true));
        assert_eq!(p.init.as_deref(), Some("/nix/store/x-strata-system/init"));
        assert_eq!(p.kernel.as_deref(), Some("6.1.0-50-amd64"));
        assert_eq!(p.modules, ["virtio", "virtio_blk"]);
        assert_eq!(p.console_devices(), ["tty0", "ttyS0"]);
        assert_eq!(p.root_timeout, Duration::from_secs(5));
        assert_eq!(p.strata.get("debug").map(String::as_str), Some(""));
        assert!(!p.rescue);
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn rescue_and_bad_values() {
        for line in [
            "rescue",
            "emergency",
            "single",
            "strata.rescue",
            "strata.rescue=1",
        ] {
            assert!(BootParams::read(None, line).rescue, "{line}");
        }
        assert!(!BootParams::read(None, "strata.rescue=0").rescue);
        let p = BootParams::read(None, "strata.root_timeout=soon rootfstype=auto");
        assert_eq!(p.root_timeout, DEFAULT_ROOT_TIMEOUT);
        assert_eq!(p.root_fstype, None);
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("soon"));
    }
}
