//! `strata build-vm --flake git+file://REPO#NAME`: a machine of a flake in a git repository
//! (made here with `git init`) built as a VM; its disk booted under BIOS, and the flake's
//! configuration checked on the running machine: host name, a file in /etc that names the
//! flake's revision, the example's user, and what the machine keeps of where it came from.

use strata_qemu_tests::{DiskBoot, Firmware};

use super::{boot, ok, power_off};
use crate::flake::common_module;
use crate::flake::{git, Repos};
use crate::run;
use crate::system::shared;

#[test]
fn build_vm_of_a_flake_boots_its_machine() {
    let s = shared();
    let r = Repos::new();
    let common = common_module().replace(
        "  system.stateVersion",
        "  testing.commandChannel.enable = true;\n\n  system.stateVersion",
    );
    assert!(common.contains("commandChannel"), "{common}");
    let repo = r.repo(
        "machines",
        &[
            (
                "flake.nix",
                "{\n  description = \"a VM from a flake\";\n  \
                 outputs = { self }: {\n    \
                   strataConfigurations.flakevm = [ ./common.nix {\n      \
                     networking.hostName = \"flakevm\";\n      \
                     environment.etc.\"flake-rev\".text = \"built from ${self.rev}\";\n    \
                   } ];\n  };\n}\n",
            ),
            ("common.nix", &common),
        ],
    );
    let rev = git(r.home.path(), &repo, &["rev-parse", "HEAD"]);
    let url = format!("git+file://{}#flakevm", repo.display());

    let cwd = r.path("vm");
    std::fs::create_dir_all(&cwd).unwrap();
    let mut c = crate::strata();
    c.current_dir(&cwd)
        .arg("--store-root")
        .arg(s.root())
        .args(["build-vm", "--flake", &url])
        .env_remove("STRATA_DEBIAN_MIRROR");
    let o = run(&mut c, None).ok();
    assert!(o.stderr.contains("run-flakevm-vm"), "{}", o.stderr);
    let disk = cwd.join("flakevm.qcow2");
    assert!(disk.is_file(), "{}", o.stderr);
    assert!(cwd.join("result/bin/run-flakevm-vm").is_file());

    let machine = DiskBoot::new(&disk, "qcow2", Firmware::Bios, &r.path("boot")).unwrap();
    let m = boot(&machine, "build-vm --flake");
    assert_eq!(ok(&m, "cat /proc/sys/kernel/hostname").trim(), "flakevm");
    assert_eq!(
        ok(&m, "cat /etc/flake-rev").trim_end(),
        format!("built from {rev}")
    );
    let id = ok(&m, "id alice");
    assert!(id.contains("uid=1000(alice)"), "{id}");
    // The machine keeps a file naming the flake (its configuration is not on the disk), and
    // the lock it was built with.
    let kept = ok(&m, "cat /etc/strata/configuration.nix");
    assert!(
        kept.contains(&format!("built from the flake {url}"))
            && kept.contains(&rev)
            && kept.contains("strata switch --flake"),
        "{kept}"
    );
    ok(&m, "test -s /etc/strata/strata.lock");
    power_off(m);
}
