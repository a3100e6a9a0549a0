//! `strata collect-garbage` (`nix-collect-garbage`): delete old generations of the system
//! profile (rewriting the boot menu without them), then collect the store's garbage.
//!
//! Must not: delete the current generation; touch the store before the profile has let go of
//! the generations (their toplevels would still be roots).

use std::time::{Duration, SystemTime};

use serde::Serialize;
use strata_store::local::{GcOptions, GcResult};
use strata_store::LocalStore;

use crate::profile;
use crate::switch::{delete_generations, SwitchError};

/// Which generations go before the collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldGenerations {
    /// None: only the garbage.
    Keep,
    /// Every one but the current (`-d`).
    DeleteAll,
    /// Those older than this (`--delete-older-than`).
    DeleteOlderThan(Duration),
}

/// What a collection did (or, for a dry run, would do).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Collected {
    /// The generations deleted.
    pub generations: Vec<u32>,
    pub gc: GcResult,
}

/// Deletes the generations `old` names from the profile at `root` (with a boot menu rewrite),
/// then collects `store`'s garbage. With `dry_run`, changes nothing and reports what would go.
pub fn collect_garbage(
    root: &std::path::Path,
    store: &mut LocalStore,
    old: OldGenerations,
    dry_run: bool,
) -> Result<Collected, SwitchError> {
    let gens = profile::list(root)?;
    let generations = match old {
        OldGenerations::Keep => Vec::new(),
        OldGenerations::DeleteAll => gens
            .iter()
            .filter(|g| !g.current)
            .map(|g| g.number)
            .collect(),
        OldGenerations::DeleteOlderThan(age) => {
            profile::to_delete(&gens, &[], Some(age), SystemTime::now())?
        }
    };
    if !dry_run && !generations.is_empty() {
        delete_generations(root, &generations)?;
    }
    let gc = store
        .gc(&GcOptions {
            dry_run,
            ..Default::default()
        })
        .map_err(|e| SwitchError::Refused(format!("the store's garbage collection failed: {e}")))?;
    Ok(Collected { generations, gc })
}
