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

#![forbid(unsafe_code)]

pub mod dhcp;

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What went wrong while driving a machine; each names what was awaited or sent and shows
/// what the guest printed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("the console lock is poisoned")]
    Poisoned,
    /// The console did not show what was awaited (`why`: QEMU exited, or timed out).
    #[error(
        "{why} after {elapsed:.1} s waiting for {what} on the console; last lines:\n{last_lines}\n(full log: {})",
        log.display()
    )]
    ConsoleWait {
        why: &'static str,
        elapsed: f64,
        what: String,
        last_lines: String,
        log: PathBuf,
    },
    #[error("bad pattern {pattern:?}: {source}")]
    BadPattern {
        pattern: String,
        source: regex::Error,
    },
    #[error(transparent)]
    Regex(#[from] regex::Error),
    #[error("this machine has no command channel")]
    NoChannel,
    #[error("the command channel did not answer within {secs} s; console:\n{console}")]
    ChannelSilent { secs: u64, console: String },
    #[error("the command channel closed")]
    ChannelClosed,
    /// Talking to the command channel failed (`context` says how far it got).
    #[error("{context}: {source}")]
    Channel { context: String, source: io::Error },
    #[error(
        "{command:?} did not finish within {secs} s; it printed:\n{output}\nconsole:\n{console}"
    )]
    CommandTimeout {
        command: String,
        secs: u64,
        output: String,
        console: String,
    },
    #[error(transparent)]
    Io(#[from] io::Error),
}

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
/// `/nix/store/...`) copied from the store whose root is `store_root`, at their logical place
/// (in one `cp -a`, so hard links between them stay links), sized to what they hold plus
/// 64 MiB, with inodes for every file they hold and room for more. Made with `cp` and
/// `mkfs.ext4 -d` (no root needed).
pub fn store_image(
    store_root: &Path,
    paths: &[String],
    label: &str,
    dir: &Path,
) -> io::Result<PathBuf> {
    let root = dir.join("rootfs");
    let store = root.join("nix/store");
    fs::create_dir_all(&store)?;
    let ok = Command::new("cp")
        .arg("-a")
        .args(
            paths
                .iter()
                .map(|p| store_root.join(p.trim_start_matches('/'))),
        )
        .arg(&store)
        .status()?;
    if !ok.success() {
        return Err(io::Error::other(format!(
            "cp -a of {} store paths failed",
            paths.len()
        )));
    }
    let find = Command::new("find").arg(&root).output()?;
    let files = find.stdout.iter().filter(|&&b| b == b'\n').count();
    let du = Command::new("du").arg("-sb").arg(&root).output()?;
    let used: u64 = String::from_utf8_lossy(&du.stdout)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::other("du printed no size"))?;
    let img = dir.join("root.img");
    fs::File::create(&img)?.set_len(used + (64 << 20))?;
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", label, "-N"])
        .arg((files + files / 4 + 4096).to_string())
        .arg("-d")
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

/// UEFI firmware (Debian's ovmf).
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE.fd";
/// The variable store each machine gets a copy of.
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS.fd";

/// How the machine starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// OVMF, with a variable store of the machine's own.
    Uefi,
    /// SeaBIOS, QEMU's default.
    Bios,
}

/// `kvm` when a short probe shows it works here, else `tcg`. The probe boots nothing: it asks
/// QEMU to start with KVM and quit at once, which fails where KVM is absent or broken.
pub fn accel() -> String {
    static ACCEL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ACCEL
        .get_or_init(|| {
            if std::env::var_os("STRATA_QEMU_KVM").is_none() {
                // KVM opens here but firmware fails under it; it is used only when asked.
                return "tcg".into();
            }
            let ok = Command::new(QEMU)
                .args(["-accel", "kvm", "-machine", "q35", "-display", "none"])
                .args(["-nodefaults", "-S", "-monitor", "none", "-no-reboot"])
                .arg("-daemonize")
                .arg("-pidfile")
                .arg(std::env::temp_dir().join("strata-kvm-probe.pid"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if let Ok(pid) = fs::read_to_string(std::env::temp_dir().join("strata-kvm-probe.pid")) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
            if ok { "kvm" } else { "tcg" }.into()
        })
        .clone()
}

/// A boot loader's menu, for [`Machine::pick_menu_entry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Menu {
    Grub,
    SystemdBoot,
}

/// How the image under test is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    /// A virtio disk.
    Disk,
    /// A CD-ROM on the machine's SATA controller (AHCI).
    Cdrom,
    /// A USB stick on an xHCI controller.
    UsbStick,
}

/// A network card of a test machine (virtio). Every packet stays inside QEMU or on this
/// machine's loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nic {
    /// QEMU's user-mode network with `restrict=on` (the guest reaches nothing outside): its
    /// DHCP server and DNS relay, and `(host port, guest port)` TCP forwards from 127.0.0.1.
    User { forwards: Vec<(u16, u16)> },
    /// A link to another machine over a Unix socket (`-netdev stream`); one side `listen`s.
    Stream {
        socket: PathBuf,
        listen: bool,
        /// The card's MAC address (two machines on one link need different ones).
        mac: String,
    },
}

/// A TCP port on 127.0.0.1 that nothing listens on now (for a forward).
pub fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

/// A machine that boots from a disk image: a copy-on-write overlay of `image` and (UEFI) a
/// copy of the variable store, both in `dir`, kept across reboots.
#[derive(Debug)]
pub struct DiskBoot {
    pub dir: PathBuf,
    pub firmware: Firmware,
    pub memory_mib: u32,
    /// A virtio disk unless changed.
    pub medium: Medium,
    /// Network cards, in order (eth0, eth1, ...); none unless set.
    pub nics: Vec<Nic>,
    boots: std::cell::Cell<u32>,
}

impl DiskBoot {
    /// Prepares `dir` for `image` (`raw` or `qcow2`).
    pub fn new(image: &Path, format: &str, firmware: Firmware, dir: &Path) -> io::Result<DiskBoot> {
        fs::create_dir_all(dir)?;
        let d = DiskBoot {
            dir: dir.to_owned(),
            firmware,
            memory_mib: 1024,
            medium: Medium::Disk,
            nics: Vec::new(),
            boots: std::cell::Cell::new(0),
        };
        let out = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", format, "-b"])
            .arg(image)
            .arg(d.overlay())
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "qemu-img create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        if firmware == Firmware::Uefi {
            fs::copy(OVMF_VARS, d.vars())?;
        }
        Ok(d)
    }

    pub fn overlay(&self) -> PathBuf {
        self.dir.join("overlay.qcow2")
    }

    pub fn vars(&self) -> PathBuf {
        self.dir.join("OVMF_VARS.fd")
    }

    fn next_boot(&self) -> u32 {
        let n = self.boots.get() + 1;
        self.boots.set(n);
        n
    }
}

/// The command channel's answer to an empty line.
const READY: &str = "@@strata-ready@@";

/// What a command run through the channel did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    pub code: i32,
    pub output: String,
}

#[derive(Debug, Default)]
struct Console {
    /// Everything the guest wrote, ANSI sequences removed.
    text: String,
    /// Everything the guest wrote, as written (menus show their highlight with colours).
    raw: String,
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
    /// The command channel's socket, for disk boots.
    channel: Option<PathBuf>,
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
        Machine::spawn(cmd, &boot.log, None)
    }

    /// Starts QEMU (again) on `disk`'s overlay and variable store: a reboot keeps both.
    pub fn boot_disk(disk: &DiskBoot) -> io::Result<Machine> {
        let mut cmd = Command::new(QEMU);
        cmd.args([
            "-machine",
            "q35",
            "-accel",
            &accel(),
            "-nodefaults",
            "-no-reboot",
        ])
        .args(["-display", "none", "-serial", "stdio"])
        .arg("-m")
        .arg(disk.memory_mib.to_string());
        if disk.firmware == Firmware::Uefi {
            cmd.arg("-drive")
                .arg(format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"));
            cmd.arg("-drive").arg(format!(
                "if=pflash,format=raw,file={}",
                disk.vars().display()
            ));
        }
        let overlay = disk.overlay();
        match disk.medium {
            Medium::Disk => {
                cmd.arg("-drive")
                    .arg(format!("file={},if=virtio,format=qcow2", overlay.display()));
            }
            Medium::Cdrom => {
                cmd.arg("-drive")
                    .arg(format!(
                        "file={},if=none,id=medium,media=cdrom,format=qcow2",
                        overlay.display()
                    ))
                    .args(["-device", "ide-cd,drive=medium,bus=ide.0,bootindex=0"]);
            }
            Medium::UsbStick => {
                cmd.arg("-drive")
                    .arg(format!(
                        "file={},if=none,id=medium,format=qcow2",
                        overlay.display()
                    ))
                    .args(["-device", "qemu-xhci,id=xhci"])
                    .args(["-device", "usb-storage,bus=xhci.0,drive=medium,bootindex=0"]);
            }
        }
        for (i, nic) in disk.nics.iter().enumerate() {
            let (netdev, mac) = match nic {
                Nic::User { forwards } => {
                    let mut n = format!("user,id=net{i},restrict=on");
                    for (host, guest) in forwards {
                        n.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
                    }
                    (n, None)
                }
                Nic::Stream {
                    socket,
                    listen,
                    mac,
                } => (
                    format!(
                        "stream,id=net{i},server={},addr.type=unix,addr.path={}",
                        if *listen { "on" } else { "off" },
                        socket.display()
                    ),
                    Some(mac),
                ),
            };
            cmd.arg("-netdev")
                .arg(netdev)
                .arg("-device")
                .arg(match mac {
                    Some(m) => format!("virtio-net-pci,netdev=net{i},mac={m}"),
                    None => format!("virtio-net-pci,netdev=net{i}"),
                });
        }
        // The command channel: the second serial port, a socket QEMU listens on.
        let sock = disk.dir.join("channel.sock");
        let _ = fs::remove_file(&sock);
        cmd.arg("-chardev")
            .arg(format!(
                "socket,id=channel,path={},server=on,wait=off",
                sock.display()
            ))
            .args(["-serial", "chardev:channel"]);
        let log = disk.dir.join(format!("console-{}.log", disk.next_boot()));
        Machine::spawn(cmd, &log, Some(sock))
    }

    fn spawn(mut cmd: Command, log_path: &Path, channel: Option<PathBuf>) -> io::Result<Machine> {
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
        let mut log = fs::File::create(log_path)?;
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
                    c.raw.push_str(&ready);
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
            log: log_path.to_owned(),
            started,
            channel,
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

    /// Waits until `find` finds something in the console (its text, ANSI sequences stripped,
    /// or its raw bytes), for at most `timeout`; `what` names it in the error, which shows the
    /// last console lines and the log's path.
    fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        find: impl Fn(&Console) -> Option<T>,
    ) -> Result<(Duration, T), HarnessError> {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.console;
        let mut c = m.lock().map_err(|_| HarnessError::Poisoned)?;
        loop {
            if let Some(found) = find(&c) {
                return Ok((self.started.elapsed(), found));
            }
            let now = Instant::now();
            if c.closed || now >= deadline {
                let why = if c.closed { "QEMU exited" } else { "timed out" };
                let t = c.text.clone();
                drop(c);
                let lines: Vec<&str> = t.lines().collect();
                return Err(HarnessError::ConsoleWait {
                    why,
                    elapsed: self.started.elapsed().as_secs_f64(),
                    what: what.to_owned(),
                    last_lines: lines[lines.len().saturating_sub(25)..].join("\n"),
                    log: self.log.clone(),
                });
            }
            c = cv
                .wait_timeout(c, deadline - now)
                .map_err(|_| HarnessError::Poisoned)?
                .0;
        }
    }

    /// Waits until the console has shown `needle` (after the byte offset `from`), for at most
    /// `timeout`; returns the time since QEMU started and the offset just after the match.
    pub fn wait_for_console_text_from(
        &self,
        needle: &str,
        from: usize,
        timeout: Duration,
    ) -> Result<(Duration, usize), HarnessError> {
        self.wait_until(&format!("{needle:?}"), timeout, |c| {
            c.text
                .get(from..)
                .and_then(|t| t.find(needle))
                .map(|i| from + i + needle.len())
        })
    }

    /// Waits until the console (ANSI sequences stripped) matches `pattern`, for at most
    /// `timeout`; returns the time since QEMU started and the match.
    pub fn wait_for_console_regex(
        &self,
        pattern: &str,
        timeout: Duration,
    ) -> Result<(Duration, String), HarnessError> {
        let re = regex::Regex::new(pattern).map_err(|source| HarnessError::BadPattern {
            pattern: pattern.to_owned(),
            source,
        })?;
        self.wait_until(&format!("/{pattern}/"), timeout, |c| {
            re.find(&c.text).map(|m| m.as_str().to_owned())
        })
    }

    /// [`wait_for_console_text_from`](Self::wait_for_console_text_from) the start.
    pub fn wait_for_console_text(
        &self,
        needle: &str,
        timeout: Duration,
    ) -> Result<Duration, HarnessError> {
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

    /// Kills QEMU at once, as pulling the power cord would.
    pub fn power_cut(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs `command` (a shell command line) in the guest through the command channel (the
    /// second serial port, served by the `testing.commandChannel` service), for at most
    /// `timeout`. The command travels base64-encoded; the answer is the output, then a line
    /// `@@strata-rc=<code>@@`.
    pub fn run(&self, command: &str, timeout: Duration) -> Result<Ran, HarnessError> {
        use std::os::unix::net::UnixStream;
        let sock = self.channel.as_ref().ok_or(HarnessError::NoChannel)?;
        let deadline = Instant::now() + timeout;
        let mut s = loop {
            match UnixStream::connect(sock) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(HarnessError::Channel {
                        context: "cannot reach the command channel".into(),
                        source: e,
                    })
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        // Ask until the guest listens.
        loop {
            if Instant::now() >= deadline {
                return Err(HarnessError::ChannelSilent {
                    secs: timeout.as_secs(),
                    console: self.last_lines(15),
                });
            }
            s.write_all(b"\n").map_err(|source| HarnessError::Channel {
                context: "cannot write to the command channel".into(),
                source,
            })?;
            s.set_read_timeout(Some(Duration::from_secs(1)))?;
            match s.read(&mut buf) {
                Ok(0) => return Err(HarnessError::ChannelClosed),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut => {}
                Err(source) => {
                    return Err(HarnessError::Channel {
                        context: "reading the command channel".into(),
                        source,
                    })
                }
            }
            if String::from_utf8_lossy(&got).contains(READY) {
                break;
            }
        }
        let line = format!("{}\n", base64(command.as_bytes()));
        s.write_all(line.as_bytes())
            .map_err(|source| HarnessError::Channel {
                context: format!("cannot send {command:?}"),
                source,
            })?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(HarnessError::CommandTimeout {
                    command: command.to_owned(),
                    secs: timeout.as_secs(),
                    output: String::from_utf8_lossy(&got).into_owned(),
                    console: self.last_lines(15),
                });
            }
            s.set_read_timeout(Some(left))?;
            match s.read(&mut buf) {
                Ok(0) => return Err(HarnessError::ChannelClosed),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    continue
                }
                Err(source) => {
                    return Err(HarnessError::Channel {
                        context: "reading the command channel".into(),
                        source,
                    })
                }
            }
            // Answers to the questions still on their way come first; they are not output.
            let text = String::from_utf8_lossy(&got)
                .replace('\r', "")
                .replace(&format!("{READY}\n"), "");
            if let Some(i) = text.find("@@strata-rc=") {
                if let Some(j) = text[i..].find("@@\n") {
                    let code = text[i + 12..i + j].trim().parse().unwrap_or(-1);
                    return Ok(Ran {
                        code,
                        output: text[..i].to_owned(),
                    });
                }
            }
        }
    }

    /// Moves a boot menu's highlight `steps` entries down (up when negative; 0 sends one key up,
    /// which stops the countdown and redraws), one key sequence per write (an `ESC` alone means
    /// something else to systemd-boot), then waits until the highlight is on the entry whose
    /// title starts with `entry`: GRUB marks that line with `*`; systemd-boot draws it black on
    /// light grey (`ESC[47m` before the title).
    pub fn move_highlight(
        &mut self,
        menu: Menu,
        steps: i32,
        entry: &str,
    ) -> Result<(), HarnessError> {
        let (from_text, from_raw) = {
            let (m, _) = &*self.console;
            let c = m.lock().map_err(|_| HarnessError::Poisoned)?;
            (c.text.len(), c.raw.len())
        };
        let key = if steps > 0 { "\u{1b}[B" } else { "\u{1b}[A" };
        for _ in 0..steps.unsigned_abs().max(1) {
            self.send(key)?;
            std::thread::sleep(Duration::from_millis(700));
        }
        let highlighted = regex::Regex::new(&format!(r"\x1b\[47m *{}", regex::escape(entry)))?;
        let grub_line = format!("*{entry}");
        self.wait_until(
            &format!("the highlight on {entry:?}"),
            Duration::from_secs(20),
            |c| match menu {
                Menu::Grub => c.text.get(from_text..)?.find(&grub_line),
                Menu::SystemdBoot => highlighted.find(c.raw.get(from_raw..)?).map(|m| m.start()),
            },
        )
        .map(|_| ())
    }

    /// Waits for `menu_marker` on the console (the menu is up), moves the highlight `down`
    /// entries onto `entry` ([`move_highlight`](Self::move_highlight) checks it is there),
    /// then presses Enter.
    pub fn pick_menu_entry(
        &mut self,
        menu: Menu,
        menu_marker: &str,
        down: i32,
        entry: &str,
        timeout: Duration,
    ) -> Result<(), HarnessError> {
        self.wait_for_console_text_from(menu_marker, 0, timeout)?;
        self.move_highlight(menu, down, entry)?;
        Ok(self.send("\r")?)
    }
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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
    fn base64_as_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn ansi_sequences_and_carriage_returns_are_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[2J\u{1b}[1;1Hhello\r\n\u{1b}[0;32mok\u{1b}[0m\u{1b}c"),
            "hello\nok"
        );
    }
}
