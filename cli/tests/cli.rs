#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Integration tests that drive the real `strata` binary.
//!
//! - [`bad_config`]: the corpus of bad configurations (`tests/bad-configs`), each refused by
//!   `strata eval-config` and `strata build` with the option and the value named, and
//!   nothing left behind.
//! - [`cache`]: binary caches: keys, signing, publishing, substituting over lighttpd (bound to
//!   127.0.0.1), Nix 2.8 reading strata's caches and strata reading Nix's, the refusals, and
//!   builds that substitute or, with the cache unreachable, build.
//! - [`compat`]: byte-for-byte and path-for-path agreement with Nix 2.8 (`nix-store`,
//!   `nix-hash`, `nix`, `nix-instantiate`) on generated trees, texts and export streams.
//!   Needs Debian's `nix-bin`; set `STRATA_SKIP_NIX_TESTS=1` to skip these tests.
//! - [`config`]: `strata options` with a configuration's values.
//! - [`eval_attr`]: `strata eval -A PATH`, `--arg` and `--argstr` side by side with
//!   `nix-instantiate --eval` (needs Debian's `nix-bin`, as [`compat`]).
//! - [`eval_builtins`]: the builtins of Nix after 2.8 (`readFileType`, `traceVerbose`,
//!   `break`, `addDrvOutputDependencies`) and `builtins.nixVersion`.
//! - [`copy`]: `strata copy --to|--from` between two local stores through a stand-in for
//!   `ssh`: only the missing paths, one stream, interrupted copies, garbage answers.
//! - [`deploy`]: `strata deploy` and `--target-host` with machine trees over the shared store
//!   of [`system`], reached through a stand-in for `ssh`: fleets, sudo, a machine that locks
//!   itself out and reverts, one that is down, bad fleets and selections.
//! - [`nixos_config`]: `strata eval-config` on what `nixos-generate-config` writes: it
//!   evaluates, and each option strata does not act on is named in a warning.
//! - [`malformed`]: a generated corpus of malformed NARs and export streams; every one must be
//!   refused with a clear message, without a panic, and without changing the store or leaving
//!   a half-restored tree behind.
//! - [`lock`]: `strata lock update` and `strata lock fetch` against a fake Debian archive
//!   reached through a `file://` URL.
//! - [`realise`]: `strata realise` and `strata log` on derivations built with busybox.
//! - [`system`]: `strata build` of the example configuration, with packages from the Debian
//!   archive the host's apt sources name.
//! - [`boot`]: the example's kernel and initrd booted in QEMU: both stages of `strata-init`.
//! - [`build_vm`]: `strata build-vm`'s launcher boots the example to its ready marker.
//! - [`flake`]: flakes: trees fetched as Nix 2.8 fetches them, `strata flake ...`,
//!   `strata build --flake` of a flake with two machines and two git inputs, bad flakes.
//! - [`flake_inputs`]: flake references in every form and inputs over HTTP (lighttpd on
//!   127.0.0.1: tarballs, git's dumb protocol), each lock compared with Nix 2.8's; locked
//!   inputs without the server; 404s, nothing listening and wrong hashes refused.
//! - [`flake_outputs`]: what strata makes of a flake's outputs: pure evaluation and
//!   `--impure`, images and VMs, fleets (`strata deploy --flake`), development shells.
//! - [`generations`]: `strata generations list|delete` on a root made by hand.
//! - [`image`]: `strata image` in every format, read back with tools that share no code with
//!   strata, and built twice to compare.
//! - [`scenarios`]: images booted in QEMU under UEFI and BIOS, checked through the command
//!   channel; switch, reboot, the boot menu, rollback, a power cut, --confirm-within.
//! - [`shell`]: `strata shell` with Debian packages from the archive the host's apt sources
//!   name, in the store [`system`] shares: `-p`, shell.nix, `--pure`, another user, GC roots,
//!   bad input.
//! - [`substitute`]: substitution inside builds, requests counted through lighttpd's log:
//!   build-time inputs of a substituted output neither asked for nor fetched, each path asked
//!   once, a refused NAR or a silent cache falling back to building, the summary line; and
//!   `strata shell` and `strata image` substituting what the shared store published.
//! - [`switch`]: the switch verbs on a machine tree over the shared store of [`system`].
//! - [`switch_to_configuration`]: a generation's `bin/switch-to-configuration` and `--toplevel`
//!   on a machine tree, with a forged generation.

#[path = "cli/bad_config.rs"]
mod bad_config;
#[path = "cli/boot.rs"]
mod boot;
#[path = "cli/build_vm.rs"]
mod build_vm;
#[path = "cli/cache.rs"]
mod cache;
#[path = "cli/compat.rs"]
mod compat;
#[path = "cli/compat_exchange.rs"]
mod compat_exchange;
#[path = "cli/config.rs"]
mod config;
#[path = "cli/copy.rs"]
mod copy;
#[path = "cli/deploy.rs"]
mod deploy;
#[path = "cli/eval_attr.rs"]
mod eval_attr;
#[path = "cli/eval_builtins.rs"]
mod eval_builtins;
#[path = "cli/flake.rs"]
mod flake;
#[path = "cli/flake_inputs.rs"]
mod flake_inputs;
#[path = "cli/flake_outputs.rs"]
mod flake_outputs;
#[path = "cli/generations.rs"]
mod generations;
#[path = "cli/image.rs"]
mod image;
#[path = "cli/lock.rs"]
mod lock;
#[path = "cli/malformed.rs"]
mod malformed;
#[path = "../../store/tests/store/malformed_corpus.rs"]
mod malformed_corpus;
#[path = "cli/nixos_config.rs"]
mod nixos_config;
#[path = "cli/realise.rs"]
mod realise;
#[path = "cli/scenarios/mod.rs"]
mod scenarios;
#[path = "cli/shell.rs"]
mod shell;
#[path = "cli/substitute.rs"]
mod substitute;
#[path = "cli/switch.rs"]
mod switch;
#[path = "cli/switch_to_configuration.rs"]
mod switch_to_configuration;
#[path = "cli/system.rs"]
mod system;

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// What a finished process left behind.
#[derive(Debug)]
pub struct Output {
    pub what: String,
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with the command and its stderr unless it exited with status 0.
    pub fn ok(self) -> Self {
        assert!(
            self.success(),
            "`{}` failed with {:?}\nstderr:\n{}",
            self.what,
            self.code,
            self.stderr
        );
        self
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.stdout.clone())
            .unwrap_or_else(|_| panic!("`{}` printed non-UTF-8 output", self.what))
    }

    /// Standard output without its trailing newline.
    pub fn line(&self) -> String {
        self.text().trim_end_matches('\n').to_owned()
    }

    /// Standard output as lines.
    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }
}

/// A command for the `strata` binary under test, isolated from the caller's environment.
pub fn strata() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_strata"));
    c.env_remove("STRATA_STORE_ROOT")
        .env_remove("STRATA_LOG")
        .env_remove("RUST_BACKTRACE");
    c
}

/// `strata --store-root <a store for evaluations> eval-config`: `eval-config` makes the lock's
/// Debian digest in its store (once, from the archive the host's apt sources name), so the
/// tests give it one store of theirs, shared by every run, never the user's.
pub fn eval_config() -> Command {
    let mut c = strata();
    c.arg("--store-root")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-eval-store"))
        .arg("eval-config");
    c
}

/// `strata --store-root ROOT store ARGS...`
pub fn strata_store<I, S>(root: &Path, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = strata();
    c.arg("--store-root").arg(root).arg("store").args(args);
    c
}

/// Runs `cmd` to completion, feeding it `stdin` (or nothing). A child that exits before it
/// has read all its input is fine: the broken pipe is ignored.
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
    let what = format!("{cmd:?}");
    let what = if what.chars().count() > 400 {
        format!("{}...", what.chars().take(400).collect::<String>())
    } else {
        what
    };
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
    let out = std::thread::scope(|s| {
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            s.spawn(move || {
                // The child may stop reading early (that is what malformed input is for).
                let _ = pipe.write_all(data);
            });
        }
        child.wait_with_output()
    })
    .unwrap_or_else(|e| panic!("cannot wait for `{what}`: {e}"));
    Output {
        what,
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Asserts that two byte strings are equal without printing megabytes when they are not.
pub fn assert_bytes_eq(what: &str, a: &[u8], b: &[u8]) {
    if a == b {
        return;
    }
    let first = a.iter().zip(b).position(|(x, y)| x != y);
    panic!(
        "{what}: outputs differ (lengths {} and {}, first difference at byte {:?})",
        a.len(),
        b.len(),
        first
    );
}

/// A deterministic pseudo-random byte generator (xorshift64*), for large test files.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}
