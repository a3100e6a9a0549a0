//! `builtin:strata-usr`: the generation's usr-merged tree, made by
//! [`crate::userspace::build_usr_tree`] from the derivation's attributes:
//!
//! - `packages`: the unpacked packages (and other store paths), space-separated; each must be
//!   an input;
//! - `alternatives`, `collisions`: JSON objects of strings (alternative name -> chosen path;
//!   path -> the package that wins a collision there);
//! - `allowConflicts`: a JSON list of package-name pairs whose `Conflicts` are accepted;
//! - `strictLibraries`: `"1"` makes a missing library an error, `""` a warning;
//! - `extraLdSoConf`: more `ld.so.conf` lines.
//!
//! Must not: hold tree logic (that is [`crate::userspace`]); this file only decodes.

use std::collections::BTreeMap;

use super::{BuiltinContext, BuiltinError};
use crate::userspace::{build_usr_tree, Options};

/// An optional attribute (absent means empty).
fn optional<'a>(cx: &'a BuiltinContext<'_>, name: &str) -> &'a str {
    cx.drv.env.get(name).map_or("", String::as_str)
}

/// A JSON attribute decoded as `T` (empty means `empty`).
fn json_attr<T: serde::de::DeserializeOwned>(
    cx: &BuiltinContext<'_>,
    name: &str,
    what: &str,
    empty: T,
) -> Result<T, BuiltinError> {
    let text = optional(cx, name);
    if text.trim().is_empty() {
        return Ok(empty);
    }
    serde_json::from_str(text)
        .map_err(|e| BuiltinError::BadDerivation(format!("attribute '{name}' is not {what}: {e}")))
}

/// `builtin:strata-usr`; see the module documentation.
pub(super) fn run(cx: &mut BuiltinContext<'_>) -> Result<(), BuiltinError> {
    let packages = cx.inputs("packages")?;
    let alternatives: BTreeMap<String, String> = json_attr(
        cx,
        "alternatives",
        "a JSON object of strings",
        BTreeMap::new(),
    )?;
    let collisions: BTreeMap<String, String> = json_attr(
        cx,
        "collisions",
        "a JSON object of strings",
        BTreeMap::new(),
    )?;
    let pairs: Vec<[String; 2]> = json_attr(
        cx,
        "allowConflicts",
        "a JSON list of pairs of package names",
        Vec::new(),
    )?;
    let strict_libraries = match optional(cx, "strictLibraries") {
        "1" => true,
        "" => false,
        other => {
            return Err(BuiltinError::BadDerivation(format!(
                "attribute 'strictLibraries' is '{other}', expected \"1\" or \"\""
            )))
        }
    };
    let opts = Options {
        alternatives,
        collisions,
        allow_conflicts: pairs.into_iter().map(|[a, b]| (a, b)).collect(),
        strict_libraries,
        extra_ld_so_conf: optional(cx, "extraLdSoConf").to_owned(),
    };
    let _ = writeln!(cx.log, "joining {} packages", packages.len());
    let summary = build_usr_tree(&packages, &opts, cx.out, cx.log)?;
    let _ = writeln!(
        cx.log,
        "{} alternatives, {} loader cache entries, {} library warnings",
        summary.alternatives, summary.cache_entries, summary.library_warnings
    );
    Ok(())
}
