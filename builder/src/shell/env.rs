//! What runs in the shell: the program, its arguments and its environment.
//!
//! - `--run CMD`: the tree's bash runs `shellHook`, then CMD, non-interactively; its exit
//!   status is the shell's.
//! - `--command CMD`: an interactive bash (the rc file below) runs CMD after the hook and
//!   exits, unless CMD ends with `return`.
//! - neither: the user's `$SHELL` when the tree has it, else the tree's bash (or `sh`). For
//!   bash, an rc file reads `~/.bashrc` (not with `--pure`), sets `PATH` and the shell's
//!   variables again (a `.bashrc` may have changed them) and runs the hook, so what the hook
//!   defines stays; another shell is started by a bash that ran the hook, and inherits its
//!   exported variables.
//!
//! The environment is the host's (or with `--pure` only [`PURE_KEEP`] and `--keep`'s), with
//! `PATH` led by the tree's `/usr/bin` and `/usr/sbin`, the shell's variables, `shellHook`,
//! `IN_NIX_SHELL` (`impure` or `pure`, as nix-shell sets it), `STRATA_SHELL` (the tree's
//! store path) and `SHELL` (the interactive shell that runs).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The variables `--pure` keeps (besides those `--keep` names).
pub const PURE_KEEP: &[&str] = &[
    "HOME",
    "USER",
    "LOGNAME",
    "TERM",
    "TZ",
    "PAGER",
    "SHLVL",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XAUTHORITY",
    "XDG_RUNTIME_DIR",
    "http_proxy",
    "https_proxy",
    "ftp_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "FTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
];

/// The directories that lead `PATH` (the tree's programs), and all of `PATH` with `--pure`.
pub const TREE_PATH: &[&str] = &["/usr/bin", "/usr/sbin"];

/// What the user asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Interactive,
    /// `--run CMD`.
    Run(String),
    /// `--command CMD`.
    Command(String),
}

/// The inputs of [`program`]: the request, the shell, the host's environment.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct EnvInputs<'a> {
    pub action: &'a Action,
    pub pure: bool,
    pub keep: &'a [String],
    /// The host's environment.
    pub host_env: &'a [(OsString, OsString)],
    /// The shell's variables (mkShell's `shellVariables`).
    pub variables: &'a BTreeMap<String, String>,
    pub shell_hook: &'a str,
    /// The tree's logical store path.
    pub tree: &'a str,
    /// Whether the tree has a program at this absolute path (as the shell sees it).
    pub tree_has: &'a dyn Fn(&Path) -> bool,
    /// Where the rc file will be (a place the shell sees).
    pub rc_file: &'a Path,
}

/// What to execute in the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub path: PathBuf,
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// The rc file's text, to be written at [`EnvInputs::rc_file`] (`None`: no rc file).
    pub rc: Option<String>,
}

/// `s` quoted for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The program, arguments and environment for `inputs`.
pub fn program(inputs: &EnvInputs<'_>) -> Program {
    let bash = Path::new("/usr/bin/bash");
    let fallback: PathBuf = if (inputs.tree_has)(bash) {
        bash.to_owned()
    } else {
        "/usr/bin/sh".into()
    };
    let host_shell = inputs
        .host_env
        .iter()
        .find(|(k, _)| k == "SHELL")
        .map(|(_, v)| PathBuf::from(v))
        .filter(|p| p.is_absolute() && (inputs.tree_has)(p));
    let interactive = host_shell.clone().unwrap_or_else(|| fallback.clone());

    let mut env = environment(inputs, &interactive);
    let path_value = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hook = "eval \"${shellHook-}\"";
    let name = |p: &Path| p.as_os_str().to_owned();
    let rc_text = |extra: &str| {
        let mut rc = String::new();
        if !inputs.pure {
            rc.push_str("if [ -n \"${PS1-}\" ] && [ -e ~/.bashrc ]; then . ~/.bashrc; fi\n");
        }
        rc.push_str(&format!("export PATH={}\n", shell_quote(&path_value)));
        for (k, v) in inputs.variables {
            rc.push_str(&format!("export {k}={}\n", shell_quote(v)));
        }
        rc.push_str(hook);
        rc.push('\n');
        rc.push_str(extra);
        rc
    };
    let is_bash = |p: &Path| p.file_name() == Some(OsStr::new("bash"));
    let (path, argv, rc) = match inputs.action {
        Action::Run(cmd) => (
            fallback.clone(),
            vec![
                name(&fallback),
                "--noprofile".into(),
                "--norc".into(),
                "-c".into(),
                format!("{hook}\n{cmd}").into(),
            ],
            None,
        ),
        Action::Command(cmd) if is_bash(&fallback) => (
            fallback.clone(),
            vec![
                name(&fallback),
                "--rcfile".into(),
                name(inputs.rc_file),
                "-i".into(),
            ],
            Some(rc_text(&format!("{cmd}\nexit\n"))),
        ),
        Action::Command(cmd) => (
            fallback.clone(),
            vec![
                name(&fallback),
                "-c".into(),
                format!("{hook}\n{cmd}").into(),
            ],
            None,
        ),
        Action::Interactive if is_bash(&interactive) => (
            interactive.clone(),
            vec![name(&interactive), "--rcfile".into(), name(inputs.rc_file)],
            Some(rc_text("")),
        ),
        Action::Interactive => (
            fallback.clone(),
            vec![
                name(&fallback),
                "-c".into(),
                format!("{hook}\nexec \"$0\"").into(),
                name(&interactive),
            ],
            None,
        ),
    };
    env.sort();
    Program {
        path,
        argv,
        env,
        rc,
    }
}

/// The shell's environment (see the module documentation); `shell` is its `SHELL`.
fn environment(inputs: &EnvInputs<'_>, shell: &Path) -> Vec<(OsString, OsString)> {
    let mut env: BTreeMap<OsString, OsString> = inputs
        .host_env
        .iter()
        .filter(|(k, _)| {
            !inputs.pure
                || PURE_KEEP.iter().any(|n| k == n)
                || inputs.keep.iter().any(|n| k.as_bytes() == n.as_bytes())
        })
        .cloned()
        .collect();
    let kept_path = env.get(OsStr::new("PATH")).cloned();
    let mut path: Vec<Vec<u8>> = TREE_PATH.iter().map(|d| d.as_bytes().to_vec()).collect();
    let keep_host_path = !inputs.pure || inputs.keep.iter().any(|k| k == "PATH");
    if let Some(host) = kept_path.filter(|_| keep_host_path) {
        for dir in host.as_bytes().split(|b| *b == b':') {
            if !dir.is_empty() && !path.iter().any(|d| d == dir) {
                path.push(dir.to_vec());
            }
        }
    }
    env.insert("PATH".into(), OsString::from_vec(path.join(&b':')));
    for (k, v) in inputs.variables {
        env.insert(k.into(), v.into());
    }
    env.insert("shellHook".into(), inputs.shell_hook.into());
    env.insert(
        "IN_NIX_SHELL".into(),
        if inputs.pure { "pure" } else { "impure" }.into(),
    );
    env.insert("STRATA_SHELL".into(), inputs.tree.into());
    env.insert("SHELL".into(), shell.as_os_str().to_owned());
    env.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_env() -> Vec<(OsString, OsString)> {
        [
            ("HOME", "/home/u"),
            ("PATH", "/home/u/bin:/usr/local/bin:/usr/bin:/bin"),
            ("SHELL", "/usr/bin/zsh"),
            ("SECRET_TOKEN", "x"),
            ("TERM", "xterm"),
        ]
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
    }

    fn run(action: Action, pure: bool, keep: &[String], has_zsh: bool) -> Program {
        let env = host_env();
        let mut variables = BTreeMap::new();
        variables.insert("name".to_owned(), "demo".to_owned());
        variables.insert("GREETING".to_owned(), "it's here".to_owned());
        let has =
            move |p: &Path| p == Path::new("/usr/bin/bash") || (has_zsh && p.ends_with("zsh"));
        program(&EnvInputs {
            action: &action,
            pure,
            keep,
            host_env: &env,
            variables: &variables,
            shell_hook: "echo hooked",
            tree: "/nix/store/x-shell-usr",
            tree_has: &has,
            rc_file: Path::new("/tmp/s/rc"),
        })
    }

    fn get<'a>(p: &'a Program, k: &str) -> Option<&'a str> {
        p.env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.to_str().unwrap())
    }

    #[test]
    fn run_keeps_the_environment_and_leads_path_with_the_tree() {
        let p = run(Action::Run("jq --version".into()), false, &[], false);
        assert_eq!(p.path, Path::new("/usr/bin/bash"));
        assert_eq!(
            p.argv,
            [
                "/usr/bin/bash",
                "--noprofile",
                "--norc",
                "-c",
                "eval \"${shellHook-}\"\njq --version"
            ]
            .map(OsString::from)
        );
        assert_eq!(
            get(&p, "PATH"),
            Some("/usr/bin:/usr/sbin:/home/u/bin:/usr/local/bin:/bin")
        );
        assert_eq!(get(&p, "SECRET_TOKEN"), Some("x"));
        assert_eq!(get(&p, "GREETING"), Some("it's here"));
        assert_eq!(get(&p, "shellHook"), Some("echo hooked"));
        assert_eq!(get(&p, "IN_NIX_SHELL"), Some("impure"));
        assert_eq!(get(&p, "STRATA_SHELL"), Some("/nix/store/x-shell-usr"));
        // The host's zsh is not in the tree: SHELL is the tree's bash.
        assert_eq!(get(&p, "SHELL"), Some("/usr/bin/bash"));
        assert!(p.rc.is_none());
    }

    #[test]
    fn pure_keeps_only_the_documented_variables_and_those_named() {
        let p = run(Action::Run("true".into()), true, &[], false);
        assert_eq!(get(&p, "SECRET_TOKEN"), None);
        assert_eq!(get(&p, "HOME"), Some("/home/u"));
        assert_eq!(get(&p, "PATH"), Some("/usr/bin:/usr/sbin"));
        assert_eq!(get(&p, "IN_NIX_SHELL"), Some("pure"));
        let p = run(
            Action::Run("true".into()),
            true,
            &["SECRET_TOKEN".to_owned(), "PATH".to_owned()],
            false,
        );
        assert_eq!(get(&p, "SECRET_TOKEN"), Some("x"));
        assert_eq!(
            get(&p, "PATH"),
            Some("/usr/bin:/usr/sbin:/home/u/bin:/usr/local/bin:/bin")
        );
    }

    #[test]
    fn interactive_bash_gets_an_rc_file_and_another_shell_is_started_after_the_hook() {
        let p = run(Action::Interactive, false, &[], false);
        assert_eq!(
            p.argv,
            ["/usr/bin/bash", "--rcfile", "/tmp/s/rc"].map(OsString::from)
        );
        let rc = p.rc.unwrap();
        assert!(
            rc.starts_with("if [ -n \"${PS1-}\" ] && [ -e ~/.bashrc ]"),
            "{rc}"
        );
        assert!(rc.contains("export GREETING='it'\\''s here'\n"), "{rc}");
        assert!(rc.ends_with("eval \"${shellHook-}\"\n"), "{rc}");

        let p = run(Action::Interactive, false, &[], true);
        assert_eq!(get(&p, "SHELL"), Some("/usr/bin/zsh"));
        assert_eq!(
            p.argv,
            [
                "/usr/bin/bash",
                "-c",
                "eval \"${shellHook-}\"\nexec \"$0\"",
                "/usr/bin/zsh"
            ]
            .map(OsString::from)
        );
        assert!(p.rc.is_none());
    }

    #[test]
    fn command_runs_in_an_interactive_bash_and_exits() {
        let p = run(Action::Command("make".into()), true, &[], false);
        assert_eq!(
            p.argv,
            ["/usr/bin/bash", "--rcfile", "/tmp/s/rc", "-i"].map(OsString::from)
        );
        let rc = p.rc.unwrap();
        assert!(!rc.contains("bashrc"), "--pure reads no .bashrc: {rc}");
        assert!(rc.ends_with("eval \"${shellHook-}\"\nmake\nexit\n"), "{rc}");
    }
}
