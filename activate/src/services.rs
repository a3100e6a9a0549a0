//! What a switch does to the running services: the plan both `strata dry-activate` prints and
//! strata-init carries out on an `apply` request.

use std::collections::BTreeMap;

use crate::manifest::Service;

/// The targets whose services start at boot.
pub const BOOT_TARGETS: &[&str] = &["multi-user.target", "default.target"];

/// What a switch does to the running services, as NixOS's switch does it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicePlan {
    /// In the old generation only.
    pub stop: Vec<String>,
    /// Changed: stopped with the old definition, started with the new.
    pub restart: Vec<String>,
    /// Only their `reloadTriggers` changed.
    pub reload: Vec<String>,
    /// New, and wanted at boot.
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
    s
}

/// Compares the services of the running generation with the next one's. `running` says
/// which old services are running now (a stopped one that changed is not restarted).
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
                if n.restart_if_changed {
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
    for (name, n) in new {
        let wanted = n
            .wanted_by
            .iter()
            .any(|t| BOOT_TARGETS.contains(&t.as_str()));
        if wanted && (!old.contains_key(name) || !running(name)) && !p.restart.contains(name) {
            p.start.push(name.clone());
        }
    }
    p
}
