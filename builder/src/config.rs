//! The evaluated machine configuration: what the builder consumes, as typed Rust values.
//!
//! `modules/eval-config.nix` evaluates a `configuration.nix` against strata's option set
//! (`modules/`) and projects the result onto the shape below; [`evaluate`] runs it and
//! checks the assertions. The JSON form (`strata eval-config --json`) is exactly these
//! structures serialised, field names as written here.
//!
//! [`configuration_file`] is THE rule for which `configuration.nix` a command means (`-f`,
//! else `$STRATA_CONFIG`, else `./configuration.nix`, else `/etc/strata/configuration.nix`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strata_lang::source::Span;
use strata_lang::value::{intern, Attrs, Context, Value};
use strata_lang::{EvalError, Evaluator};

/// A whole machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SystemConfig {
    pub host_name: String,
    pub time_zone: Option<String>,
    pub state_version: String,
    pub label: String,
    pub users: Users,
    pub boot: Boot,
    pub file_systems: BTreeMap<String, FileSystem>,
    pub swap_devices: Vec<SwapDevice>,
    pub environment: Environment,
    pub services: BTreeMap<String, Service>,
    #[serde(default)]
    pub security: Security,
    /// The console's binary keymap (`console.keyMap` compiled), a store path; `None` for the
    /// kernel's own layout or without a package set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_key_map: Option<String>,
    /// The ports the SSH server listens on (`services.openssh.ports` when it is enabled).
    #[serde(default)]
    pub ssh_ports: Vec<u16>,
}

/// `security.*`: the wrappers of `/run/wrappers/bin` as declared (the builder checks them
/// and makes the manifest's [`strata_activate::manifest::ManifestWrapper`]s).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Security {
    /// The enabled `security.wrappers`, by attribute name (none without `enableWrappers`).
    pub wrappers: BTreeMap<String, Wrapper>,
    /// The system's package tree (`system.sw`), where a source like `/usr/bin/su` is looked
    /// up; `None` without a package set.
    pub packages: Option<String>,
}

/// One `security.wrappers.<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Wrapper {
    pub program: String,
    pub source: String,
    pub owner: String,
    pub group: String,
    pub permissions: String,
    pub capabilities: String,
    pub setuid: bool,
    pub setgid: bool,
    /// Left out when the source is not in the system's packages (strata's own defaults).
    pub only_if_present: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Users {
    pub mutable_users: bool,
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub is_normal_user: bool,
    pub is_system_user: bool,
    pub uid: Option<u32>,
    pub group: String,
    pub extra_groups: Vec<String>,
    pub description: String,
    pub home: String,
    pub create_home: bool,
    pub shell: String,
    pub hashed_password: Option<String>,
    pub hashed_password_file: Option<String>,
    pub password: Option<String>,
    pub initial_password: Option<String>,
    pub initial_hashed_password: Option<String>,
    pub authorized_keys: Vec<String>,
}

/// A group: the same fields in the configuration as in the activation manifest (where the
/// members also include the users that name the group in `extraGroups`).
pub use strata_activate::manifest::ManifestGroup as Group;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Boot {
    pub loader: Loader,
    pub kernel: String,
    pub kernel_params: Vec<String>,
    pub kernel_modules: Vec<String>,
    pub kernel_module_filter: Vec<String>,
    pub initrd_available_kernel_modules: Vec<String>,
    pub initrd_kernel_modules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Loader {
    pub timeout: Option<u32>,
    pub efi_can_touch_variables: bool,
    pub grub: Grub,
    pub systemd_boot: SystemdBoot,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Grub {
    pub enable: bool,
    pub device: String,
    pub devices: Vec<String>,
    pub efi_support: bool,
    pub configuration_limit: u32,
    pub extra_entries: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SystemdBoot {
    pub enable: bool,
    pub configuration_limit: Option<u32>,
    pub console_mode: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileSystem {
    pub mount_point: String,
    pub device: Option<String>,
    pub fs_type: String,
    pub options: Vec<String>,
    pub needed_for_boot: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwapDevice {
    pub device: String,
    pub size: Option<u64>,
    pub priority: Option<u32>,
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Environment {
    /// Store paths of the packages in the system profile.
    pub system_packages: Vec<String>,
    pub etc: BTreeMap<String, EtcEntry>,
    pub variables: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EtcEntry {
    pub enable: bool,
    pub target: String,
    pub text: Option<String>,
    pub source: Option<String>,
    /// `source` is a string naming a path outside the store (not a path value): a `symlink`
    /// entry links to it as it is, as NixOS's `/etc` does (`/run/...` files made at run time).
    #[serde(default)]
    pub outside_store: bool,
    pub mode: String,
    pub user: String,
    pub group: String,
}

pub use strata_activate::manifest::{Service, ServiceConfig};

/// A configuration that evaluated, with the warnings it produced.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub config: SystemConfig,
    pub warnings: Vec<String>,
}

/// Why a configuration did not evaluate.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The evaluation failed; the rendered error (with positions) is in the string.
    #[error("{}", .0.trim_end().trim_start_matches("error: "))]
    Eval(String),
    /// Assertions failed; their messages.
    #[error("Failed assertions:{}", .0.iter().map(|m| format!("\n- {m}")).collect::<String>())]
    Assertions(Vec<String>),
    /// The evaluated value does not have the expected shape (a bug in the option set).
    #[error("the evaluated configuration has an unexpected shape: {0}")]
    Shape(String),
}

/// Where strata's option set is: `STRATA_MODULES`, then `share/strata/modules` beside the
/// executable's directory, then the source tree the binary was built from.
pub fn modules_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("STRATA_MODULES").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(prefix) = exe.parent().and_then(Path::parent) {
            let d = prefix.join("share/strata/modules");
            if d.join("module-list.nix").exists() {
                return Some(d);
            }
        }
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules");
    built
        .join("module-list.nix")
        .exists()
        .then(|| built.canonicalize().unwrap_or(built))
}

/// A span for values made by Rust code (no source position).
pub(crate) fn span() -> Span {
    Span {
        file: 0,
        start: 0,
        end: 0,
    }
}

/// `s` as a Nix string literal.
pub(crate) fn nix_string(s: &str) -> String {
    let mut out = Vec::new();
    strata_lang::print::escape_string(s.as_bytes(), &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Evaluates `modules/eval-config.nix` for `configuration` and returns its result set.
pub fn eval_config_set(
    ev: &mut Evaluator,
    modules: &Path,
    configuration: &Path,
) -> Result<Value, EvalError> {
    eval_config_set_with(ev, modules, configuration, &[], None)
}

/// [`eval_config_set`] with modules besides the configuration (`extra`: files such as
/// `profiles/live-iso.nix`, evaluated with it) and a package set (`pkgs/default.nix` applied
/// to a lock, from [`crate::pkgs::eval_pkgs`]) as the modules' `pkgs`.
pub fn eval_config_set_with(
    ev: &mut Evaluator,
    modules: &Path,
    configuration: &Path,
    extra: &[PathBuf],
    pkgs: Option<Value>,
) -> Result<Value, EvalError> {
    ev.sources.add_library_dir(modules.join("lib"));
    ev.sources.add_library_dir(modules.to_path_buf());
    let f = ev.eval_string(&format!(
        "import {}",
        nix_string(&modules.join("eval-config.nix").display().to_string())
    ))?;
    // Paths given as strings: `import` and the module system accept absolute strings.
    let mut arg = vec![
        (
            intern("configuration"),
            Value::str(configuration.display().to_string()),
        ),
        (
            intern("modulesDir"),
            Value::str(modules.display().to_string()),
        ),
        (
            intern("extraModules"),
            Value::list(
                extra
                    .iter()
                    .map(|m| Value::str(m.display().to_string()))
                    .collect(),
            ),
        ),
    ];
    if let Some(pkgs) = pkgs {
        arg.push((intern("pkgs"), pkgs));
    }
    let v = ev.call(&f, Value::attrs(Attrs::from_unsorted(arg)), span())?;
    ev.force(&v, span())
}

/// Evaluates a configuration and checks its assertions.
pub fn evaluate(
    ev: &mut Evaluator,
    modules: &Path,
    configuration: &Path,
) -> Result<Evaluated, ConfigError> {
    evaluate_with(ev, modules, configuration, &[], None).map(|(e, _, _)| e)
}

/// [`evaluate`] with a package set; also returns eval-config.nix's whole result set (for
/// `system/toplevel.nix`) and the context of the manifest: the derivations and store paths
/// the configuration refers to (packages, `/etc` sources, scripts), which must be built before
/// the parts made from the manifest.
pub fn evaluate_with(
    ev: &mut Evaluator,
    modules: &Path,
    configuration: &Path,
    extra: &[PathBuf],
    pkgs: Option<Value>,
) -> Result<(Evaluated, Value, Context), ConfigError> {
    let render = |ev: &Evaluator, e: EvalError| ConfigError::Eval(e.render(&ev.sources));
    let whole =
        eval_config_set_with(ev, modules, configuration, extra, pkgs).map_err(|e| render(ev, e))?;
    let Value::Attrs(set) = &whole else {
        return Err(ConfigError::Shape(
            "eval-config.nix did not return a set".into(),
        ));
    };
    let field = |name: &str| {
        set.get(name)
            .cloned()
            .ok_or_else(|| ConfigError::Shape(format!("no `{name}'")))
    };
    let failed = field("failedAssertions")?;
    let failed = ev.deep_force(&failed, span()).map_err(|e| render(ev, e))?;
    let failed: Vec<String> = to_serde(ev, &failed).map_err(|e| render(ev, e))?;
    if !failed.is_empty() {
        return Err(ConfigError::Assertions(failed));
    }
    let warnings = field("warnings")?;
    let warnings: Vec<String> = to_serde(ev, &warnings).map_err(|e| render(ev, e))?;
    let manifest = field("manifest")?;
    let mut context = Context::new();
    let config: SystemConfig =
        to_serde_ctx(ev, &manifest, &mut context).map_err(|e| render(ev, e))?;
    Ok((Evaluated { config, warnings }, whole, context))
}

/// Every visible option, documented (`modules/options-doc.nix`), as JSON values.
/// With `name`, only that option and those below it; with `with_values`, each option of the
/// configuration also carries its merged `value` (a Nix expression) and the files that
/// define it (`definitions`), as `nixos-option` shows them.
pub fn options_doc(
    ev: &mut Evaluator,
    modules: &Path,
    configuration: &Path,
    name: Option<&str>,
    with_values: bool,
) -> Result<serde_json::Value, ConfigError> {
    let render = |ev: &Evaluator, e: EvalError| ConfigError::Eval(e.render(&ev.sources));
    let set = eval_config_set(ev, modules, configuration).map_err(|e| render(ev, e))?;
    let Value::Attrs(set) = set else {
        return Err(ConfigError::Shape(
            "eval-config.nix did not return a set".into(),
        ));
    };
    let options = set
        .get("options")
        .cloned()
        .ok_or_else(|| ConfigError::Shape("no `options'".into()))?;
    let doc = modules.join("options-doc.nix");
    let f = ev
        .eval_string(&format!(
            "import {}",
            nix_string(&doc.display().to_string())
        ))
        .map_err(|e| render(ev, e))?;
    let mut args = vec![
        (strata_lang::value::intern("options"), options),
        (
            strata_lang::value::intern("withValues"),
            Value::Bool(with_values),
        ),
    ];
    if let Some(n) = name {
        args.push((strata_lang::value::intern("name"), Value::str(n)));
    }
    let arg = Value::attrs(strata_lang::value::Attrs::from_unsorted(args));
    let list = ev.call(&f, arg, span()).map_err(|e| render(ev, e))?;
    to_serde(ev, &list).map_err(|e| render(ev, e))
}

pub(crate) fn to_serde<T: serde::de::DeserializeOwned>(
    ev: &mut Evaluator,
    v: &Value,
) -> Result<T, EvalError> {
    to_serde_ctx(ev, v, &mut Context::new())
}

/// Converts through JSON, collecting the context of every string into `ctx`.
fn to_serde_ctx<T: serde::de::DeserializeOwned>(
    ev: &mut Evaluator,
    v: &Value,
    ctx: &mut Context,
) -> Result<T, EvalError> {
    let mut out = Vec::new();
    strata_lang::print::to_json(ev, v, span(), &mut out, ctx)?;
    serde_json::from_slice(&out).map_err(|e| {
        EvalError::eval(
            format!("the evaluated configuration has an unexpected shape: {e}"),
            span(),
        )
    })
}

/// The environment variable naming the configuration when no `-f` does.
pub const CONFIG_ENV: &str = "STRATA_CONFIG";

/// The configuration of the machine itself, the last place looked.
pub const SYSTEM_CONFIGURATION: &str = "/etc/strata/configuration.nix";

/// No configuration was named and none was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no configuration: give one with -f, set {CONFIG_ENV}, or write ./configuration.nix or \
     {SYSTEM_CONFIGURATION}"
)]
pub struct NoConfiguration;

/// The configuration file every command uses: `flag` (`-f`) if given, else `$STRATA_CONFIG`
/// if set and not empty, else `./configuration.nix` if it is a file, else
/// `/etc/strata/configuration.nix` if it is a file. A named file (flag or variable) is
/// returned as named, whether or not it exists: reading it names the problem.
pub fn configuration_file(flag: Option<&Path>) -> Result<PathBuf, NoConfiguration> {
    choose_configuration(
        flag,
        std::env::var_os(CONFIG_ENV),
        &[
            Path::new("configuration.nix"),
            Path::new(SYSTEM_CONFIGURATION),
        ],
    )
}

fn choose_configuration(
    flag: Option<&Path>,
    env: Option<std::ffi::OsString>,
    candidates: &[&Path],
) -> Result<PathBuf, NoConfiguration> {
    if let Some(f) = flag {
        return Ok(f.to_owned());
    }
    if let Some(e) = env.filter(|e| !e.is_empty()) {
        return Ok(PathBuf::from(e));
    }
    candidates
        .iter()
        .find(|c| c.is_file())
        .map(|c| c.to_path_buf())
        .ok_or(NoConfiguration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_then_variable_then_current_directory_then_etc() {
        let dir = tempfile::tempdir().unwrap();
        let here = dir.path().join("configuration.nix");
        let etc = dir.path().join("etc-configuration.nix");
        let cands = [here.as_path(), etc.as_path()];
        let flag = Path::new("/f.nix");
        let env = || Some(std::ffi::OsString::from("/env.nix"));
        assert_eq!(
            choose_configuration(None, None, &cands),
            Err(NoConfiguration)
        );
        std::fs::write(&etc, "{}").unwrap();
        assert_eq!(choose_configuration(None, None, &cands).unwrap(), etc);
        std::fs::write(&here, "{}").unwrap();
        assert_eq!(choose_configuration(None, None, &cands).unwrap(), here);
        let empty = Some(std::ffi::OsString::new());
        assert_eq!(choose_configuration(None, empty, &cands).unwrap(), here);
        assert_eq!(
            choose_configuration(None, env(), &cands).unwrap(),
            Path::new("/env.nix")
        );
        assert_eq!(
            choose_configuration(Some(flag), env(), &cands).unwrap(),
            flag
        );
        assert!(NoConfiguration.to_string().contains("STRATA_CONFIG"));
    }
}
