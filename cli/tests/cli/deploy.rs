//! `strata deploy -f fleet.nix` and `strata switch|dry-activate --target-host`, with machines
//! that are machine trees over the shared store of [`crate::system`], reached through a
//! stand-in for `ssh` (given through `STRATA_SSH`). The stand-in runs the far side's command
//! here, with the tree as `STRATA_MACHINE_ROOT`; files beside a machine's tree make it
//! unreachable (`HOST.down`), unreachable while a switch waits for its confirmation
//! (`HOST.locks-out`, as a generation whose firewall shuts SSH out), or without strata
//! (`HOST.no-strata`). The generation's own strata (`/nix/store/...-strata/bin/strata`, which
//! the far side runs for the verbs) is the strata under test.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::system::{example, link_target, repo, shared, Shared};
use crate::{run, Output};

const FAKE_SSH: &str = r#"#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_MACHINES/ssh.log"
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done
[ "$#" -ge 3 ] || { echo "fake ssh: no destination or command" >&2; exit 255; }
host="${2#*@}"
shift 2
tree="$FAKE_MACHINES/$host"
if [ ! -d "$tree" ] || [ -e "$tree.down" ]; then
    echo "ssh: connect to host $host port 22: Connection refused" >&2
    exit 255
fi
cmd="$*"
case "$cmd" in
"sudo -n -- "*) cmd="${cmd#sudo -n -- }"; echo "$cmd" >> "$tree.sudo" ;;
esac
if [ -e "$tree.locks-out" ] && [ -e "$tree/var/lib/strata/pending-confirm.json" ]; then
    case "$cmd" in
    *" switch --toplevel "*) ;;
    *) echo "ssh: connect to host $host port 22: Connection timed out" >&2; exit 255 ;;
    esac
fi
cmd=$(printf '%s' "$cmd" | sed -E 's#^/nix/store/[a-z0-9]{32}-[^ ]*/bin/strata #strata #')
export STRATA_STORE_ROOT="$FAKE_STORE_ROOT" STRATA_MACHINE_ROOT="$tree"
if [ -e "$tree.no-strata" ]; then PATH=/usr/bin:/bin; else PATH="$FAKE_PATH"; fi
export PATH
exec sh -c "$cmd"
"#;

/// The machines' directory, the stand-in for ssh and a fleet's directory.
struct Net {
    dir: tempfile::TempDir,
}

impl Net {
    fn new(s: &Shared, hosts: &[&str]) -> Net {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for h in hosts {
            let m = d.join("machines").join(h);
            fs::create_dir_all(m.join("nix")).unwrap();
            symlink(s.root().join("nix/store"), m.join("nix/store")).unwrap();
        }
        fs::create_dir_all(d.join("bin")).unwrap();
        symlink(env!("CARGO_BIN_EXE_strata"), d.join("bin/strata")).unwrap();
        fs::write(d.join("ssh"), FAKE_SSH).unwrap();
        fs::set_permissions(d.join("ssh"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir_all(d.join("fleet")).unwrap();
        fs::copy(
            repo().join("examples/strata.lock"),
            d.join("fleet/strata.lock"),
        )
        .unwrap();
        // The example without its host name: each machine gets its own.
        let conf = fs::read_to_string(example())
            .unwrap()
            .replace("  networking.hostName = \"saguaro\";\n", "");
        fs::write(d.join("fleet/configuration.nix"), conf).unwrap();
        Net { dir }
    }

    fn machine(&self, host: &str) -> PathBuf {
        self.dir.path().join("machines").join(host)
    }

    /// The file `HOST.WHAT` beside a machine's tree.
    fn side(&self, host: &str, what: &str) -> PathBuf {
        self.dir
            .path()
            .join("machines")
            .join(format!("{host}.{what}"))
    }

    fn mark(&self, host: &str, what: &str, on: bool) {
        let f = self.side(host, what);
        if on {
            fs::write(f, "").unwrap();
        } else {
            let _ = fs::remove_file(f);
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("machines/ssh.log")).unwrap_or_default()
    }

    fn fleet(&self, text: &str) -> PathBuf {
        let f = self.dir.path().join("fleet/fleet.nix");
        fs::write(&f, text).unwrap();
        f
    }

    fn strata(&self, s: &Shared) -> Command {
        let d = self.dir.path();
        let mut c = crate::strata();
        c.arg("--store-root")
            .arg(s.root())
            .env("STRATA_SSH", d.join("ssh"))
            .env_remove("STRATA_SSHOPTS")
            .env_remove("NIX_SSHOPTS")
            .env_remove("STRATA_MACHINE_ROOT")
            .env_remove("STRATA_DEBIAN_MIRROR")
            .env("FAKE_MACHINES", d.join("machines"))
            .env("FAKE_STORE_ROOT", s.root())
            .env(
                "FAKE_PATH",
                format!("{}:/usr/bin:/bin", d.join("bin").display()),
            );
        c
    }

    fn deploy(&self, s: &Shared, fleet: &Path, args: &[&str]) -> Output {
        let mut c = self.strata(s);
        c.arg("deploy").arg("-f").arg(fleet).args(args);
        run(&mut c, None)
    }

    /// The host name in the activation manifest of the generation the machine runs.
    fn hostname(&self, s: &Shared, host: &str) -> String {
        let top = self.current_system(host);
        let link = s
            .root()
            .join(top.trim_start_matches('/'))
            .join("activation.json");
        let manifest = s.root().join(link_target(&link).trim_start_matches('/'));
        let m: serde_json::Value = serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
        m["hostName"].as_str().unwrap().to_owned()
    }

    fn passwd(&self, host: &str) -> String {
        fs::read_to_string(self.machine(host).join("etc/passwd")).unwrap_or_default()
    }

    fn current_system(&self, host: &str) -> String {
        link_target(&self.machine(host).join("run/current-system"))
    }
}

/// The table's line for `machine`, split into its columns (the result with its reason last).
pub(crate) fn row(o: &Output, machine: &str) -> Vec<String> {
    let text = o.text();
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(machine))
        .unwrap_or_else(|| panic!("no row for {machine}:\n{text}\n{}", o.stderr));
    let mut cols: Vec<String> = line.split_whitespace().take(4).map(str::to_owned).collect();
    let rest: Vec<&str> = line.split_whitespace().skip(4).collect();
    cols.push(rest.join(" "));
    cols
}

const TWO: &str = r#"{
  defaults = { imports = [ ./configuration.nix ]; };
  machines = {
    alpha = { deployment.targetHost = "alpha.test"; deployment.tags = [ "web" ]; };
    beta = { lib, ... }: {
      deployment = { targetHost = "beta.test"; targetPort = 2222; targetUser = "deployer"; tags = [ "db" ]; };
      time.timeZone = lib.mkForce "UTC";
    };
  };
}
"#;

#[test]
fn deploy_switches_every_machine_and_one_that_locks_itself_out_reverts() {
    let s = shared();
    let net = Net::new(&s, &["alpha.test", "beta.test"]);
    let fleet = net.fleet(TWO);

    // First deploy: both machines get their first generation, named after the machine.
    let o = net.deploy(&s, &fleet, &[]);
    assert_eq!(o.code, Some(0), "{}\n{}", o.text(), o.stderr);
    assert_eq!(row(&o, "alpha")[1], "ssh://root@alpha.test");
    assert_eq!(row(&o, "beta")[1], "ssh://deployer@beta.test:2222");
    for m in ["alpha", "beta"] {
        let r = row(&o, m);
        assert_eq!(
            (r[2].as_str(), r[3].as_str(), r[4].as_str()),
            ("-", "1", "switched"),
            "{r:?}"
        );
    }
    assert_eq!(net.hostname(&s, "alpha.test"), "alpha");
    assert_eq!(net.hostname(&s, "beta.test"), "beta");
    // beta's user is not root: every command there ran through sudo; none on alpha did.
    let sudo = fs::read_to_string(net.side("beta.test", "sudo")).unwrap_or_default();
    assert!(sudo.contains(" switch --toplevel "), "{sudo}");
    assert!(!net.side("alpha.test", "sudo").exists());
    let first_beta = net.current_system("beta.test");

    // A dry run for the machines tagged web: alpha's plan is printed, nothing changes.
    let with_carol = TWO.replace(
        "defaults = { imports = [ ./configuration.nix ]; };",
        "defaults = { imports = [ ./configuration.nix ]; users.users.carol.isNormalUser = true; };",
    );
    let fleet = net.fleet(&with_carol);
    let o = net.deploy(&s, &fleet, &["--on", "@web", "--dry-activate"]);
    assert_eq!(o.code, Some(0), "{}\n{}", o.text(), o.stderr);
    assert!(o.text().contains("[alpha] would activate"), "{}", o.text());
    assert!(
        o.text().contains("[alpha] users: created user carol"),
        "{}",
        o.text()
    );
    assert_eq!(row(&o, "alpha")[4], "planned");
    assert!(!o.text().contains("beta"), "{}", o.text());
    assert!(!net.passwd("alpha.test").contains("carol"));

    // beta's new generation shuts SSH out: nobody can confirm it, so it goes back by itself
    // at the end of the window; alpha is confirmed and keeps it. The exit status says so.
    net.mark("beta.test", "locks-out", true);
    let o = net.deploy(&s, &fleet, &["--confirm-within", "4s"]);
    assert_eq!(o.code, Some(1), "{}\n{}", o.text(), o.stderr);
    let a = row(&o, "alpha");
    assert_eq!(
        (a[2].as_str(), a[3].as_str(), a[4].as_str()),
        ("1", "2", "switched"),
        "{a:?}"
    );
    let b = row(&o, "beta");
    assert_eq!((b[2].as_str(), b[3].as_str()), ("1", "1"), "{b:?}");
    assert!(b[4].starts_with("reverted: not confirmed"), "{b:?}");
    assert!(net.passwd("alpha.test").contains("carol:"));
    assert_eq!(net.current_system("beta.test"), first_beta);
    assert!(
        o.stderr.contains("did not end on their new generation"),
        "{}",
        o.stderr
    );
    net.mark("beta.test", "locks-out", false);

    // beta is down: alpha is deployed (its generation is the one it has), beta is reported.
    net.mark("beta.test", "down", true);
    let o = net.deploy(&s, &fleet, &["--confirm-within", "4s"]);
    assert_eq!(o.code, Some(1), "{}\n{}", o.text(), o.stderr);
    assert_eq!(row(&o, "alpha")[4], "switched");
    let b = row(&o, "beta");
    assert!(
        b[4].starts_with("unreachable: cannot reach ssh://deployer@beta.test:2222")
            && b[4].contains("Connection refused"),
        "{b:?}"
    );
}

#[test]
fn bad_fleets_and_selections_are_clear_errors_and_spare_the_other_machines() {
    let s = shared();
    let net = Net::new(&s, &["alpha.test", "beta.test", "gamma.test"]);
    let fleet = net.fleet(TWO);

    // An unknown name or tag: refused before anything is built or reached.
    let o = net.deploy(&s, &fleet, &["--on", "alpha", "--on", "gamma"]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("has no machine named 'gamma' (it has: alpha, beta)"),
        "{}",
        o.stderr
    );
    let o = net.deploy(&s, &fleet, &["--on", "@nope"]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("no machine of") && o.stderr.contains("the tag 'nope'"),
        "{}",
        o.stderr
    );
    assert_eq!(net.log(), "", "no machine was reached");

    // A fleet file of another shape, and a deployment value of the wrong type.
    let bad = net.fleet("{ machines = { }; hosts = 1; }");
    let o = net.deploy(&s, &bad, &[]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("unknown attribute `hosts'"),
        "{}",
        o.stderr
    );
    let bad = net.fleet(
        "{ defaults = { imports = [ ./configuration.nix ]; }; machines.x.deployment.targetPort = \"22\"; }",
    );
    let o = net.deploy(&s, &bad, &[]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("machine x") && o.stderr.contains("deployment.targetPort"),
        "{}",
        o.stderr
    );

    // One machine without a target, one whose host has no strata: each fails with its
    // reason; the third is deployed.
    net.mark("beta.test", "no-strata", true);
    let three = r#"{
  defaults = { imports = [ ./configuration.nix ]; };
  machines.alpha = { };
  machines.beta.deployment.targetHost = "beta.test";
  machines.gamma.deployment.targetHost = "gamma.test";
}
"#;
    let o = net.deploy(&s, &net.fleet(three), &[]);
    assert_eq!(o.code, Some(1), "{}\n{}", o.text(), o.stderr);
    assert_eq!(
        row(&o, "alpha")[4],
        "failed: deployment.targetHost is not set"
    );
    let b = row(&o, "beta")[4].clone();
    assert!(
        b.starts_with("failed: strata not found on ssh://root@beta.test"),
        "{b}"
    );
    assert_eq!(row(&o, "gamma")[4], "switched");
    assert_eq!(net.hostname(&s, "gamma.test"), "gamma");
    assert!(!net.machine("alpha.test").join("etc").exists());
    assert!(!net.machine("beta.test").join("etc").exists());
}

#[test]
fn target_host_switches_another_machine_and_confirms_from_here() {
    let s = shared();
    let net = Net::new(&s, &["alpha.test"]);
    let conf = net.dir.path().join("fleet/configuration.nix");
    let verb = |args: &[&str]| {
        let mut c = net.strata(&s);
        c.args(args).arg("-f").arg(&conf);
        run(&mut c, None)
    };

    // dry-activate there: the plan, nothing changed.
    let o = verb(&["dry-activate", "--target-host", "alpha.test"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.text().contains("would activate"), "{}", o.text());
    assert!(!net
        .machine("alpha.test")
        .join("run/current-system")
        .exists());

    // A switch as another user, through sudo, with a window confirmed from here.
    let o = verb(&[
        "switch",
        "--target-host",
        "deployer@alpha.test",
        "--use-remote-sudo",
        "--json",
    ]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let first = net.current_system("alpha.test");
    let o = verb(&[
        "switch",
        "--target-host",
        "deployer@alpha.test",
        "--use-remote-sudo",
        "--confirm-within",
        "30s",
    ]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.text()
            .contains("confirmed from here: ssh://deployer@alpha.test keeps generation"),
        "{}",
        o.text()
    );
    assert_eq!(
        net.current_system("alpha.test"),
        first,
        "the same configuration"
    );
    let sudo = fs::read_to_string(net.side("alpha.test", "sudo")).unwrap();
    assert!(sudo.contains(" confirm --json"), "{sudo}");
    assert!(
        net.log()
            .lines()
            .filter(|l| l.contains(" confirm --json"))
            .count()
            >= 1
    );

    // Built on a build host (its own machine; the same store here, so the proof is that every
    // derivation went there to be built, and none was built here), then switched there.
    let stamp = format!("{:?}", std::time::SystemTime::now());
    let stamped = net.dir.path().join("fleet/stamped.nix");
    fs::write(
        &stamped,
        fs::read_to_string(&conf).unwrap().replace(
            "  system.stateVersion",
            &format!(
                "  environment.etc.stamp.source = pkgs.writeText \"stamp\" \"{stamp}\";\n\n  \
                 system.stateVersion"
            ),
        ),
    )
    .unwrap();
    fs::create_dir_all(net.machine("builder.test")).unwrap();
    let mut c = net.strata(&s);
    c.args([
        "switch",
        "--target-host",
        "alpha.test",
        "--build-host",
        "builder.test",
        "-f",
    ])
    .arg(&stamped);
    let o = run(&mut c, None);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stderr.contains("build host: sent"), "{}", o.stderr);
    assert!(
        o.stderr.contains("build host: built /nix/store/"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("nothing to build: the toplevel is up to date"),
        "{}",
        o.stderr
    );
    let realised: Vec<String> = net
        .log()
        .lines()
        .filter(|l| l.contains("builder.test") && l.contains(" realise "))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        realised.len(),
        2,
        "prerequisites, then the toplevel: {realised:?}"
    );
    assert!(realised[0].contains("-stamp.drv"), "{realised:?}");
    assert!(realised[1].contains("-strata-system-"), "{realised:?}");
    assert!(!net
        .log()
        .lines()
        .any(|l| l.contains("alpha.test") && l.contains(" realise ")));
    let etc = {
        let top = net.current_system("alpha.test");
        let link = s.root().join(top.trim_start_matches('/')).join("etc");
        s.root().join(link_target(&link).trim_start_matches('/'))
    };
    assert!(
        fs::symlink_metadata(etc.join("etc/stamp")).is_ok(),
        "{}",
        etc.display()
    );

    // An unreachable target: nothing is built there, exit 1 with ssh's reason.
    net.mark("alpha.test", "down", true);
    let o = verb(&["switch", "--target-host", "alpha.test"]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("cannot reach ssh://alpha.test")
            && o.stderr.contains("Connection refused"),
        "{}",
        o.stderr
    );
    // --root is this machine's business, not another's.
    let o = verb(&["switch", "--target-host", "alpha.test", "--root", "/tmp"]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("--root and --target-host"),
        "{}",
        o.stderr
    );
}

#[test]
fn deploy_takes_the_fleet_of_a_flake() {
    let s = shared();
    let net = Net::new(&s, &["alpha.test"]);
    // A flake's tree goes into the store: its machines' passwords are hashed.
    let flake = net.dir.path().join("flake");
    fs::create_dir_all(&flake).unwrap();
    fs::write(
        flake.join("configuration.nix"),
        crate::flake::common_module(),
    )
    .unwrap();
    fs::write(
        flake.join("flake.nix"),
        r#"{
  outputs = { self }: {
    deploy = {
      defaults = { imports = [ ./configuration.nix ]; };
      machines.alpha = {
        deployment.targetHost = "alpha.test";
        environment.etc."fleet-from".text = builtins.getEnv "HOME" + "flake";
      };
    };
  };
}
"#,
    )
    .unwrap();
    let deploy = |args: &[&str]| {
        let mut c = net.strata(&s);
        c.current_dir(&flake).arg("deploy").args(args);
        run(&mut c, None)
    };
    let o = deploy(&["--flake", "."]);
    assert_eq!(o.code, Some(0), "{}\n{}", o.text(), o.stderr);
    assert_eq!(row(&o, "alpha")[1], "ssh://root@alpha.test");
    assert_eq!(row(&o, "alpha")[4], "switched");
    assert_eq!(net.hostname(&s, "alpha.test"), "alpha");
    assert!(o.stderr.contains("strata's own lock"), "{}", o.stderr);
    // Evaluated purely: HOME was "".
    let top = net.current_system("alpha.test");
    assert_eq!(crate::flake::etc_text(&s, &top, "fleet-from"), "flake");

    // A flake without a fleet, and --on naming no machine of it.
    let o = deploy(&["--flake", ".", "--on", "beta"]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("#deploy has no machine named 'beta' (it has: alpha)"),
        "{}",
        o.stderr
    );
    fs::write(flake.join("flake.nix"), "{ outputs = { self }: { }; }\n").unwrap();
    let o = deploy(&["--flake", "."]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(o.stderr.contains("has no outputs.deploy"), "{}", o.stderr);
}
