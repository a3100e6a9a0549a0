//! `strata eval`: evaluate and print, as `nix-instantiate --eval` does.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use anyhow::{bail, Result};
use clap::Args;
use strata_lang::value::{Attrs, Value};
use strata_lang::{EvalConfig, EvalError, Evaluator};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The file to evaluate (a directory means its default.nix).
    #[arg(conflicts_with = "expr")]
    file: Option<PathBuf>,
    /// Evaluate this expression instead of a file.
    #[arg(short = 'E', long = "expr", value_name = "EXPR")]
    expr: Option<String>,
    /// Evaluate the result completely, not only to its outermost constructor.
    #[arg(long)]
    strict: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Write what evaluation adds (`toFile`, paths, `.drv` files) into the store, so it can
    /// be read back; by default paths are only computed.
    #[arg(long)]
    read_write_mode: bool,
    /// Add a search path entry, `PATH` or `PREFIX=PATH` (before NIX_PATH).
    #[arg(short = 'I', value_name = "PATH")]
    include: Vec<String>,
    /// Pass NAME = EXPR to the function the file evaluates to.
    #[arg(long, num_args = 2, value_names = ["NAME", "EXPR"])]
    arg: Vec<String>,
    /// Pass NAME = "VALUE" to the function the file evaluates to.
    #[arg(long, num_args = 2, value_names = ["NAME", "VALUE"])]
    argstr: Vec<String>,
}

fn search_entry(s: &str) -> (String, String) {
    match s.split_once('=') {
        Some((prefix, path)) => (prefix.to_owned(), path.to_owned()),
        None => (String::new(), s.to_owned()),
    }
}

pub fn run(args: EvalArgs, store_root: Option<PathBuf>, store_dir: &str) -> Result<ExitCode> {
    if args.file.is_none() && args.expr.is_none() {
        bail!("nothing to evaluate: give a FILE or -E EXPR");
    }
    let mut search: Vec<(String, String)> = args.include.iter().map(|s| search_entry(s)).collect();
    if let Ok(np) = std::env::var("NIX_PATH") {
        search.extend(np.split(':').filter(|e| !e.is_empty()).map(search_entry));
    }
    let store_dir = strata_store::StoreDir::new(store_dir)?;
    let config = EvalConfig {
        search_path: search,
        store_dir: store_dir.as_str().to_owned(),
        ..strata_builder::eval_thread::eval_config()
    };
    let store = if args.read_write_mode {
        Some(crate::open_store(store_root, store_dir.as_str())?)
    } else {
        None
    };
    strata_builder::eval_thread::run("eval", move || evaluate(args, config, store_dir, store))?
}

fn evaluate(
    args: EvalArgs,
    config: EvalConfig,
    store_dir: strata_store::StoreDir,
    store: Option<strata_store::LocalStore>,
) -> Result<ExitCode> {
    let io: Rc<dyn strata_lang::io::EvalIo> = match store {
        Some(s) => Rc::new(strata_builder::eval_io::StoreIo::new(s)),
        None => Rc::new(strata_builder::eval_io::FsIo::new(store_dir)),
    };
    let mut ev = Evaluator::new(config, io);
    ev.reset_stack_base();
    let result = run_eval(&mut ev, &args);
    match result {
        Ok(bytes) => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            // Like nix-instantiate: a newline after a printed value, none after JSON.
            if !args.json {
                out.write_all(b"\n")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprint!("{}", e.render(&ev.sources));
            Ok(ExitCode::FAILURE)
        }
    }
}

fn run_eval(ev: &mut Evaluator, args: &EvalArgs) -> Result<Vec<u8>, EvalError> {
    let span = strata_lang::source::Span {
        file: 0,
        start: 0,
        end: 0,
    };
    let v = match (&args.expr, &args.file) {
        (Some(e), _) => ev.eval_string(e)?,
        (None, Some(f)) => {
            let abs = std::path::absolute(f).unwrap_or_else(|_| f.clone());
            ev.eval_file(&abs)?
        }
        (None, None) => Value::Null,
    };
    let v = auto_call(ev, v, args, span)?;
    if args.json {
        let v = if args.strict {
            ev.deep_force(&v, span)?
        } else {
            v
        };
        let mut out = Vec::new();
        let mut ctx = Default::default();
        strata_lang::print::to_json(ev, &v, span, &mut out, &mut ctx)?;
        Ok(out)
    } else {
        strata_lang::print::print_value(ev, &v, args.strict, span)
    }
}

/// Calls a function with `--arg`/`--argstr` values for its formals, as Nix's auto-call does.
fn auto_call(
    ev: &mut Evaluator,
    v: Value,
    args: &EvalArgs,
    span: strata_lang::source::Span,
) -> Result<Value, EvalError> {
    let v = ev.force(&v, span)?;
    let Value::Lambda(c) = &v else { return Ok(v) };
    let strata_lang::compile::Param::Pattern { formals, .. } = &c.def.param else {
        return Ok(v);
    };
    let mut given: Vec<(String, Value)> = Vec::new();
    for pair in args.arg.chunks(2) {
        if let [name, expr] = pair {
            given.push((name.clone(), ev.eval_string(expr)?));
        }
    }
    for pair in args.argstr.chunks(2) {
        if let [name, value] = pair {
            given.push((name.clone(), Value::str(value.as_bytes())));
        }
    }
    let mut entries = Vec::new();
    for (name, _, _) in formals {
        if let Some((_, val)) = given.iter().find(|(n, _)| n.as_str() == name.as_str()) {
            entries.push((name.clone(), val.clone()));
        }
    }
    let arg = Value::attrs(Attrs::from_unsorted(entries));
    ev.call(&v, arg, span)
}
