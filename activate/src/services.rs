//! What a switch does to the running services: the plan both `strata dry-activate` prints and
//! strata-init carries out on an `apply` request; and the unit-name rules both share.
//!
//! Units are named as in NixOS: `foo` and `foo.service` are the service `foo`
//! ([`service_name`]); a name ending in `.target` is a target ([`is_target`]); other units
//! (`foo.socket`, `foo.mount`) are not supervised and are satisfied at once. Targets always
//! exist and have no process: wanting or requiring one pulls in the services that list it in
//! `wantedBy` ([`boot_set`]), and a target other than the [`BOOT_TARGETS`] is a
//! synchronisation point for `after` ([`sync_target`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::manifest::Service;

/// The targets whose services start at boot.
pub const BOOT_TARGETS: &[&str] = &["multi-user.target", "default.target"];

/// `foo.service` → `foo`; `foo` → `foo`; other units → `None`.
pub fn service_name(unit: &str) -> Option<&str> {
    match unit.rsplit_once('.') {
        None => Some(unit),
        Some((name, "service")) => Some(name),
        Some(_) => None,
    }
}

/// Whether `unit` is a target (`network-online.target`).
pub fn is_target(unit: &str) -> bool {
    unit.rsplit_once('.')
        .is_some_and(|(_, kind)| kind == "target")
}

/// `unit` when it is a target that orders: one of [`BOOT_TARGETS`] is satisfied at once (every
/// boot service is wanted by one, so waiting for it would wait for oneself), any other target
/// is reached once the services it is wanted by and that are being started are ready.
pub fn sync_target(unit: &str) -> Option<&str> {
    (is_target(unit) && !BOOT_TARGETS.contains(&unit)).then_some(unit)
}

/// The services of `services` that list `target` in `wantedBy`.
pub fn wanted_by<'a>(
    services: &'a BTreeMap<String, Service>,
    target: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    services
        .iter()
        .filter(move |(_, s)| s.wanted_by.iter().any(|t| t == target))
        .map(|(n, _)| n.as_str())
}

/// The services that start at boot: every one wanted by a boot target, with what they `wants`
/// or `requires`, transitively; a wanted or required target brings the services it is wanted
/// by. A wanted or required service that does not exist is left out (init's `boot_order`
/// refuses a missing requirement; a target with no services is simply reached).
pub fn boot_set(services: &BTreeMap<String, Service>) -> BTreeSet<String> {
    let mut chosen: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<&str> = BOOT_TARGETS
        .iter()
        .flat_map(|t| wanted_by(services, t))
        .collect();
    while let Some(n) = todo.pop() {
        if !chosen.insert(n.to_owned()) {
            continue;
        }
        for unit in services[n].requires.iter().chain(&services[n].wants) {
            if is_target(unit) {
                todo.extend(wanted_by(services, unit));
            } else if let Some(dep) = service_name(unit).filter(|d| services.contains_key(*d)) {
                todo.push(dep);
            }
        }
    }
    chosen
}

/// What a switch does to the running services, as NixOS's switch does it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicePlan {
    /// In the old generation only.
    pub stop: Vec<String>,
    /// Changed: stopped with the old definition, started with the new.
    pub restart: Vec<String>,
    /// Reloaded (with the new definition's `ExecReload`) instead of restarted: their
    /// `reloadTriggers` changed and nothing else did, or they changed and have
    /// `reloadIfChanged = true` (which wins over `restartIfChanged = false`, as in NixOS).
    pub reload: Vec<String>,
    /// In the new generation's boot set ([`boot_set`]) and not running: new ones, and old
    /// ones that are stopped or ended (a oneshot without `RemainAfterExit` runs again).
    pub start: Vec<String>,
    /// Changed, but `restartIfChanged = false`: left running with the old definition.
    pub skipped: Vec<String>,
}

/// A service with what does not concern the running process blanked.
fn running_part(s: &Service) -> Service {
    let mut s = s.clone();
    s.description.clear();
    s.wanted_by.clear();
    s.reload_triggers.clear();
    s.restart_if_changed = true;
    s.reload_if_changed = false;
    s
}

/// Compares the services of the running generation with the next one's. `running` says
/// which old services are running now: a process that runs, or a `RemainAfterExit` service
/// that is active (a stopped one that changed is not restarted, an active one that did not
/// change is not started again).
pub fn service_plan(
    old: &BTreeMap<String, Service>,
    new: &BTreeMap<String, Service>,
    running: &dyn Fn(&str) -> bool,
) -> ServicePlan {
    let mut p = ServicePlan::default();
    for (name, o) in old {
        match new.get(name) {
            None => {
                if running(name) {
                    p.stop.push(name.clone());
                }
            }
            Some(n) if running_part(o) != running_part(n) => {
                if !running(name) {
                    continue;
                }
                if n.reload_if_changed {
                    p.reload.push(name.clone());
                } else if n.restart_if_changed {
                    p.restart.push(name.clone());
                } else {
                    p.skipped.push(name.clone());
                }
            }
            Some(n) if o.reload_triggers != n.reload_triggers && running(name) => {
                p.reload.push(name.clone());
            }
            Some(_) => {}
        }
    }
    for name in boot_set(new) {
        if (!old.contains_key(&name) || !running(&name)) && !p.restart.contains(&name) {
            p.start.push(name);
        }
    }
    p
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// A service as the manifest has it, with the given fields set (JSON, manifest names).
    fn service(fields: serde_json::Value) -> Service {
        let mut v = serde_json::json!({
            "enable": true, "description": "", "wantedBy": [], "after": [], "requires": [],
            "wants": [], "environment": {}, "path": [], "script": "true", "preStart": "",
            "restartIfChanged": true, "reloadTriggers": [],
            "serviceConfig": {
                "ExecStart": null, "ExecReload": null, "ExecStop": null, "Type": "simple",
                "Restart": "no", "RestartSec": "1", "User": "root", "Group": null,
                "WorkingDirectory": null
            }
        });
        for (k, x) in fields.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn services(list: &[(&str, serde_json::Value)]) -> BTreeMap<String, Service> {
        list.iter()
            .map(|(n, f)| ((*n).to_owned(), service(f.clone())))
            .collect()
    }

    #[test]
    fn unit_names() {
        assert_eq!(service_name("sshd"), Some("sshd"));
        assert_eq!(service_name("sshd.service"), Some("sshd"));
        assert_eq!(service_name("network.target"), None);
        assert_eq!(service_name("dev-sda.device"), None);
        assert!(is_target("network-online.target"));
        assert!(!is_target("sshd.service") && !is_target("target"));
        assert_eq!(sync_target("network.target"), Some("network.target"));
        assert_eq!(sync_target("multi-user.target"), None);
        assert_eq!(sync_target("sshd"), None);
    }

    #[test]
    fn wanting_or_requiring_a_target_pulls_in_what_it_is_wanted_by() {
        let s = services(&[
            (
                "web",
                serde_json::json!({"wantedBy": ["multi-user.target"],
                    "wants": ["network-online.target"], "requires": ["nobody.target"]}),
            ),
            (
                "dhcp",
                serde_json::json!({"wantedBy": ["network-online.target"], "wants": ["ntp"]}),
            ),
            ("ntp", serde_json::json!({})),
            ("vpn", serde_json::json!({"wantedBy": ["vpn.target"]})),
            ("idle", serde_json::json!({})),
        ]);
        let set: Vec<String> = boot_set(&s).into_iter().collect();
        assert_eq!(set, ["dhcp", "ntp", "web"], "nobody wants vpn.target");
    }

    #[test]
    fn reload_if_changed_reloads_instead_of_restarting() {
        let old = services(&[
            ("a", serde_json::json!({"wantedBy": ["multi-user.target"]})),
            ("b", serde_json::json!({"wantedBy": ["multi-user.target"]})),
            ("c", serde_json::json!({"wantedBy": ["multi-user.target"]})),
        ]);
        let new = services(&[
            (
                "a",
                serde_json::json!({"wantedBy": ["multi-user.target"], "script": "v2",
                    "reloadIfChanged": true}),
            ),
            (
                "b",
                serde_json::json!({"wantedBy": ["multi-user.target"], "script": "v2",
                    "reloadIfChanged": true, "restartIfChanged": false}),
            ),
            // Only the flag changed: nothing to do.
            (
                "c",
                serde_json::json!({"wantedBy": ["multi-user.target"], "reloadIfChanged": true}),
            ),
        ]);
        let p = service_plan(&old, &new, &|_| true);
        assert_eq!(
            p.reload,
            ["a", "b"],
            "reloadIfChanged wins over restartIfChanged"
        );
        assert!(p.restart.is_empty() && p.skipped.is_empty() && p.start.is_empty());
        // Not running: nothing to reload; it is started as a boot service.
        let p = service_plan(&old, &new, &|n| n != "a");
        assert_eq!(p.reload, ["b"]);
        assert_eq!(p.start, ["a"]);
    }

    #[test]
    fn the_plan_starts_the_boot_set_and_leaves_active_services() {
        let oneshot = serde_json::json!({"wantedBy": ["multi-user.target"],
            "serviceConfig": {"ExecStart": null, "ExecReload": null, "ExecStop": "undo",
                "Type": "oneshot", "RemainAfterExit": true, "Restart": "no", "RestartSec": "1",
                "User": "root", "Group": null, "WorkingDirectory": null}});
        let mut plain = oneshot.clone();
        plain["serviceConfig"]["RemainAfterExit"] = false.into();
        let old = services(&[("setup", oneshot.clone()), ("plain", plain.clone())]);
        let new = services(&[
            ("setup", oneshot),
            ("plain", plain),
            (
                "web",
                serde_json::json!({"wantedBy": ["multi-user.target"],
                    "requires": ["network-online.target"]}),
            ),
            (
                "dhcp",
                serde_json::json!({"wantedBy": ["network-online.target"]}),
            ),
        ]);
        // `setup` is active (RemainAfterExit); `plain` finished, so it runs again.
        let p = service_plan(&old, &new, &|n| n == "setup");
        assert_eq!(p.start, ["dhcp", "plain", "web"]);
        assert!(p.restart.is_empty() && p.stop.is_empty());
    }
}
