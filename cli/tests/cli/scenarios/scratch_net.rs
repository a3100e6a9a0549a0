//! Temporary: DHCP bring-up diagnostics.
use super::{config, image, ready};
use crate::system::shared;
use std::time::Duration;
use strata_qemu_tests::{DiskBoot, Firmware, Machine, Nic};

#[test]
fn scratch_dhcp() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let conf = config(&dir.path().join("conf"), &|t| {
        t.replace(
            "  system.stateVersion",
            "  environment.systemPackages = [ pkgs.netcat-openbsd ];\n  system.stateVersion",
        )
    });
    let img = image(&s, &conf, "raw", dir.path());
    let mut disk = DiskBoot::new(&img, "raw", Firmware::Bios, &dir.path().join("vm")).unwrap();
    disk.nics = vec![Nic::User { forwards: vec![] }];
    let m = Machine::boot_disk(&disk).unwrap();
    ready(&m, "scratch");
    for c in [
        "ip addr",
        "ip route",
        "cat /etc/resolv.conf",
        "ls -la /etc/resolv.conf /run/strata",
        "lsmod | head -30",
        "cat /var/log/strata/dhcpcd.log",
        "cat /var/log/strata/network-setup.log",
        "cat /var/log/strata/kmod-coldplug.log",
        "/run/current-system/strata/bin/strata status 2>&1 || true",
        "getent hosts saguaro",
    ] {
        let r = m.run(c, Duration::from_secs(60)).unwrap();
        eprintln!("$ {c}\n{}", r.output);
    }
    eprintln!("{}", m.last_lines(60));
    super::power_off(m);
}
