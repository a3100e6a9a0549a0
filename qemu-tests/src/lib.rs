//! strata-qemu-tests: the harness that boots strata systems in QEMU, and (with its issue) the
//! end-to-end scenarios.
//!
//! Today: [`Machine`] boots a kernel and an initrd directly (`-kernel`/`-initrd`) under TCG,
//! with the legacy serial port as the console on QEMU's standard input and output. Every byte
//! the guest writes is kept (ANSI sequences stripped for matching) and logged, with the time
//! since start at each line, to a file that survives the test;
//! [`Machine::wait_for_console_text`] waits for a text with a deadline and fails with the last
//! console lines and the log's path.
//!
//! Must not: be needed by the unit tests of other crates.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The QEMU program.
pub const QEMU: &str = "qemu-system-x86_64";

/// Whether QEMU is installed.
pub fn have_qemu() -> bool {
    Command::new(QEMU)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// An ext4 image labelled `label` holding the store paths `paths` (logical, e.g.
/// `/nix/store/...`) copied from the store whose root is `store_root`, at their logical place,
/// sized to what they hold plus 64 MiB. Made with `cp` and `mkfs.ext4 -d` (no root needed).
pub fn store_image(
    store_root: &Path,
    paths: &[String],
    label: &str,
    dir: &Path,
) -> io::Result<PathBuf> {
    let root = dir.join("rootfs");
    let store = root.join("nix/store");
    fs::create_dir_all(&store)?;
    for p in paths {
        let src = store_root.join(p.trim_start_matches('/'));
        let ok = Command::new("cp")
            .arg("-R")
            .arg(&src)
            .arg(&store)
            .status()?;
        if !ok.success() {
            return Err(io::Error::other(format!("cp -R {} failed", src.display())));
        }
    }
    let du = Command::new("du").arg("-sb").arg(&root).output()?;
    let used: u64 = String::from_utf8_lossy(&du.stdout)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::other("du printed no size"))?;
    let img = dir.join("root.img");
    fs::File::create(&img)?.set_len(used + (64 << 20))?;
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", label, "-d"])
        .arg(&root)
        .arg(&img)
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "mkfs.ext4 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(img)
}

/// A direct kernel boot.
#[derive(Debug, Clone)]
pub struct DirectBoot {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// The kernel command line (`console=ttyS0` is added first).
    pub append: String,
    /// Raw disk images, attached as virtio disks (`/dev/vda`, `/dev/vdb`, ...).
    pub disks: Vec<PathBuf>,
    pub memory_mib: u32,
    /// Where the console log goes.
    pub log: PathBuf,
}

#[derive(Debug, Default)]
struct Console {
    /// Everything the guest wrote, ANSI sequences removed.
    text: String,
    closed: bool,
}

/// A running QEMU.
#[derive(Debug)]
pub struct Machine {
    child: Child,
    stdin: Option<ChildStdin>,
    console: Arc<(Mutex<Console>, Condvar)>,
    log: PathBuf,
    started: Instant,
}

/// Removes ANSI escape sequences (CSI `ESC [ ... final`, and two-byte `ESC x`) and `\r`.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

impl Machine {
    /// Starts QEMU for `boot`.
    pub fn start(boot: &DirectBoot) -> io::Result<Machine> {
        let mut cmd = Command::new(QEMU);
        cmd.args(["-accel", "tcg", "-M", "pc", "-nodefaults", "-no-reboot"])
            .args(["-display", "none", "-serial", "stdio"])
            .arg("-m")
            .arg(boot.memory_mib.to_string())
            .arg("-kernel")
            .arg(&boot.kernel)
            .arg("-initrd")
            .arg(&boot.initrd)
            .arg("-append")
            .arg(format!("console=ttyS0 panic=-1 {}", boot.append));
        for d in &boot.disks {
            cmd.arg("-drive")
                .arg(format!("file={},if=virtio,format=raw", d.display()));
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take();
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut stderr = child
            .stderr
            .take()
            .ok_or_else(|| io::Error::other("no stderr"))?;
        let console = Arc::new((Mutex::new(Console::default()), Condvar::new()));
        let started = Instant::now();
        let mut log = fs::File::create(&boot.log)?;
        let c2 = console.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut pending = String::new();
            let mut at_line_start = true;
            loop {
                let n = match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                pending.push_str(&String::from_utf8_lossy(&buf[..n]));
                // Keep an unfinished escape sequence for the next read.
                let cut = pending.rfind('\u{1b}').filter(|&i| {
                    let rest = &pending[i..];
                    !rest.chars().skip(2).any(|c| ('@'..='~').contains(&c))
                });
                let ready: String = match cut {
                    Some(i) => pending.drain(..i).collect(),
                    None => std::mem::take(&mut pending),
                };
                let clean = strip_ansi(&ready);
                for ch in clean.chars() {
                    if at_line_start {
                        let _ = write!(log, "[{:8.3}] ", started.elapsed().as_secs_f64());
                        at_line_start = false;
                    }
                    let _ = write!(log, "{ch}");
                    if ch == '\n' {
                        at_line_start = true;
                    }
                }
                let _ = log.flush();
                let (m, cv) = &*c2;
                if let Ok(mut c) = m.lock() {
                    c.text.push_str(&clean);
                }
                cv.notify_all();
            }
            let (m, cv) = &*c2;
            if let Ok(mut c) = m.lock() {
                c.closed = true;
            }
            cv.notify_all();
        });
        let c3 = console.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            if !s.is_empty() {
                let (m, cv) = &*c3;
                if let Ok(mut c) = m.lock() {
                    c.text.push_str(&format!("\n[qemu stderr] {s}"));
                }
                cv.notify_all();
            }
        });
        Ok(Machine {
            child,
            stdin,
            console,
            log: boot.log.clone(),
            started,
        })
    }

    /// Everything the console showed so far.
    pub fn console_text(&self) -> String {
        self.console
            .0
            .lock()
            .map(|c| c.text.clone())
            .unwrap_or_default()
    }

    /// The last `n` console lines.
    pub fn last_lines(&self, n: usize) -> String {
        let t = self.console_text();
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Waits until the console has shown `needle` (after the byte offset `from`), for at most
    /// `timeout`; returns the time since QEMU started and the offset just after the match.
    pub fn wait_for_console_text_from(
        &self,
        needle: &str,
        from: usize,
        timeout: Duration,
    ) -> Result<(Duration, usize), String> {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.console;
        let mut c = m
            .lock()
            .map_err(|_| "the console lock is poisoned".to_owned())?;
        loop {
            if let Some(i) = c.text.get(from..).and_then(|t| t.find(needle)) {
                return Ok((self.started.elapsed(), from + i + needle.len()));
            }
            let now = Instant::now();
            if c.closed || now >= deadline {
                let why = if c.closed { "QEMU exited" } else { "timed out" };
                let t = c.text.clone();
                drop(c);
                let lines: Vec<&str> = t.lines().collect();
                return Err(format!(
                    "{why} after {:.1} s waiting for {needle:?} on the console; last lines:\n{}\n(full log: {})",
                    self.started.elapsed().as_secs_f64(),
                    lines[lines.len().saturating_sub(25)..].join("\n"),
                    self.log.display()
                ));
            }
            c = cv
                .wait_timeout(c, deadline - now)
                .map_err(|_| "the console lock is poisoned".to_owned())?
                .0;
        }
    }

    /// [`wait_for_console_text_from`](Self::wait_for_console_text_from) the start.
    pub fn wait_for_console_text(
        &self,
        needle: &str,
        timeout: Duration,
    ) -> Result<Duration, String> {
        self.wait_for_console_text_from(needle, 0, timeout)
            .map(|(t, _)| t)
    }

    /// Types `text` on the console (one write).
    pub fn send(&mut self, text: &str) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("the console input is closed"))?;
        stdin.write_all(text.as_bytes())?;
        stdin.flush()
    }

    /// Waits for QEMU to exit by itself, for at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn ansi_sequences_and_carriage_returns_are_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[2J\u{1b}[1;1Hhello\r\n\u{1b}[0;32mok\u{1b}[0m\u{1b}c"),
            "hello\nok"
        );
    }
}
