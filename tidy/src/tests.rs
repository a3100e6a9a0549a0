//! Each check on a planted violation and on its correct counterpart, so that no check can
//! pass by never firing.

use super::*;

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

fn member(dir: &str, manifest: &str) -> Member {
    Member {
        dir: dir.to_owned(),
        manifest: manifest.to_owned(),
    }
}

const STORE: &str = "[package]\nname = \"strata-store\"\n";

#[test]
fn a_dependency_upwards_is_reported_with_its_line() {
    let store = member(
        "store",
        "[package]\nname = \"strata-store\"\n\n[dependencies]\nserde = \"1\"\nstrata-lang.workspace = true\n",
    );
    let lang = member(
        "lang",
        "[package]\nname = \"strata-lang\"\n[dependencies]\nstrata-store = { path = \"../store\", default-features = false }\n",
    );
    let v = check_dependencies(&[store, lang]);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].file, p("store/Cargo.toml"));
    assert_eq!(v[0].line, 6);
    assert!(
        v[0].message.contains("must not depend on strata-lang"),
        "{v:?}"
    );
}

#[test]
fn lang_must_leave_the_store_s_default_features_off() {
    let bad = member(
        "lang",
        "[package]\nname = \"strata-lang\"\n[dependencies]\nstrata-store.workspace = true\n",
    );
    let v = check_dependencies(&[member("store", STORE), bad]);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].line, 4);
    assert!(v[0].message.contains("default-features = false"), "{v:?}");
}

#[test]
fn the_qemu_harness_is_only_a_dev_dependency_of_the_cli() {
    let harness = "[package]\nname = \"strata-qemu-tests\"\n";
    let ok = member(
        "cli",
        "[package]\nname = \"strata-cli\"\n[dev-dependencies]\nstrata-qemu-tests.workspace = true\n",
    );
    assert!(check_dependencies(&[member("qemu-tests", harness), ok]).is_empty());
    let bad = member(
        "cli",
        "[package]\nname = \"strata-cli\"\n[dependencies]\nstrata-qemu-tests.workspace = true\n",
    );
    let v = check_dependencies(&[member("qemu-tests", harness), bad]);
    assert_eq!(v.len(), 1, "{v:?}");
    let images = member(
        "images",
        "[package]\nname = \"strata-images\"\n[dev-dependencies]\nstrata-qemu-tests.workspace = true\n",
    );
    assert_eq!(
        check_dependencies(&[member("qemu-tests", harness), images]).len(),
        1
    );
}

#[test]
fn nothing_depends_on_the_cli_and_a_renamed_dependency_is_seen() {
    let cli = "[package]\nname = \"strata-cli\"\n";
    let bad = member(
        "builder",
        "[package]\nname = \"strata-builder\"\n[dependencies.front]\npackage = \"strata-cli\"\npath = \"../cli\"\n",
    );
    let v = check_dependencies(&[member("cli", cli), bad]);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].line, 3);
}

#[test]
fn a_crate_missing_from_the_table_is_reported() {
    let v = check_dependencies(&[member("new", "[package]\nname = \"strata-new\"\n")]);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].message.contains("LAYERS"));
}

#[test]
fn a_crate_root_without_forbid_unsafe_is_reported() {
    let f = p("store/src/lib.rs");
    assert!(check_forbids_unsafe(&f, "//! Docs.\n\npub mod x;\n").is_some());
    assert!(check_forbids_unsafe(&f, "//! Docs.\n\n#![forbid(unsafe_code)]\n").is_none());
}

#[test]
fn unsafe_in_the_cli_is_reported_but_not_in_comments_or_names() {
    let f = p("cli/src/lib.rs");
    let text = "// unsafe { in a comment }\nfn unsafe_name() {}\nlet s = \"unsafe\";\nlet x = unsafe { f() };\nunsafe fn g() {}\n";
    let v = check_no_unsafe(&f, text);
    assert_eq!(v.iter().map(|v| v.line).collect::<Vec<_>>(), vec![4, 5]);
}

#[test]
fn an_unsafe_block_needs_a_safety_comment_just_above() {
    let f = p("init/src/sys.rs");
    let good = "// SAFETY: fork has no preconditions here.\nlet pid = unsafe { libc::fork() };\n";
    assert!(check_safety_comments(&f, good).is_empty());
    let good_3_up =
        "// SAFETY: a descriptor we own.\nlet r =\n    x;\nif unsafe { libc::close(fd) } < 0 {}\n";
    assert!(check_safety_comments(&f, good_3_up).is_empty());
    let bad = "// SAFETY: far away.\n\n\n\nlet pid = unsafe { libc::fork() };\n";
    let v = check_safety_comments(&f, bad);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].line, 5);
    let none = "fn f() {\n    unsafe {\n        g()\n    }\n}\n";
    assert_eq!(check_safety_comments(&f, none)[0].line, 2);
}

#[test]
fn result_with_a_string_error_is_reported_outside_tests() {
    let f = p("store/src/x.rs");
    let text = "\
pub fn a() -> Result<u8, String> { todo!() }
pub fn b() -> Result<(u8, Vec<String>), String> { todo!() }
pub fn c() -> Result<
    BTreeMap<String, u8>,
    String,
> { todo!() }
pub type F<'a> = &'a mut dyn FnMut(&str) -> Result<bool, String>;
pub fn ok1() -> Result<String, Error> { todo!() }
pub fn ok2() -> io::Result<String> { todo!() }
pub fn ok3() -> Result<(String, String), MyError> { todo!() }
pub fn ok4(f: impl Fn() -> u8) -> Result<u8, E> { todo!() }
// fn commented() -> Result<u8, String>
#[cfg(test)]
mod tests {
    fn t() -> Result<u8, String> { Ok(1) }
}
";
    let v = check_result_string(&f, text);
    assert_eq!(
        v.iter().map(|v| v.line).collect::<Vec<_>>(),
        vec![1, 2, 3, 7],
        "{v:?}"
    );
}

#[test]
fn a_long_file_is_reported() {
    let f = p("images/src/fat.rs");
    let short = "x\n".repeat(MAX_LINES);
    assert!(check_length(&f, &short).is_none());
    let long = "x\n".repeat(MAX_LINES + 1);
    let v = check_length(&f, &long).expect("over the limit");
    assert_eq!(v.line, MAX_LINES + 1);
}

#[test]
fn a_crate_root_without_docs_is_reported() {
    let f = p("store/src/lib.rs");
    assert!(check_crate_doc(&f, "\n//! The store.\n").is_none());
    assert!(check_crate_doc(&f, "// not docs\n//! The store.\n").is_some());
    assert!(check_crate_doc(&f, "pub mod x;\n").is_some());
    assert!(check_crate_doc(&f, "").is_some());
}

#[test]
fn allow_lists_ignore_comments_and_blank_lines() {
    let l = parse_allow_list("# header\n\nbuilder/src/deb.rs  # being converted\n");
    assert_eq!(
        l.into_iter().collect::<Vec<_>>(),
        vec![p("builder/src/deb.rs")]
    );
}

#[test]
fn the_tree_check_reports_a_planted_tree() {
    let d = std::env::temp_dir().join(format!("strata-tidy-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    let w = |rel: &str, text: &str| {
        let f = d.join(rel);
        fs::create_dir_all(f.parent().unwrap()).unwrap();
        fs::write(f, text).unwrap();
    };
    w(
        "Cargo.toml",
        "[workspace]\nmembers = [\"store\", \"cli\"]\n",
    );
    w(
        "store/Cargo.toml",
        "[package]\nname = \"strata-store\"\n[dependencies]\nstrata-cli = { path = \"../cli\" }\n",
    );
    w(
        "store/src/lib.rs",
        "pub fn f() -> Result<(), String> { Ok(()) }\n",
    );
    w("cli/Cargo.toml", "[package]\nname = \"strata-cli\"\n");
    w(
        "cli/src/main.rs",
        "//! The CLI.\n#![forbid(unsafe_code)]\nfn main() { unsafe { g() } }\n",
    );
    w("tidy/allow/result-string.txt", "");
    w("tidy/allow/long-files.txt", "cli/src/gone.rs # was long\n");
    let v = check_tree(&d).unwrap();
    let _ = fs::remove_dir_all(&d);
    let shown: Vec<String> = v.iter().map(|v| v.to_string()).collect();
    for want in [
        "store/Cargo.toml:4: strata-store must not depend on strata-cli",
        "store/src/lib.rs:1: a crate root starts with //! docs",
        "store/src/lib.rs:1: this crate needs no unsafe",
        "store/src/lib.rs:1: Result<_, String> in a library",
        "cli/src/main.rs:3: unsafe block without a // SAFETY: comment",
        "cli/src/main.rs:3: no unsafe here",
        "tidy/allow/long-files.txt:0: cli/src/gone.rs no longer breaks this rule",
    ] {
        assert!(
            shown.iter().any(|s| s.starts_with(want)),
            "missing {want:?} in {shown:#?}"
        );
    }
    assert_eq!(shown.len(), 7, "{shown:#?}");
}

#[test]
fn a_circle_of_module_imports_is_found_and_a_chain_is_not() {
    let files = |texts: &[(&str, &str)]| -> Vec<(PathBuf, String)> {
        texts
            .iter()
            .map(|(p, t)| (PathBuf::from(p), (*t).to_owned()))
            .collect()
    };
    let chain = files(&[
        ("system.rs", "use crate::scheduler::run;\n"),
        (
            "scheduler.rs",
            "use crate::{build, store_dir};\n// crate::system in a comment\n",
        ),
        ("build/mod.rs", "pub fn f() { crate::sandbox::go() }\n"),
        (
            "sandbox.rs",
            "#[cfg(test)]\nmod tests { use crate::system; }\n",
        ),
        ("lib.rs", "pub mod system;\n"),
    ]);
    let g = module_graph(&chain);
    assert_eq!(
        g["scheduler"],
        ["build", "store_dir"].map(String::from).into()
    );
    assert!(
        g["sandbox"].is_empty(),
        "tests and comments do not count: {g:?}"
    );
    assert_eq!(find_circle(&g), None);

    let mut circle = chain.clone();
    circle.push((
        PathBuf::from("build/run.rs"),
        "use crate::system::build_system;\n".into(),
    ));
    let found = find_circle(&module_graph(&circle)).expect("a circle");
    assert_eq!(found.first(), found.last());
    assert!(
        found.contains(&"system".to_owned()) && found.contains(&"build".to_owned()),
        "{found:?}"
    );
}
