//! `strata eval`: evaluate and print, as `nix-instantiate --eval` does.

use std::io::Write;
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
    /// Print the value at this attribute path instead of the whole value (`a.b`, `list.0`,
    /// `a."b.c"`), as `nix-instantiate -A` does; may be repeated.
    #[arg(short = 'A', long = "attr", value_name = "PATH")]
    attr: Vec<String>,
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
    let mut out = std::io::stdout().lock();
    match run_eval(&mut ev, &args, &mut out) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(Failure::Eval(e)) => {
            out.flush()?;
            eprint!("{}", e.render(&ev.sources));
            Ok(ExitCode::FAILURE)
        }
        Err(Failure::Io(e)) => Err(e.into()),
    }
}

/// Why printing stopped: an evaluation error (shown as Nix shows it) or standard output.
enum Failure {
    Eval(EvalError),
    Io(std::io::Error),
}

impl From<EvalError> for Failure {
    fn from(e: EvalError) -> Self {
        Failure::Eval(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Io(e)
    }
}

/// Evaluates, then prints the value at each `-A` path (or the whole value) as soon as it is
/// known, as `nix-instantiate` does: a value printed before a later path fails stays printed.
fn run_eval(ev: &mut Evaluator, args: &EvalArgs, out: &mut impl Write) -> Result<(), Failure> {
    let span = strata_lang::source::Span {
        file: 0,
        start: 0,
        end: 0,
    };
    let root = match (&args.expr, &args.file) {
        (Some(e), _) => ev.eval_string(e)?,
        (None, Some(f)) => {
            let abs = std::path::absolute(f).unwrap_or_else(|_| f.clone());
            ev.eval_file(&abs)?
        }
        (None, None) => Value::Null,
    };
    let auto_args = auto_args(ev, args)?;
    let paths: Vec<&str> = if args.attr.is_empty() {
        vec![""]
    } else {
        args.attr.iter().map(String::as_str).collect()
    };
    for path in paths {
        let v = ev.select_attr_path(&root, path, &auto_args)?;
        // Like nix-instantiate, the value found is called only when arguments were given.
        let v = if auto_args.is_empty() {
            ev.force(&v, span)?
        } else {
            ev.auto_call(&v, &auto_args)?
        };
        if args.json {
            let v = if args.strict {
                ev.deep_force(&v, span)?
            } else {
                v
            };
            let mut bytes = Vec::new();
            let mut ctx = Default::default();
            strata_lang::print::to_json(ev, &v, span, &mut bytes, &mut ctx)?;
            // Like nix-instantiate: no newline after JSON.
            out.write_all(&bytes)?;
        } else {
            let mut bytes = strata_lang::print::print_value(ev, &v, args.strict, span)?;
            bytes.push(b'\n');
            out.write_all(&bytes)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The `--arg` (lazy: evaluated only if the function uses it) and `--argstr` values.
fn auto_args(ev: &mut Evaluator, args: &EvalArgs) -> Result<Rc<Attrs>, EvalError> {
    let mut given: Vec<(strata_lang::value::Name, Value)> = Vec::new();
    for pair in args.arg.chunks(2) {
        if let [name, expr] = pair {
            let v = ev.lazy_expr(expr)?;
            given.push((ev.interner.intern(name), v));
        }
    }
    for pair in args.argstr.chunks(2) {
        if let [name, value] = pair {
            given.push((ev.interner.intern(name), Value::str(value.as_bytes())));
        }
    }
    // A name given twice: the last one counts.
    given.reverse();
    let mut entries: Vec<(strata_lang::value::Name, Value)> = Vec::new();
    for (n, v) in given {
        if !entries.iter().any(|(m, _)| *m == n) {
            entries.push((n, v));
        }
    }
    Ok(Rc::new(Attrs::from_unsorted(entries)))
}
