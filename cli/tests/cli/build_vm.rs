//! `strata build-vm` of the example: the disk and the launcher, and the launcher boots it to
//! the ready marker.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::run;
use crate::system::{example, shared};

#[test]
fn build_vm_makes_a_launcher_that_boots_the_machine() {
    let s = shared();
    let cwd = tempfile::tempdir().unwrap();
    let build_vm = || {
        let mut c = crate::strata();
        c.current_dir(cwd.path())
            .arg("--store-root")
            .arg(s.root())
            .args(["build-vm", "-f"])
            .arg(example())
            .env_remove("STRATA_DEBIAN_MIRROR");
        run(&mut c, None)
    };
    // Two at once in one directory: each writes its files under names of its own and renames
    // them into place, so both succeed and leave one whole disk and nothing else.
    let (a, b) = std::thread::scope(|t| {
        let a = t.spawn(build_vm);
        let b = t.spawn(build_vm);
        (a.join().unwrap(), b.join().unwrap())
    });
    let o = a.ok();
    b.ok();
    assert!(o.stderr.contains("run-saguaro-vm"), "{}", o.stderr);
    let disk = cwd.path().join("saguaro.qcow2");
    assert!(disk.is_file());
    let mut names: Vec<String> = std::fs::read_dir(cwd.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["result", "saguaro.qcow2"]);
    let check = run(
        Command::new("qemu-img").args(["check", "-q"]).arg(&disk),
        None,
    );
    assert!(check.success(), "qemu-img check: {}", check.stderr);
    let launcher = cwd.path().join("result/bin/run-saguaro-vm");
    let script = std::fs::read_to_string(&launcher).unwrap();
    assert!(script.contains(&disk.display().to_string()), "{script}");
    assert!(crate::system::link_target(&cwd.path().join("result")).ends_with("-saguaro-vm"));
    // The launcher is a root: a collection keeps it.
    let mut gc = crate::strata_store(&s.root(), ["gc", "--dry-run"]);
    let o = run(&mut gc, None).ok();
    assert!(!o.text().contains("-saguaro-vm"), "{}", o.text());

    // Boot it as a user would, and stop once the machine is up.
    let mut child = Command::new(&launcher)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut seen = Vec::new();
    let up = loop {
        let text = String::from_utf8_lossy(&seen).into_owned();
        if text.contains("saguaro is up") {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(b) => seen.extend(b),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&seen);
    assert!(up, "the machine did not come up; it printed:\n{}", {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    });
    assert!(text.contains("GNU GRUB"), "the menu is on the terminal");
}
