//! Signatures of valid paths: the `sigs` column of `ValidPaths`, white-space separated as
//! Nix keeps them.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{db_err, LocalStore, StoreError};
use crate::StorePath;

impl LocalStore {
    /// Adds `sigs` to each path's signatures (those it has already are kept once), all in
    /// one transaction. Every path must be valid.
    pub fn add_signatures(&mut self, sigs: &[(StorePath, Vec<String>)]) -> Result<(), StoreError> {
        let store_dir = self.store_dir.clone();
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err("starting a transaction"))?;
        for (path, new) in sigs {
            let abs = store_dir.display(path);
            let old: Option<Option<String>> = tx
                .query_row("select sigs from ValidPaths where path = ?1", [&abs], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db_err("reading signatures"))?;
            let Some(old) = old else {
                return Err(StoreError::NotValid(abs));
            };
            let mut all: Vec<String> = old
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            for s in new {
                if !all.contains(s) {
                    all.push(s.clone());
                }
            }
            tx.execute(
                "update ValidPaths set sigs = ?2 where path = ?1",
                params![abs, all.join(" ")],
            )
            .map_err(db_err("recording signatures"))?;
        }
        tx.commit().map_err(db_err("committing signatures"))
    }
}
