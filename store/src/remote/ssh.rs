//! The host's OpenSSH client as a subprocess: where a remote machine is (`ssh://[user@]host
//! [:port]`), which `ssh` runs and with which options, and how a command line for the far side
//! is quoted for its login shell.
//!
//! The program is `$STRATA_SSH`, else `ssh` from `PATH`; extra options come from
//! `$STRATA_SSHOPTS`, else `$NIX_SSHOPTS` (what `nixos-rebuild --target-host` and
//! `nix-copy-closure` users already set), split as a shell splits words. strata adds nothing of
//! its own but the port and the command, so `~/.ssh/config`, agents and known hosts apply as
//! they do to the user's own `ssh`.

use std::ffi::OsString;
use std::fmt;
use std::process::Command;

use super::RemoteError;

/// A machine reached over SSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    /// A host name or address (an IPv6 address without its brackets).
    pub host: String,
    pub port: Option<u16>,
}

impl SshTarget {
    /// Parses `ssh://[user@]host[:port]` or the same without `ssh://` (what `--target-host`
    /// takes). An IPv6 address with a port goes in brackets: `ssh://[::1]:2222`.
    pub fn parse(s: &str) -> Result<SshTarget, RemoteError> {
        let bad = |problem: &str| RemoteError::BadTarget {
            target: s.to_owned(),
            problem: problem.to_owned(),
        };
        let rest = match s.split_once("://") {
            Some(("ssh", rest)) => rest,
            Some((scheme, _)) => {
                return Err(bad(&format!(
                    "the scheme '{scheme}://' is not supported (only ssh://)"
                )))
            }
            None => s,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err(bad("a store URL names a machine, not a path on it"));
        }
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        if let Some(u) = user {
            if u.is_empty()
                || u.starts_with('-')
                || !u
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-$".contains(c))
            {
                return Err(bad(&format!("'{u}' is not a user name")));
            }
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address opened with '[' is not closed with ']'"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("only ':PORT' may follow a bracketed IPv6 address"))?,
                ),
            };
            // An address, and a zone after '%' (`fe80::1%eth0`).
            let (ip, zone) = addr.split_once('%').unwrap_or((addr, "x"));
            let ip_ok = !ip.is_empty()
                && ip
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || ":.".contains(c));
            let zone_ok = !zone.is_empty()
                && zone
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !ip_ok || !zone_ok {
                return Err(bad(&format!("'{addr}' is not an IPv6 address")));
            }
            (addr, port)
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host name"));
        }
        // A host that starts with '-' would be taken for an option by ssh.
        if host.starts_with('-')
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_:%".contains(c))
        {
            return Err(bad(&format!("'{host}' is not a host name or address")));
        }
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|&n| n != 0)
                    .ok_or_else(|| bad(&format!("'{p}' is not a port number (1 to 65535)")))?,
            ),
        };
        Ok(SshTarget {
            user: user.map(str::to_owned),
            host: host.to_owned(),
            port,
        })
    }

    /// `[user@]host`, as `ssh` takes its destination.
    pub fn destination(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        }
    }
}

impl fmt::Display for SshTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ssh://")?;
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            write!(f, "{}", self.host)?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// How to run `ssh`: the program and the options that go before the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssh {
    pub target: SshTarget,
    pub program: OsString,
    pub options: Vec<String>,
}

impl Ssh {
    /// `ssh` (or `$STRATA_SSH`) with `$STRATA_SSHOPTS` (or `$NIX_SSHOPTS`); see the module
    /// documentation.
    pub fn from_env(target: SshTarget) -> Result<Ssh, RemoteError> {
        let program = std::env::var_os("STRATA_SSH")
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "ssh".into());
        let (var, opts) = match std::env::var("STRATA_SSHOPTS") {
            Ok(v) => ("STRATA_SSHOPTS", v),
            Err(_) => (
                "NIX_SSHOPTS",
                std::env::var("NIX_SSHOPTS").unwrap_or_default(),
            ),
        };
        let options = split_words(&opts).map_err(|source| RemoteError::BadOptions {
            var: var.to_owned(),
            source,
        })?;
        Ok(Ssh {
            target,
            program,
            options,
        })
    }

    /// The `ssh` command that runs `words` (quoted for the remote shell) on the target.
    pub fn command(&self, words: &[&str]) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.options);
        if let Some(p) = self.target.port {
            c.arg("-p").arg(p.to_string());
        }
        // `--` ends ssh's options: the destination can never be read as one.
        c.arg("--").arg(self.target.destination());
        let line: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
        c.arg(line.join(" "));
        c
    }
}

/// `word` as one word for a POSIX shell (and fish): bare when it has nothing special, else in
/// single quotes.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Why a value cannot be split into words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("a single quote is not closed")]
    SingleQuote,
    #[error("a double quote is not closed")]
    DoubleQuote,
    #[error("a backslash ends the value")]
    Backslash,
}

/// Splits `s` into words as a shell would: blanks separate, single quotes keep everything,
/// double quotes keep everything but `\"` and `\\`, a backslash outside quotes escapes the next
/// character. No expansions.
pub fn split_words(s: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(SplitError::SingleQuote),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(SplitError::DoubleQuote),
                        },
                        Some(c) => w.push(c),
                        None => return Err(SplitError::DoubleQuote),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err(SplitError::Backslash),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(user: Option<&str>, host: &str, port: Option<u16>) -> SshTarget {
        SshTarget {
            user: user.map(str::to_owned),
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn targets_parse_and_print() {
        for (s, want, printed) in [
            (
                "ssh://alice@box:2222",
                t(Some("alice"), "box", Some(2222)),
                "ssh://alice@box:2222",
            ),
            ("ssh://box", t(None, "box", None), "ssh://box"),
            ("ssh://box/", t(None, "box", None), "ssh://box"),
            (
                "root@10.0.2.15",
                t(Some("root"), "10.0.2.15", None),
                "ssh://root@10.0.2.15",
            ),
            ("ssh://[::1]:22", t(None, "::1", Some(22)), "ssh://[::1]:22"),
            (
                "ssh://u@[fe80::1%eth0]",
                t(Some("u"), "fe80::1%eth0", None),
                "ssh://u@[fe80::1%eth0]",
            ),
        ] {
            let got = SshTarget::parse(s).unwrap();
            assert_eq!(got, want, "{s}");
            assert_eq!(got.to_string(), printed, "{s}");
        }
    }

    #[test]
    fn bad_targets_are_refused_with_the_reason() {
        for (s, why) in [
            ("http://box", "scheme 'http://'"),
            ("ssh://box/nix/store", "not a path"),
            ("ssh://", "no host"),
            ("ssh://-oProxyCommand=x", "not a host name"),
            ("ssh://-x@box", "not a user name"),
            ("ssh://box:0", "not a port"),
            ("ssh://box:99999", "not a port"),
            ("ssh://box:ssh", "not a port"),
            ("ssh://[::1", "not closed"),
            ("ssh://[::1]x", "only ':PORT'"),
            ("ssh://bo x", "not a host name"),
        ] {
            let e = SshTarget::parse(s).unwrap_err().to_string();
            assert!(e.contains(why), "{s}: {e}");
            assert!(e.contains(s), "{s}: {e}");
        }
    }

    #[test]
    fn the_command_quotes_words_and_ends_options_before_the_destination() {
        let ssh = Ssh {
            target: t(Some("alice"), "box", Some(2222)),
            program: "ssh".into(),
            options: vec!["-o".into(), "BatchMode=yes".into()],
        };
        let c = ssh.command(&["/opt/my strata", "store", "it's"]);
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "-o",
                "BatchMode=yes",
                "-p",
                "2222",
                "--",
                "alice@box",
                r"'/opt/my strata' store 'it'\''s'"
            ]
        );
    }

    #[test]
    fn options_split_as_a_shell_splits() {
        assert_eq!(
            split_words(r#" -o 'ProxyCommand=ssh -W %h:%p jump'  -i "/k ey" a\ b -C"#).unwrap(),
            [
                "-o",
                "ProxyCommand=ssh -W %h:%p jump",
                "-i",
                "/k ey",
                "a b",
                "-C"
            ]
        );
        assert_eq!(split_words("").unwrap(), Vec::<String>::new());
        assert_eq!(split_words("''").unwrap(), [""]);
        assert_eq!(split_words("-o 'x"), Err(SplitError::SingleQuote));
        assert_eq!(split_words("-o \"x"), Err(SplitError::DoubleQuote));
        assert_eq!(split_words("x\\"), Err(SplitError::Backslash));
    }
}
