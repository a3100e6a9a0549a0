//! `strata options` on a configuration: values and the files that define them, as
//! `nixos-option` shows them.

use crate::{run, strata};

fn example() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/configuration.nix")
}

#[test]
fn options_show_the_configurations_value_and_where_it_is_defined() {
    let f = example();
    let out = run(
        strata()
            .args(["options", "networking.hostName", "-f"])
            .arg(&f),
        None,
    )
    .ok()
    .text();
    assert!(out.contains("    value:       \"saguaro\"\n"), "{out}");
    assert!(out.contains("    default:     \"strata\"\n"), "{out}");
    assert!(
        out.contains(&format!(
            "    defined in:  {}\n",
            std::path::absolute(&f).unwrap().display()
        )),
        "{out}"
    );

    // A list the option set defines and the configuration does not: its value and the
    // module that defines it.
    let json = run(
        strata()
            .args(["options", "boot.kernelParams", "--json", "-f"])
            .arg(&f),
        None,
    )
    .ok()
    .text();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let o = &v.as_array().unwrap()[0];
    assert_eq!(o["name"], "boot.kernelParams");
    assert_eq!(
        o["value"],
        "[\n  \"console=tty0\"\n  \"console=ttyS0,115200\"\n]"
    );
    let defs = o["definitions"].as_array().unwrap();
    assert_eq!(defs.len(), 1, "{o}");
    assert!(
        defs[0]
            .as_str()
            .unwrap()
            .ends_with("modules/boot/kernel.nix"),
        "{o}"
    );

    // A path into an option's value.
    let out = run(
        strata()
            .args(["options", "users.users.alice.extraGroups", "-f"])
            .arg(&f),
        None,
    )
    .ok()
    .text();
    assert!(out.contains("    part of:     users.users\n"), "{out}");
    assert!(out.contains("[\n                   \"wheel\"\n"), "{out}");

    // Not an option and not a path into one.
    let bad = run(
        strata()
            .args(["options", "users.users.alice.nosuch", "-f"])
            .arg(&f),
        None,
    );
    assert_eq!(bad.code, Some(1), "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("no option is named 'users.users.alice.nosuch'"),
        "{}",
        bad.stderr
    );
}

#[test]
fn options_without_a_configuration_show_declarations_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        strata()
            .args(["options", "networking.hostName"])
            .current_dir(dir.path())
            .env_remove("STRATA_CONFIG"),
        None,
    )
    .ok()
    .text();
    assert!(out.contains("    default:     \"strata\"\n"), "{out}");
    assert!(!out.contains("value:"), "{out}");
}
