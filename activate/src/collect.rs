//! `strata collect-garbage` (`nix-collect-garbage`): delete old generations of the system
//! profile (rewriting the boot menu without them), then collect the store's garbage.
//!
//! The collection itself is the caller's (the store's GC, through a closure), so activation
//! does not link the local store's database.
//!
//! Must not: delete the current generation; collect before the profile has let go of the
//! generations (their toplevels would still be roots).

use std::time::{Duration, SystemTime};

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
#[derive(Debug, Default)]
pub struct Collected<R> {
    /// The generations deleted.
    pub generations: Vec<u32>,
    /// What the collection reported.
    pub gc: R,
}

/// Deletes the generations `old` names from the profile at `root` (with a boot menu rewrite),
/// then runs `collect`, the store's collection. With `dry_run`, deletes nothing and reports
/// what would go (`collect` is told to do the same by its caller).
pub fn collect_garbage<R, E: std::fmt::Display>(
    root: &std::path::Path,
    old: OldGenerations,
    dry_run: bool,
    collect: impl FnOnce() -> Result<R, E>,
) -> Result<Collected<R>, SwitchError> {
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
    let gc = collect()
        .map_err(|e| SwitchError::Refused(format!("the store's garbage collection failed: {e}")))?;
    Ok(Collected { generations, gc })
}
