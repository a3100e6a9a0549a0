//! The services of a generation, as its activation manifest declares them, and the decisions
//! the supervisor makes about them: which start at boot and in what order, and when and how
//! soon one that exited starts again. Pure: the supervisor ([`crate::stage2`]) does the
//! system calls.
//!
//! Units are named as in NixOS: `foo` and `foo.service` are the service `foo`; other units
//! than services and targets (`foo.socket`) are not supervised and are satisfied at once.
//! The boot starts every service wanted by `multi-user.target` or `default.target`, with the
//! services they `wants` or `requires` ([`boot_set`]), each after those of its `after` that
//! are started too ([`ordered_after`]). Targets are synchronisation points, as in systemd:
//!
//! - A target always exists; `wants` or `requires` of one pulls in every service that lists
//!   it in `wantedBy` (none is fine: a target nothing provides is reached at once).
//! - A target other than the boot targets (`network.target`, `network-online.target`) is
//!   reached when every service wanted by it that is being started is ready; a service
//!   `after` it waits for those services (never for itself). The boot targets order nothing:
//!   every boot service is wanted by one.
//! - An ordering cycle through a target is a cycle like any other, and its error names the
//!   target.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The longest wait between restarts.
pub const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);

/// A service that stayed up this long is healthy: its next failure restarts it after its
/// `RestartSec` again, not after the grown delay.
pub const STABLE_AFTER: Duration = Duration::from_secs(30);

pub use strata_activate::manifest::{ActivationManifest, Service, ServiceConfig};
pub use strata_activate::services::{
    boot_set, is_target, service_name, service_plan, sync_target, ServicePlan, BOOT_TARGETS,
};

/// Why the services of a system cannot be put in an order.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("service {service} requires {requirement}, which is not a service of this system")]
    MissingRequirement {
        service: String,
        requirement: String,
    },
    #[error(
        "the services {} order each other in a cycle (through `after`{})",
        .services.join(", "),
        .targets.iter().map(|t| format!(" and {t}")).collect::<String>()
    )]
    Cycle {
        services: Vec<String>,
        /// The targets whose ordering is part of it.
        targets: Vec<String>,
    },
}

/// The services to start at boot, in start order: [`boot_set`], ordered by [`start_order`].
/// A required service that does not exist, or an ordering cycle, is an error naming it.
pub fn boot_order(services: &BTreeMap<String, Service>) -> Result<Vec<String>, OrderError> {
    let chosen = boot_set(services);
    for n in &chosen {
        for r in &services[n].requires {
            if service_name(r).is_some_and(|d| !services.contains_key(d)) {
                return Err(OrderError::MissingRequirement {
                    service: n.clone(),
                    requirement: r.clone(),
                });
            }
        }
    }
    start_order(services, &chosen)
}

/// The services `name` (defined by `spec`) is ordered after among `among`: those its `after`
/// names, and for each synchronisation target there ([`sync_target`]) those of `among` that
/// are wanted by it. Never `name` itself.
pub fn ordered_after<'a>(
    name: &str,
    spec: &Service,
    among: &[(&'a str, &'a Service)],
) -> BTreeSet<&'a str> {
    let mut deps = BTreeSet::new();
    for unit in &spec.after {
        if let Some(t) = sync_target(unit) {
            deps.extend(
                among
                    .iter()
                    .filter(|(n, s)| *n != name && s.wanted_by.iter().any(|w| w == t))
                    .map(|(n, _)| *n),
            );
        } else if let Some(d) = service_name(unit) {
            deps.extend(
                among
                    .iter()
                    .map(|(n, _)| *n)
                    .find(|n| *n == d && *n != name),
            );
        }
    }
    deps
}

/// `names` ordered so that each comes after those it is [`ordered_after`] among `names`;
/// ties by name.
pub fn start_order(
    services: &BTreeMap<String, Service>,
    names: &BTreeSet<String>,
) -> Result<Vec<String>, OrderError> {
    let among: Vec<(&str, &Service)> = names.iter().map(|n| (n.as_str(), &services[n])).collect();
    let before: BTreeMap<&str, BTreeSet<&str>> = among
        .iter()
        .map(|(n, s)| (*n, ordered_after(n, s, &among)))
        .collect();
    let mut out: Vec<String> = Vec::new();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    while done.len() < names.len() {
        let ready: Vec<&str> = before
            .iter()
            .filter(|(n, deps)| !done.contains(*n) && deps.iter().all(|d| done.contains(d)))
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            let stuck: Vec<&str> = before
                .keys()
                .filter(|n| !done.contains(*n))
                .copied()
                .collect();
            // The targets some stuck service waits on through another stuck one.
            let targets: BTreeSet<&str> = stuck
                .iter()
                .flat_map(|n| services[*n].after.iter().filter_map(|a| sync_target(a)))
                .filter(|t| {
                    stuck
                        .iter()
                        .any(|m| services[*m].wanted_by.iter().any(|w| w == t))
                })
                .collect();
            return Err(OrderError::Cycle {
                services: stuck.iter().map(|n| (*n).to_owned()).collect(),
                targets: targets.into_iter().map(str::to_owned).collect(),
            });
        }
        for n in ready {
            done.insert(n);
            out.push(n.to_owned());
        }
    }
    Ok(out)
}

/// How a service's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exited with status {c}"),
            Exit::Signal(s) => write!(f, "was killed by signal {s}"),
        }
    }
}

/// Whether `Restart=<policy>` restarts a service that ended so (systemd's table; signals
/// that are a clean stop, SIGTERM and friends, count as success).
pub fn should_restart(policy: &str, exit: Exit) -> bool {
    let clean_signal = matches!(
        exit,
        Exit::Signal(s) if [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGPIPE].contains(&s)
    );
    let success = exit.success() || clean_signal;
    match policy {
        "always" => true,
        "on-success" => success,
        "on-failure" => !success,
        "on-abnormal" => matches!(exit, Exit::Signal(_)) && !clean_signal,
        _ => false,
    }
}

/// `RestartSec` as systemd writes it: seconds (`5`), or with units (`500ms`, `2s`, `1min`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" | "sec" => n,
        "ms" | "msec" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" | "hr" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// The wait before restart number `attempt` (1 for the first): `RestartSec`, doubled for
/// each further attempt, at most [`MAX_RESTART_DELAY`] (but never less than `RestartSec`).
pub fn restart_delay(base: Duration, attempt: u32) -> Duration {
    let grown = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    grown.min(MAX_RESTART_DELAY.max(base))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests {
    use super::*;

    /// A service of `kind` (`Type=`) running `true`.
    pub(crate) fn service(kind: &str) -> Service {
        Service {
            enable: true,
            description: String::new(),
            wanted_by: Vec::new(),
            after: Vec::new(),
            requires: Vec::new(),
            wants: Vec::new(),
            environment: BTreeMap::new(),
            path: Vec::new(),
            script: "true".into(),
            pre_start: String::new(),
            restart_if_changed: true,
            reload_if_changed: false,
            reload_triggers: Vec::new(),
            service_config: ServiceConfig {
                ExecStart: None,
                ExecReload: None,
                ExecStop: None,
                Type: kind.into(),
                RemainAfterExit: false,
                Restart: "no".into(),
                RestartSec: "1".into(),
                User: "root".into(),
                Group: None,
                WorkingDirectory: None,
            },
        }
    }

    fn svc(wanted_by: &[&str], after: &[&str], requires: &[&str], wants: &[&str]) -> Service {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Service {
            description: String::new(),
            wanted_by: v(wanted_by),
            after: v(after),
            requires: v(requires),
            wants: v(wants),
            ..service("simple")
        }
    }

    #[test]
    fn boot_order_follows_after_and_pulls_in_wants_and_requires() {
        let mut s = BTreeMap::new();
        s.insert(
            "web".into(),
            svc(
                &["multi-user.target"],
                &["db.service", "network.target"],
                &["db.service"],
                &[],
            ),
        );
        s.insert("db".into(), svc(&[], &["disk"], &[], &["metrics"]));
        s.insert("disk".into(), svc(&["multi-user.target"], &[], &[], &[]));
        s.insert("metrics".into(), svc(&[], &[], &[], &[]));
        s.insert("idle".into(), svc(&[], &[], &[], &[]));
        s.insert("hello".into(), svc(&["default.target"], &[], &[], &[]));
        let order = boot_order(&s).unwrap();
        assert_eq!(order, ["disk", "hello", "metrics", "db", "web"]);
        assert!(
            !order.contains(&"idle".to_owned()),
            "not wanted by anything"
        );
    }

    #[test]
    fn missing_requirements_and_cycles_are_named() {
        let mut s = BTreeMap::new();
        s.insert(
            "a".into(),
            svc(&["multi-user.target"], &[], &["ghost.service"], &[]),
        );
        let e = boot_order(&s).unwrap_err().to_string();
        assert!(e.contains("a requires ghost.service"), "{e}");

        let mut s = BTreeMap::new();
        s.insert("a".into(), svc(&["multi-user.target"], &["b"], &[], &[]));
        s.insert(
            "b".into(),
            svc(&["multi-user.target"], &["a.service"], &[], &[]),
        );
        s.insert("c".into(), svc(&["multi-user.target"], &[], &[], &[]));
        let e = boot_order(&s).unwrap_err().to_string();
        assert_eq!(
            e,
            "the services a, b order each other in a cycle (through `after`)"
        );
    }

    #[test]
    fn targets_order_and_pull_in() {
        let mut s = BTreeMap::new();
        // web waits for what network-online.target is wanted by, and pulls it in.
        s.insert(
            "web".into(),
            svc(
                &["multi-user.target"],
                &["network-online.target"],
                &[],
                &["network-online.target"],
            ),
        );
        s.insert(
            "dhcp".into(),
            svc(&["network-online.target"], &[], &[], &[]),
        );
        s.insert(
            "wait-online".into(),
            svc(&["network-online.target"], &["dhcp"], &[], &[]),
        );
        // Wanted by the target it is ordered after: waits for the others, never for itself.
        s.insert(
            "self".into(),
            svc(
                &["multi-user.target", "network-online.target"],
                &["network-online.target"],
                &[],
                &[],
            ),
        );
        // A required target nothing is wanted by is reached at once; the boot targets and
        // other units order nothing.
        s.insert(
            "alone".into(),
            svc(
                &["multi-user.target"],
                &["network.target", "multi-user.target", "dev-sda.device"],
                &["network.target"],
                &[],
            ),
        );
        s.insert("vpn".into(), svc(&["vpn.target"], &[], &[], &[]));
        let order = boot_order(&s).unwrap();
        assert_eq!(order, ["alone", "dhcp", "wait-online", "self", "web"]);
        assert!(
            !order.contains(&"vpn".to_owned()),
            "nothing wants vpn.target"
        );

        // start_order alone: the target's services among those given.
        let names: BTreeSet<String> = ["web", "wait-online"].map(String::from).into();
        assert_eq!(start_order(&s, &names).unwrap(), ["wait-online", "web"]);
        let names: BTreeSet<String> = ["web", "vpn"].map(String::from).into();
        assert_eq!(start_order(&s, &names).unwrap(), ["vpn", "web"]);
    }

    #[test]
    fn cycles_through_targets_are_cycles() {
        let mut s = BTreeMap::new();
        s.insert(
            "web".into(),
            svc(
                &["multi-user.target"],
                &["network-online.target"],
                &["network-online.target"],
                &[],
            ),
        );
        s.insert(
            "dhcp".into(),
            svc(&["network-online.target"], &["web.service"], &[], &[]),
        );
        let e = boot_order(&s).unwrap_err().to_string();
        assert_eq!(
            e,
            "the services dhcp, web order each other in a cycle (through `after` and \
             network-online.target)"
        );
    }

    #[test]
    fn restart_policies_as_systemd_has_them() {
        use Exit::*;
        let cases = [
            ("no", Code(1), false),
            ("always", Code(0), true),
            ("always", Signal(libc::SIGKILL), true),
            ("on-failure", Code(0), false),
            ("on-failure", Code(3), true),
            ("on-failure", Signal(libc::SIGSEGV), true),
            ("on-failure", Signal(libc::SIGTERM), false),
            ("on-success", Code(0), true),
            ("on-success", Code(1), false),
            ("on-abnormal", Code(1), false),
            ("on-abnormal", Signal(libc::SIGKILL), true),
            ("on-abnormal", Signal(libc::SIGTERM), false),
        ];
        for (policy, exit, want) in cases {
            assert_eq!(should_restart(policy, exit), want, "{policy} {exit}");
        }
    }

    #[test]
    fn restart_delays_grow_and_are_capped() {
        let s = Duration::from_secs;
        assert_eq!(parse_duration("5"), Some(s(5)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2min"), Some(s(120)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("-1"), None);
        let d: Vec<u64> = (1..=8).map(|n| restart_delay(s(1), n).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(restart_delay(s(90), 3), s(90), "never below RestartSec");
        assert_eq!(restart_delay(Duration::ZERO, 5), Duration::ZERO);
    }

    #[test]
    fn switch_plans_stop_restart_reload_start_and_skip() {
        let mut old = BTreeMap::new();
        for n in [
            "gone",
            "same",
            "changed",
            "sticky",
            "triggered",
            "stopped",
            "described",
        ] {
            old.insert(n.to_owned(), svc(&["multi-user.target"], &[], &[], &[]));
        }
        let mut new = old.clone();
        new.remove("gone");
        new.get_mut("changed").unwrap().script = "echo v2".into();
        let sticky = new.get_mut("sticky").unwrap();
        sticky.script = "echo v2".into();
        sticky.restart_if_changed = false;
        new.get_mut("triggered").unwrap().reload_triggers = vec!["abc".into()];
        new.get_mut("stopped").unwrap().script = "echo v2".into();
        new.get_mut("described").unwrap().description = "now with words".into();
        new.insert("fresh".into(), svc(&["multi-user.target"], &[], &[], &[]));
        new.insert("idle".into(), svc(&[], &[], &[], &[]));
        let running = |n: &str| n != "stopped";
        let p = service_plan(&old, &new, &running);
        assert_eq!(p.stop, ["gone"]);
        assert_eq!(p.restart, ["changed"]);
        assert_eq!(p.skipped, ["sticky"]);
        assert_eq!(p.reload, ["triggered"]);
        // A new boot service starts; one that was stopped and is wanted starts too.
        assert_eq!(p.start, ["fresh", "stopped"]);
    }
}
