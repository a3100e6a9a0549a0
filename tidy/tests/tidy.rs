//! The repository's rules on the repository itself (see the crate docs of `strata-tidy`).

use std::path::Path;

#[test]
fn the_tree_keeps_the_rules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new(".."));
    let found = match strata_tidy::check_tree(root) {
        Ok(v) => v,
        Err(e) => panic!("cannot read the tree at {}: {e}", root.display()),
    };
    let shown: Vec<String> = found.iter().map(|v| v.to_string()).collect();
    assert!(
        shown.is_empty(),
        "{} rule(s) broken:\n{}",
        shown.len(),
        shown.join("\n")
    );
}
