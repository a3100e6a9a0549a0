//! strata-builder's integration tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "builder/build.rs"]
mod build;
#[path = "builder/common.rs"]
mod common;
#[path = "builder/fhs.rs"]
mod fhs;
#[path = "builder/firewall.rs"]
mod firewall;
#[path = "builder/golden.rs"]
mod golden;
#[path = "builder/modules.rs"]
mod modules;
#[path = "builder/pkgs.rs"]
mod pkgs;
#[path = "builder/scheduler.rs"]
mod scheduler;
#[path = "builder/toplevel.rs"]
mod toplevel;
#[path = "builder/trivial.rs"]
mod trivial;
#[path = "builder/usr_tree.rs"]
mod usr_tree;
