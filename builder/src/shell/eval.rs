//! What a shell is made of: `-p` names or a shell.nix evaluated against the package set into
//! `pkgs.mkShell`'s value (`modules/pkgs/mkshell.nix`), read into an [`EvaluatedShell`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use strata_lang::value::{intern, Attrs, ContextElem, Value};
use strata_lang::{EvalError, Evaluator};

use super::{AutoArg, ShellError, ShellSource};
use crate::config::{nix_string, span};

/// The shell file's reader, below the module directory.
pub const SHELL_FILE_NIX: &str = "pkgs/shell-file.nix";

/// A shell as its mkShell value describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluatedShell {
    /// The `.drv` of the shell's usr-merged tree.
    pub tree_drv: String,
    /// `shellHook`: inputsFrom's hooks, then the shell's own.
    pub shell_hook: String,
    /// The variables to export (name -> value), `name` included.
    pub variables: BTreeMap<String, String>,
    /// The derivations the variables and the hook refer to (built before the shell starts).
    pub drvs: BTreeSet<String>,
    /// Plain store paths they refer to (sources copied into the store).
    pub paths: BTreeSet<String>,
}

fn render(ev: &Evaluator, e: EvalError) -> ShellError {
    let text = e.render(&ev.sources);
    ShellError::Eval(text.trim_end().trim_start_matches("error: ").to_owned())
}

/// The value of the attribute path `path` (`python3Packages.numpy` as two names) in `set`, or
/// `None` when a name on the way is missing.
fn select(ev: &mut Evaluator, set: &Value, path: &[&str]) -> Result<Option<Value>, EvalError> {
    let mut v = set.clone();
    for name in path {
        let Value::Attrs(a) = ev.force(&v, span())? else {
            return Ok(None);
        };
        match a.get(name) {
            Some(x) => v = x.clone(),
            None => return Ok(None),
        }
    }
    ev.force(&v, span()).map(Some)
}

/// The package `name` (a name of `pkgs`, else an attribute path in it), or an error naming it
/// with the closest names the set has.
fn package(
    ev: &mut Evaluator,
    pkgs: &Value,
    name: &str,
    set_name: &str,
) -> Result<Value, ShellError> {
    // A Debian name may hold dots (`python3.11`): the whole name first, then as a path.
    if let Some(v) = select(ev, pkgs, &[name]).map_err(|e| render(ev, e))? {
        return Ok(v);
    }
    let path: Vec<&str> = name.split('.').collect();
    if path.iter().any(|p| p.is_empty()) {
        return Err(ShellError::Usage(format!(
            "'{name}' is not a package name (an attribute path such as jq or python3Packages.numpy)"
        )));
    }
    if let Some(v) = select(ev, pkgs, &path).map_err(|e| render(ev, e))? {
        return Ok(v);
    }
    // The evaluator's own lookup knows the names and says which are close.
    let expr = format!(
        "pkgs: pkgs.{}",
        path.iter()
            .map(|p| nix_string(p))
            .collect::<Vec<_>>()
            .join(".")
    );
    let hint = ev
        .eval_string(&expr)
        .and_then(|f| ev.call(&f, pkgs.clone(), span()))
        .and_then(|v| ev.force(&v, span()))
        .err()
        .and_then(|e| e.hint.clone());
    Err(ShellError::UnknownPackage {
        name: name.to_owned(),
        set: set_name.to_owned(),
        hint: hint.map(|h| format!(" {h}")).unwrap_or_default(),
    })
}

/// Evaluates `source` against `pkgs` (the package set `set_name` describes, for errors) into
/// the shell it describes.
pub fn evaluate(
    ev: &mut Evaluator,
    modules: &Path,
    pkgs: &Value,
    source: &ShellSource,
    auto_args: &[(String, AutoArg)],
    set_name: &str,
) -> Result<EvaluatedShell, ShellError> {
    let shell = match source {
        ShellSource::Packages(names) => {
            let mut packages = Vec::new();
            for n in names {
                packages.push(package(ev, pkgs, n, set_name)?);
            }
            let f = ev
                .eval_string("pkgs: packages: pkgs.mkShell { name = \"shell\"; inherit packages; }")
                .map_err(|e| render(ev, e))?;
            let g = ev
                .call(&f, pkgs.clone(), span())
                .map_err(|e| render(ev, e))?;
            ev.call(&g, Value::list(packages), span())
                .map_err(|e| render(ev, e))?
        }
        ShellSource::File(file) => {
            let mut args = Vec::new();
            for (name, arg) in auto_args {
                let v = match arg {
                    AutoArg::Str(s) => Value::str(s.clone()),
                    AutoArg::Expr(e) => ev.eval_string(e).map_err(|err| {
                        ShellError::Eval(format!(
                            "--arg {name}: {}",
                            err.render(&ev.sources)
                                .trim_start_matches("error: ")
                                .trim_end()
                        ))
                    })?,
                };
                args.push((intern(name), v));
            }
            let reader = modules.join(SHELL_FILE_NIX);
            let f = ev
                .eval_string(&format!(
                    "import {}",
                    nix_string(&reader.display().to_string())
                ))
                .map_err(|e| render(ev, e))?;
            let file_path = Value::Path(std::rc::Rc::new(file.display().to_string()));
            let arg = Value::attrs(Attrs::from_unsorted(vec![
                (intern("pkgs"), pkgs.clone()),
                (intern("file"), file_path),
                (intern("autoArgs"), Value::attrs(Attrs::from_unsorted(args))),
            ]));
            ev.call(&f, arg, span()).map_err(|e| render(ev, e))?
        }
    };
    read_shell(ev, &shell, source)
}

/// Reads mkShell's value: the tree's `drvPath`, `shellHook`, `shellVariables`.
fn read_shell(
    ev: &mut Evaluator,
    shell: &Value,
    source: &ShellSource,
) -> Result<EvaluatedShell, ShellError> {
    let what = match source {
        ShellSource::Packages(_) => "the shell of the named packages".to_owned(),
        ShellSource::File(f) => format!("'{}'", f.display()),
    };
    let shell = ev.force(shell, span()).map_err(|e| render(ev, e))?;
    let set = match &shell {
        Value::Attrs(a) if a.contains("shellVariables") => a.clone(),
        other => {
            return Err(ShellError::NotAShell {
                what,
                found: if matches!(other, Value::Attrs(a) if a.contains("drvPath")) {
                    "a derivation that mkShell did not make".to_owned()
                } else {
                    other.type_desc().to_owned()
                },
            })
        }
    };
    let mut drvs = BTreeSet::new();
    let mut paths = BTreeSet::new();
    let mut string = |ev: &mut Evaluator, v: &Value| -> Result<String, ShellError> {
        let s = ev.force_string(v, span()).map_err(|e| render(ev, e))?;
        for c in s.context() {
            match c {
                ContextElem::Plain(p) => {
                    paths.insert(p.clone());
                }
                ContextElem::AllOutputs(d) | ContextElem::Output { drv: d, .. } => {
                    drvs.insert(d.clone());
                }
            }
        }
        Ok(s.to_str_lossy().into_owned())
    };
    let field = |name: &str| set.get(name).cloned().ok_or_else(|| name.to_owned());
    let missing = |n: String| ShellError::Eval(format!("{what}: mkShell's value has no `{n}'"));
    let tree_drv = {
        let v = field("drvPath").map_err(missing)?;
        ev.force_string(&v, span())
            .map_err(|e| render(ev, e))?
            .to_str_lossy()
            .into_owned()
    };
    let shell_hook = string(ev, &field("shellHook").map_err(missing)?)?;
    let vars = field("shellVariables").map_err(missing)?;
    let Value::Attrs(vars) = ev.force(&vars, span()).map_err(|e| render(ev, e))? else {
        return Err(ShellError::Eval(format!(
            "{what}: shellVariables is not a set"
        )));
    };
    let mut variables = BTreeMap::new();
    for (name, v) in vars.sorted() {
        let name = name.as_str().to_owned();
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err(ShellError::Eval(format!(
                "{what}: '{name}' cannot be the name of an environment variable"
            )));
        }
        let value = string(ev, v)?;
        if value.contains('\0') {
            return Err(ShellError::Eval(format!(
                "{what}: the variable {name} holds a NUL byte"
            )));
        }
        variables.insert(name, value);
    }
    Ok(EvaluatedShell {
        tree_drv,
        shell_hook,
        variables,
        drvs,
        paths,
    })
}
