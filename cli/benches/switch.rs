//! `strata switch` between two generations that differ in host name, time zone, one user and
//! one service, on a machine tree (`--root`).
//!
//! ```text
//! cargo bench -p strata-cli --bench switch
//! ```
//!
//! Both configurations are built first (the example, and the example with another host name,
//! `America/Denver`, a user `bob` and a changed `hello` service). Then:
//!
//! 1. `activation`: the library's switch (activation, profile, boot menu) from one to the other
//!    and back, the figure per direction;
//! 2. `strata switch, configuration unchanged`: the whole command: evaluation, an up-to-date
//!    build, activation, profile and boot menu;
//! 3. `dry-activate`: evaluation and the plan.
//!
//! Each runs `STRATA_BENCH_REPS` times (3 by default); the best is shown. NixOS's
//! `switch-to-configuration` cannot run here (no NixOS system, no systemd as PID 1), so there
//! is no peer column of times.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use strata_activate::switch::{switch, Action, SwitchOptions};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");

fn strata(store: &Path, args: &[&str]) -> (Duration, String) {
    let start = Instant::now();
    let out = Command::new(STRATA)
        .arg("--store-root")
        .arg(store)
        .args(args)
        .env_remove("STRATA_DEBIAN_MIRROR")
        .output()
        .unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "strata {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        took,
        String::from_utf8(out.stdout).unwrap().trim().to_owned(),
    )
}

fn best(times: &[Duration]) -> String {
    format!("{:.3} s", times.iter().min().unwrap().as_secs_f64())
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let machine = dir.path().join("machine");
    fs::create_dir_all(machine.join("nix")).unwrap();
    fs::create_dir_all(store.join("nix/store")).unwrap();
    std::os::unix::fs::symlink(store.join("nix/store"), machine.join("nix/store")).unwrap();
    let example = fs::read_to_string(common::repo().join("examples/configuration.nix")).unwrap();
    let changed = example
        .replace("\"saguaro\"", "\"mesquite\"")
        .replace("America/Phoenix", "America/Denver")
        .replace(
            "  users.users.alice = {",
            "  users.users.bob = { isNormalUser = true; };\n  users.users.alice = {",
        )
        .replace("echo \"hello from", "echo \"hello again from");
    let mut configs = Vec::new();
    for (name, text) in [("a", example), ("b", changed)] {
        let d = dir.path().join(name);
        fs::create_dir_all(&d).unwrap();
        fs::copy(
            common::repo().join("examples/strata.lock"),
            d.join("strata.lock"),
        )
        .unwrap();
        fs::write(d.join("configuration.nix"), text).unwrap();
        configs.push(d.join("configuration.nix"));
    }
    let tops: Vec<String> = configs
        .iter()
        .map(|c| {
            strata(
                &store,
                &["build", "--no-out-link", "-f", c.to_str().unwrap()],
            )
            .1
        })
        .collect();
    let o = SwitchOptions::default();
    switch(&machine, &tops[0], Action::Switch, &o).unwrap();
    let (mut there, mut back) = (Vec::new(), Vec::new());
    for _ in 0..common::reps() {
        let t = Instant::now();
        switch(&machine, &tops[1], Action::Switch, &o).unwrap();
        there.push(t.elapsed());
        let t = Instant::now();
        switch(&machine, &tops[0], Action::Switch, &o).unwrap();
        back.push(t.elapsed());
    }
    let root = machine.to_str().unwrap();
    let a = configs[0].to_str().unwrap();
    let (mut whole, mut dry) = (Vec::new(), Vec::new());
    for _ in 0..common::reps() {
        whole.push(strata(&store, &["switch", "--root", root, "-f", a]).0);
        dry.push(
            strata(
                &store,
                &[
                    "dry-activate",
                    "--root",
                    root,
                    "-f",
                    configs[1].to_str().unwrap(),
                ],
            )
            .0,
        );
    }
    println!("| case | strata | NixOS switch-to-configuration |");
    println!("|---|---|---|");
    println!(
        "| activation: host name, time zone, a user, a service (a -> b) | {} | cannot run here |",
        best(&there)
    );
    println!(
        "| activation, back (b -> a) | {} | cannot run here |",
        best(&back)
    );
    println!(
        "| `strata switch`, configuration unchanged (evaluate, build, activate, menu) | {} | cannot run here |",
        best(&whole)
    );
    println!(
        "| `strata dry-activate` | {} | cannot run here |",
        best(&dry)
    );
}
