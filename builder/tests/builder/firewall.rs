//! The firewall (`modules/services/firewall.nix`) as a system build makes it, over a tree of
//! this host's Debian `nft` and its libraries laid out as `pkgs.debianTools [ "nftables" ]`
//! lays out Debian's: the rule set is checked by `nft --check` in the sandbox (the kernel
//! asked, in a user and network namespace of the build's own), a rule nft or the kernel
//! rejects fails the build naming its line, and the service's commands load the table,
//! replace it on a second load, run extraCommands and remove it on stop, with no `/usr`.

use std::path::{Path, PathBuf};
use std::process::Command;

use strata_builder::scheduler::{realise_all, SchedulerOptions};
use strata_store::StorePath;

use crate::common::{harness, DrvSpec, Harness};

const NFT: &str = "/usr/sbin/nft";
const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";

/// `usr/sbin/nft`, its libraries and the loader in `usr/lib/x86_64-linux-gnu` (where Debian's
/// libc6 puts it once usr-merged), and `usr/lib64/ld-linux-x86-64.so.2` for programs that
/// name it as their interpreter.
fn nft_tree(h: &mut Harness) -> StorePath {
    assert!(
        Path::new(NFT).exists(),
        "the firewall tests need {NFT}: install Debian's nftables (scripts/setup --tests)"
    );
    let tree = h.dir.path().join("nft-tools");
    let libdir = tree.join("usr/lib/x86_64-linux-gnu");
    std::fs::create_dir_all(tree.join("usr/sbin")).unwrap();
    std::fs::create_dir_all(tree.join("usr/lib64")).unwrap();
    std::fs::create_dir_all(&libdir).unwrap();
    std::fs::copy(NFT, tree.join("usr/sbin/nft")).unwrap();
    let out = Command::new("ldd")
        .arg(NFT)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C")
        .output()
        .expect("run ldd");
    assert!(out.status.success(), "ldd {NFT}");
    let libs: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split("=> ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|p| p.starts_with('/'))
        .map(PathBuf::from)
        .collect();
    assert!(libs.len() > 3, "ldd found no libraries of {NFT}");
    for lib in libs {
        std::fs::copy(&lib, libdir.join(lib.file_name().unwrap())).unwrap();
    }
    std::fs::copy(LOADER, libdir.join("ld-linux-x86-64.so.2")).unwrap();
    std::fs::copy(LOADER, tree.join("usr/lib64/ld-linux-x86-64.so.2")).unwrap();
    h.store
        .add_path(&tree, Some("tools-nftables"))
        .unwrap()
        .path
}

/// What a configuration's firewall evaluates to: the service's commands' derivations and
/// paths, and the rule set.
struct Firewall {
    start_drv: StorePath,
    stop_drv: StorePath,
    start: String,
    stop: String,
    ruleset: String,
}

fn evaluate(h: &Harness, tree: &StorePath, firewall: &str) -> Firewall {
    let j = crate::fhs::eval_json(
        h,
        tree,
        &format!(
            "let c = (import (modules + \"/eval-config.nix\") {{ \
               configuration = {{ networking.firewall = {firewall}; }}; \
               modulesDir = modules; inherit pkgs; }}).config; \
             s = c.systemd.services.firewall.serviceConfig; \
             drv = x: builtins.head (builtins.attrNames (builtins.getContext x)); \
           in assert s.ExecReload == s.ExecStart; \
             {{ startDrv = drv s.ExecStart; stopDrv = drv s.ExecStop; start = s.ExecStart; \
                stop = s.ExecStop; ruleset = c.networking.firewall.ruleset; }}"
        ),
    );
    let s = |k: &str| j[k].as_str().unwrap().to_owned();
    let path = |k: &str| h.store.store_dir().parse(&s(k)).unwrap();
    Firewall {
        start_drv: path("startDrv"),
        stop_drv: path("stopDrv"),
        start: s("start"),
        stop: s("stop"),
        ruleset: s("ruleset"),
    }
}

fn build(h: &Harness, drvs: &[StorePath]) -> Result<(), String> {
    realise_all(
        &h.root,
        h.store.store_dir(),
        drvs,
        &SchedulerOptions::default(),
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// The 1-based number of the rule set's line that is `rule` (indented).
fn line_of(ruleset: &str, rule: &str) -> usize {
    ruleset
        .lines()
        .position(|l| l.trim() == rule)
        .unwrap_or_else(|| panic!("no line {rule:?} in\n{ruleset}"))
        + 1
}

#[test]
fn the_firewall_is_checked_and_its_service_loads_replaces_and_removes_the_table() {
    let mut h = harness();
    let tree = nft_tree(&mut h);
    let fw = evaluate(
        &h,
        &tree,
        "{ allowedTCPPorts = [ 22 ]; interfaces.eth0.allowedUDPPortRanges = [ { from = 5000; to = 5100; } ]; \
           extraCommands = \"nft add rule inet strata-fw input-allow tcp dport 7777 accept\"; \
           extraStopCommands = \"nft list ruleset > $out/after-stop\"; }",
    );
    build(&h, &[fw.start_drv.clone(), fw.stop_drv.clone()]).unwrap_or_else(|e| panic!("{e}"));

    // The start command loads the checked copy of the rule set.
    let start = std::fs::read_to_string(
        h.store
            .real_path(&h.store.store_dir().parse(&fw.start).unwrap()),
    )
    .unwrap();
    let rules = start
        .lines()
        .find_map(|l| l.trim().strip_prefix("nft -f "))
        .unwrap_or_else(|| panic!("no `nft -f` in\n{start}"));
    let rules = h.store.store_dir().parse(rules).unwrap();
    assert_eq!(
        std::fs::read_to_string(h.store.real_path(&rules)).unwrap(),
        fw.ruleset
    );
    let nft_dir = start
        .lines()
        .find_map(|l| {
            l.strip_prefix("PATH=")
                .and_then(|p| p.strip_suffix(":$PATH"))
        })
        .unwrap_or_else(|| panic!("no PATH in\n{start}"));

    // Started twice (a reload), listed, stopped: in a network namespace of the build's own,
    // without FHS mode, so nothing comes from a /usr.
    let script = format!(
        "mkdir \"$out\"; [ ! -e /usr ] && {bb} unshare -rn {bb} sh -e -c '{start}; {start}; \
         {nft_dir}/nft list ruleset > \"$out/loaded\"; {stop}'",
        bb = h.busybox,
        start = fw.start,
        stop = fw.stop,
    );
    let start_path = h.store.store_dir().parse(&fw.start).unwrap();
    let stop_path = h.store.store_dir().parse(&fw.stop).unwrap();
    let (p, d) = h.write_drv(DrvSpec {
        name: "firewall-run",
        script: &script,
        outputs: &["out"],
        input_srcs: &[&start_path, &stop_path],
        ..Default::default()
    });
    let outs = strata_builder::build::realise(&mut h.store, &p, &d, &Default::default())
        .unwrap_or_else(|e| panic!("the firewall's commands failed: {e}"));
    let out = h.store.real_path(&outs["out"]);
    let loaded = std::fs::read_to_string(out.join("loaded")).unwrap();
    assert!(loaded.contains("table inet strata-fw {"), "{loaded}");
    assert!(loaded.contains("policy drop;"), "{loaded}");
    assert!(loaded.contains("tcp dport 22 accept"), "{loaded}");
    assert!(
        loaded.contains("iifname \"eth0\" udp dport 5000-5100 accept"),
        "{loaded}"
    );
    assert_eq!(loaded.matches("table inet").count(), 1, "{loaded}");
    assert_eq!(
        loaded.matches("tcp dport 7777 accept").count(),
        1,
        "{loaded}"
    );
    let after_stop = std::fs::read_to_string(out.join("after-stop")).unwrap();
    assert_eq!(after_stop, "", "the table is left after stop");
}

#[test]
fn a_rule_nft_or_the_kernel_rejects_fails_the_build_naming_its_line() {
    let mut h = harness();
    let tree = nft_tree(&mut h);
    for (rule, why) in [
        ("tcp dport 22 acept", "syntax error, unexpected newline"),
        // Parsed, but refused by the kernel: the check is not only nft's parser.
        (
            "tcp dport 22 jump nowhere",
            "Could not process rule: No such file or directory",
        ),
    ] {
        let fw = evaluate(
            &h,
            &tree,
            &format!("{{ allowedTCPPorts = [ 80 ]; extraInputRules = \"{rule}\"; }}"),
        );
        let e = build(&h, &[fw.start_drv]).unwrap_err();
        let n = line_of(&fw.ruleset, rule);
        let want = format!(
            "networking.firewall: line {n} of the rule set (\"{rule}\") rejected by nft: {why}"
        );
        assert!(e.contains(&want), "{e}\ndoes not contain\n{want}");
    }
}
