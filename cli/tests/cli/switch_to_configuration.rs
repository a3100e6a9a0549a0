//! A generation's `bin/switch-to-configuration VERB` and `strata <verb> --toplevel PATH`, on a
//! machine tree, with a generation forged in a store (a manifest, an etc tree and the script
//! the toplevel builder writes): no system build needed. The script is run as the kernel runs
//! it, `<its first line's program> switch-to-configuration <script> <verb>`, with the strata
//! under test as that program; `system`'s toplevel test checks that a built toplevel's script
//! names the toplevel's own strata.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use strata_activate::manifest::{ActivationManifest, ManifestGroup, ManifestUser, PasswordSource};
use strata_builder::builtins::toplevel::switch_to_configuration;

use super::{run, strata, strata_store, Output};

/// A store under `dir/store` holding a forged generation, and a machine tree `dir/machine`
/// whose `nix/store` is that store's.
struct Forged {
    dir: tempfile::TempDir,
    /// The generation's logical path.
    toplevel: String,
    /// The logical path of the strata its script names.
    strata: String,
}

fn add(root: &Path, tree: &Path) -> String {
    run(&mut strata_store(root, [Path::new("add"), tree]), None)
        .ok()
        .line()
}

fn manifest() -> ActivationManifest {
    let alice = ManifestUser {
        name: "alice".into(),
        uid: None,
        group: "users".into(),
        extra_groups: vec!["wheel".into()],
        description: "Alice".into(),
        home: "/home/alice".into(),
        create_home: true,
        shell: String::new(),
        is_normal_user: true,
        is_system_user: false,
        password: None,
        initial_password: Some(PasswordSource::Hash {
            hash: "$6$salt$hash".into(),
            option: "initialHashedPassword".into(),
        }),
        authorized_keys: Vec::new(),
    };
    ActivationManifest {
        version: 1,
        host_name: "paloverde".into(),
        time_zone: None,
        state_version: "24.11".into(),
        mutable_users: true,
        users: vec![alice],
        groups: vec![ManifestGroup {
            name: "wheel".into(),
            gid: None,
            members: vec!["alice".into()],
        }],
        etc: Vec::new(),
        services: Default::default(),
        boot_loader: Default::default(),
        file_systems: Vec::new(),
        wrappers: Vec::new(),
        swap_devices: Vec::new(),
        console_key_map: None,
        ssh_ports: Vec::new(),
    }
}

impl Forged {
    fn new() -> Forged {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let work = dir.path().join("work");
        // strata itself (a link to the program under test; only its path matters here).
        let s = work.join("strata");
        fs::create_dir_all(s.join("bin")).unwrap();
        symlink(env!("CARGO_BIN_EXE_strata"), s.join("bin/strata")).unwrap();
        let strata = add(&store, &s);
        let etc = work.join("etc-tree");
        fs::create_dir_all(etc.join("etc")).unwrap();
        fs::write(etc.join("etc/motd"), "forged\n").unwrap();
        let etc = add(&store, &etc);
        let t = work.join("forged-strata-system");
        fs::create_dir_all(t.join("bin")).unwrap();
        symlink(format!("{etc}/etc"), t.join("etc")).unwrap();
        symlink(&strata, t.join("strata")).unwrap();
        fs::write(t.join("activation.json"), manifest().to_json()).unwrap();
        let script = t.join("bin/switch-to-configuration");
        fs::write(&script, switch_to_configuration(&strata).unwrap()).unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o555)).unwrap();
        let toplevel = add(&store, &t);
        let machine = dir.path().join("machine");
        fs::create_dir_all(machine.join("nix")).unwrap();
        symlink(store.join("nix/store"), machine.join("nix/store")).unwrap();
        Forged {
            dir,
            toplevel,
            strata,
        }
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn machine(&self) -> PathBuf {
        self.dir.path().join("machine")
    }

    fn real(&self, logical: &str) -> PathBuf {
        self.store().join(logical.trim_start_matches('/'))
    }

    fn script(&self) -> PathBuf {
        self.real(&self.toplevel)
            .join("bin/switch-to-configuration")
    }

    /// What the kernel runs for `SCRIPT VERB ARGS...`: the first line's program (checked to
    /// be the generation's strata; the program under test stands in for it) with the first
    /// line's argument, the script's path, then the arguments (and, as a machine tree's verbs
    /// need, `--root` and the store's root).
    fn kernel_command(&self, script: &Path, args: &[&str]) -> Command {
        let text = fs::read_to_string(script).unwrap();
        let first = text.lines().next().unwrap();
        let (program, arg) = first
            .strip_prefix("#!")
            .and_then(|l| l.split_once(' '))
            .unwrap();
        assert_eq!(program, format!("{}/bin/strata", self.strata));
        let mut c = strata();
        c.arg(arg)
            .arg(script)
            .args(args)
            .arg("--root")
            .arg(self.machine())
            .arg("--store-root")
            .arg(self.store());
        c
    }

    fn run_script(&self, args: &[&str]) -> Output {
        run(&mut self.kernel_command(&self.script(), args), None)
    }

    fn current(&self) -> Option<String> {
        fs::read_link(self.machine().join("run/current-system"))
            .ok()
            .map(|t| t.to_string_lossy().into_owned())
    }

    fn passwd(&self) -> String {
        fs::read_to_string(self.machine().join("etc/passwd")).unwrap_or_default()
    }
}

#[test]
fn the_script_names_the_generations_strata_and_reaches_activation_with_its_verb() {
    let f = Forged::new();
    let script = f.script();
    let mode = fs::metadata(&script).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "executable: {mode:o}");
    let first = fs::read_to_string(&script).unwrap();
    assert_eq!(
        first.lines().next().unwrap(),
        format!("#!{}/bin/strata switch-to-configuration", f.strata)
    );

    // dry-activate: the plan for this generation, and nothing changes.
    let o = f.run_script(&["dry-activate"]).ok();
    assert!(
        o.text()
            .contains(&format!("would activate {} (now nothing)", f.toplevel)),
        "{}",
        o.text()
    );
    assert!(
        o.text().contains("users: created user alice (1000)"),
        "{}",
        o.text()
    );
    assert_eq!(f.passwd(), "");
    assert_eq!(f.current(), None);

    // A switch whose activation fails: exit status 3, as `strata switch`'s, nothing changed.
    let o = run(
        f.kernel_command(&script, &["switch"])
            .env("STRATA_TEST_FAIL_AT", "1"),
        None,
    );
    assert_eq!(o.code, Some(3), "{}", o.stderr);
    assert_eq!(f.current(), None);

    // test: activated (users, /run/current-system), the profile left alone.
    let o = f.run_script(&["test"]).ok();
    assert!(o.text().contains("activation: "), "{}", o.text());
    assert_eq!(f.current().as_deref(), Some(f.toplevel.as_str()));
    assert!(f.passwd().contains("alice:x:1000:"), "{}", f.passwd());
    assert!(!f.machine().join("nix/var/nix/profiles/system").exists());

    // Run through a link to the generation (as `result/bin/switch-to-configuration`), the
    // same generation is meant.
    let result = f.dir.path().join("result");
    symlink(f.real(&f.toplevel), &result).unwrap();
    let o = run(
        &mut f.kernel_command(
            &result.join("bin/switch-to-configuration"),
            &["dry-activate"],
        ),
        None,
    )
    .ok();
    assert!(
        o.text().contains(&format!(
            "would activate {} (now {})",
            f.toplevel, f.toplevel
        )),
        "{}",
        o.text()
    );
}

#[test]
fn toplevel_takes_a_built_generation_and_bad_ones_are_refused() {
    let f = Forged::new();
    let verb = |args: &[&str]| {
        let mut c = strata();
        c.arg("--store-root")
            .arg(f.store())
            .args(args)
            .arg("--root")
            .arg(f.machine());
        run(&mut c, None)
    };
    // `strata test --toplevel` is what the script does.
    let o = verb(&["test", "--toplevel", &f.toplevel]).ok();
    assert!(o.text().contains("activation: "), "{}", o.text());
    assert_eq!(f.current().as_deref(), Some(f.toplevel.as_str()));

    // Not with a configuration; not a path the store lacks; not something else than a store
    // path.
    let o = verb(&[
        "switch",
        "--toplevel",
        &f.toplevel,
        "-f",
        "configuration.nix",
    ]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.contains("cannot be used with"), "{}", o.stderr);
    let absent = "/nix/store/ffffffffffffffffffffffffffffffff-strata-system-x";
    let o = verb(&["switch", "--toplevel", absent]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains(&format!(
            "the generation '{absent}' is not valid in the store"
        )),
        "{}",
        o.stderr
    );
    let o = verb(&["dry-activate", "--toplevel", "/tmp"]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("'/tmp' is not a store path"),
        "{}",
        o.stderr
    );

    // The script's own refusals: an unknown verb; a copy outside the store of a generation the
    // store does not hold; a file that is no generation's script.
    let o = f.run_script(&["frobnicate"]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("possible values: switch, boot, test, dry-activate"),
        "{}",
        o.stderr
    );
    let copy = f
        .dir
        .path()
        .join("elsewhere/ffffffffffffffffffffffffffffffff-strata-system-x/bin");
    fs::create_dir_all(&copy).unwrap();
    fs::copy(f.script(), copy.join("switch-to-configuration")).unwrap();
    let o = run(
        &mut f.kernel_command(&copy.join("switch-to-configuration"), &["test"]),
        None,
    );
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("is not valid in the store"),
        "{}",
        o.stderr
    );
    let mut c = strata();
    c.arg("--store-root")
        .arg(f.store())
        .arg("switch-to-configuration")
        .arg(f.real(&f.toplevel).join("activation.json"))
        .arg("test")
        .arg("--root")
        .arg(f.machine());
    let o = run(&mut c, None);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("is not a generation's bin/switch-to-configuration"),
        "{}",
        o.stderr
    );
}
