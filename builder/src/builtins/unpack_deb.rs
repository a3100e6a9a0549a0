//! `builtin:unpack-deb`: unpacks the data of the `.deb` named by the `deb` attribute (which
//! must be an input) into the output, with [`crate::debian::unpack::unpack_deb`].
//!
//! Must not: run maintainer scripts or read anything but the named `.deb`.

use super::{BuiltinContext, BuiltinError};

/// `builtin:unpack-deb`; see the module documentation.
pub(super) fn run(cx: &mut BuiltinContext<'_>) -> Result<(), BuiltinError> {
    let bad = BuiltinError::BadDerivation;
    let deb = cx.required("deb")?.to_owned();
    let deb_path = cx
        .store
        .store_dir()
        .parse(&deb)
        .map_err(|e| bad(format!("attribute 'deb': {e}")))?;
    if !cx.closure.contains(&deb_path) {
        return Err(bad(format!(
            "attribute 'deb' ('{deb}') is not among the derivation's inputs"
        )));
    }
    let _ = writeln!(cx.log, "unpacking '{deb}'");
    let contents = crate::debian::unpack::unpack_deb(&cx.store.real_path(&deb_path), cx.out)?;
    let _ = writeln!(
        cx.log,
        "{} entries from {}",
        contents.paths.len(),
        contents.data_member
    );
    Ok(())
}
