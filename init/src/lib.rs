//! strata-init: the static PID 1: stage 1 in the initrd, stage 2 on the real root, service
//! supervision and shutdown.
//!
//! The kernel starts it as `/init` in the initrd (which holds [`stage1::INITRD_CONF`]): stage 1
//! ([`stage1`]) mounts the real root and executes the generation's `init`, a link to this same
//! program in the generation's strata, which then runs stage 2 on the real root. The system
//! calls are behind [`sys::Sys`]; the command line and the initrd's configuration are read by
//! [`cmdline`]; [`probe`] reads superblocks and partition tables to find `LABEL=`, `UUID=` and
//! `PARTUUID=` roots without udev.
//!
//! Must not: use threads or NSS, or exit: a fatal error prints what went wrong and starts an
//! emergency shell on the console (the initrd's busybox), and when that shell ends, boots
//! again.
//!
//! Stage 2 ([`stage2`]) mounts the rest, links `/run/booted-system`, runs the activation
//! (crate `activate`, the code `strata switch` will run) and supervises the manifest's services
//! ([`services`] decides order and restarts), the login prompts and the control socket, and
//! shuts down in order.

pub mod cmdline;
pub mod console;
pub mod host;
pub mod modload;
pub mod probe;
pub mod services;
pub mod stage1;
pub mod stage2;
pub mod supervisor;
pub mod sys;
#[cfg(test)]
mod testing;

use std::path::Path;

use cmdline::BootParams;
use stage1::{Stop, INITRD_CONF};
use sys::{RealSys, Sys};

/// The shell an emergency starts (the initrd's busybox).
pub const EMERGENCY_SHELL: &str = "/bin/sh";

/// The program's entry point.
pub fn main() {
    if std::process::id() != 1 {
        eprintln!(
            "strata-init {}: this program is PID 1 of a strata system and is started by the \
             kernel, not by hand",
            env!("CARGO_PKG_VERSION")
        );
        std::process::exit(2);
    }
    // A bug must not end PID 1 (the kernel would panic): say what happened and keep a shell
    // on the console.
    std::panic::set_hook(Box::new(|info| {
        let mut sys = RealSys::new();
        emergency_forever(&mut sys, &format!("strata-init failed: {info}"))
    }));
    let mut sys = RealSys::new();
    if Path::new(INITRD_CONF).exists() {
        stage1_forever(&mut sys)
    } else {
        let argv0 = std::env::args().next().unwrap_or_default();
        stage2::run(&argv0)
    }
}

/// Runs stage 1 until it hands over to stage 2; an error or a rescue request starts a shell,
/// after which it tries again.
fn stage1_forever(sys: &mut RealSys) -> ! {
    sys.console(&format!(
        "strata: stage 1 (strata-init {})",
        env!("CARGO_PKG_VERSION")
    ));
    loop {
        let attempt = stage1::mount_essentials(sys)
            .map_err(Stop::from)
            .and_then(|()| {
                let conf = sys.read_file(INITRD_CONF).ok();
                let conf = conf.as_deref().map(String::from_utf8_lossy);
                let cmdline = sys.read_file("/proc/cmdline").unwrap_or_default();
                let params = BootParams::read(conf.as_deref(), &String::from_utf8_lossy(&cmdline));
                stage1::run(sys, &params)
            });
        match attempt {
            Ok(h) => {
                let env = ["HOME=/".to_owned(), "TERM=linux".to_owned()];
                let e = sys.exec(&h.init, std::slice::from_ref(&h.init), &env);
                // The initramfs is gone: no shell is left to offer.
                sys.console(&format!("strata: cannot start stage 2 ({}): {e}", h.init));
                wait_forever()
            }
            Err(Stop::Rescue) => emergency(
                sys,
                "a shell was asked for on the command line",
                EMERGENCY_SHELL,
            ),
            Err(Stop::Fatal(m)) => emergency(sys, &m, EMERGENCY_SHELL),
        }
    }
}

/// The first shell of: the initrd's, the running generation's, the booted one's.
fn any_shell() -> &'static str {
    [
        EMERGENCY_SHELL,
        "/run/current-system/sw/bin/sh",
        "/run/booted-system/sw/bin/sh",
    ]
    .into_iter()
    .find(|s| Path::new(s).exists())
    .unwrap_or(EMERGENCY_SHELL)
}

/// Says what went wrong and keeps a shell on the console, forever.
pub(crate) fn emergency_forever(sys: &mut RealSys, why: &str) -> ! {
    let shell = any_shell();
    emergency(sys, why, shell);
    loop {
        emergency(sys, "the emergency shell ended; starting another", shell);
    }
}

/// Says what went wrong and runs `shell` on the console until it exits.
fn emergency(sys: &mut RealSys, why: &str, shell: &str) {
    sys.console(&format!("strata: {why}"));
    if !Path::new(shell).exists() {
        sys.console("strata: no shell to start; the system waits (reset it to try again)");
        wait_forever();
    }
    sys.console(&format!(
        "strata: starting an emergency shell ({shell}); exit it to go on"
    ));
    // SAFETY: no threads exist, so the child may run anything before exec.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: plain calls on the child's own descriptors before exec.
        unsafe {
            libc::setsid();
            let console = c"/dev/console";
            let fd = libc::open(console.as_ptr(), libc::O_RDWR);
            if fd >= 0 {
                libc::ioctl(fd, libc::TIOCSCTTY, 1);
                for target in 0..3 {
                    libc::dup2(fd, target);
                }
            }
        }
        let dir = shell.rsplit_once('/').map_or("/bin", |(d, _)| d);
        let env = [
            "HOME=/".to_owned(),
            "TERM=linux".to_owned(),
            format!("PATH={dir}"),
        ];
        let e = sys.exec(shell, &["sh".to_owned()], &env);
        eprintln!("strata: cannot start {shell}: {e}");
        // SAFETY: leaving the forked child without running the parent's destructors.
        unsafe { libc::_exit(127) };
    }
    if pid < 0 {
        sys.console(&format!(
            "strata: cannot start a shell: {}",
            std::io::Error::last_os_error()
        ));
        wait_forever();
    }
    // Reap every child (orphans too) until the shell is gone.
    loop {
        let mut status = 0;
        // SAFETY: waiting for any child with a valid status pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, 0) };
        if r == pid
            || (r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD))
        {
            return;
        }
    }
}

/// Blocks forever without spinning (PID 1 must not exit).
pub(crate) fn wait_forever() -> ! {
    loop {
        // SAFETY: pause only returns when a signal was handled.
        unsafe { libc::pause() };
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
