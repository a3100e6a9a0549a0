//! `derivationStrict` and `derivation`: from attributes to a `.drv` and its output paths,
//! computed exactly as Nix computes them.

use std::collections::BTreeSet;
use std::rc::Rc;

use strata_store::derivation::{Derivation, Output};
use strata_store::{Hash, HashAlgo, StoreDir};

use super::{attrs, boolean, PrimFn};
use crate::error::{EvalError, EvalResult};
use crate::eval::Evaluator;
use crate::source::Span;
use crate::value::{Attrs, Context, ContextElem, Name, NixStr, Value};

pub(super) fn register(p: &mut Vec<(&'static str, usize, PrimFn)>) {
    p.push(("derivationStrict", 1, derivation_strict as PrimFn));
}

/// `derivation`, in Nix, on top of `derivationStrict`: one set per output, each the
/// arguments plus `outPath`, `drvPath`, `type`, `outputName`, `all` and `drvAttrs`, with the
/// first output's set as the result.
pub(super) const DERIVATION_NIX: &str = r#"
args@{ outputs ? [ "out" ], ... }:
let
  built = derivationStrict args;
  forOutput = name: {
    inherit name;
    value = shared // {
      outPath = built.${name};
      drvPath = built.drvPath;
      type = "derivation";
      outputName = name;
    };
  };
  perOutput = map forOutput outputs;
  shared = args // builtins.listToAttrs perOutput // {
    all = map (o: o.value) perOutput;
    drvAttrs = args;
  };
in (builtins.head perOutput).value
"#;

fn str_of(ev: &mut Evaluator, v: &Value, s: Span, ctx: &mut Context) -> EvalResult<String> {
    let mut out = Vec::new();
    ev.coerce_to_string(v, s, true, true, &mut out, ctx)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn derivation_strict(ev: &mut Evaluator, a: &[Value], s: Span) -> EvalResult<Value> {
    let args = attrs(ev, &a[0], s)?;
    let name = match args.get("name") {
        Some(n) => {
            let n = n.clone();
            let mut c = Context::new();
            str_of(ev, &n, s, &mut c).map_err(|e| {
                e.frame("while evaluating the derivation attribute 'name'", s.into())
            })?
        }
        None => {
            return Err(EvalError::eval(
                "attribute 'name' missing for call to 'derivationStrict'",
                s,
            ))
        }
    };
    let fail = |msg: String| {
        EvalError::eval(msg, s).frame(format!("while evaluating the derivation '{name}'"), Some(s))
    };
    strata_store::path::validate_name(&name)
        .map_err(|e| fail(format!("invalid derivation name: {e}")))?;
    if name.ends_with(".drv") {
        return Err(fail(
            "derivation names are not allowed to end in '.drv'".to_owned(),
        ));
    }
    let structured = match args.get("__structuredAttrs") {
        Some(v) => {
            let v = v.clone();
            boolean(ev, &v, s)?
        }
        None => false,
    };
    let ignore_nulls = match args.get("__ignoreNulls") {
        Some(v) => {
            let v = v.clone();
            boolean(ev, &v, s)?
        }
        None => false,
    };
    let mut drv = Derivation::default();
    let mut ctx = Context::new();
    let mut outputs: Vec<String> = vec!["out".to_owned()];
    let mut output_hash: Option<String> = None;
    let mut output_hash_algo = String::new();
    let mut output_hash_mode = String::from("flat");
    let mut json = Vec::new();
    json.push(b'{');
    let mut first_json = true;
    let entries: Vec<(Name, Value)> = args
        .sorted()
        .into_iter()
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    for (key, value) in entries {
        if key.as_str() == "__ignoreNulls" {
            continue;
        }
        let frame = format!("while evaluating the attribute '{key}' of the derivation '{name}'");
        let v = ev
            .force(&value, s)
            .map_err(|e| e.frame(frame.clone(), Some(s)))?;
        if ignore_nulls && matches!(v, Value::Null) {
            continue;
        }
        if key.as_str() == "outputs" {
            outputs = parse_outputs(ev, &v, s).map_err(|e| e.frame(frame.clone(), Some(s)))?;
        }
        if structured {
            if key.as_str() == "__structuredAttrs" {
                continue;
            }
            if !first_json {
                json.push(b',');
            }
            first_json = false;
            crate::print::json_string(key.as_bytes(), &mut json);
            json.push(b':');
            crate::print::to_json(ev, &v, s, &mut json, &mut ctx)
                .map_err(|e| e.frame(frame.clone(), Some(s)))?;
            let as_str = |ev: &mut Evaluator, ctx: &mut Context| -> EvalResult<String> {
                match &v {
                    Value::String(_) => str_of(ev, &v, s, ctx),
                    other => Err(super::type_error("a string", other, s)),
                }
            };
            match key.as_str() {
                "builder" => drv.builder = as_str(ev, &mut ctx)?,
                "system" => drv.system = as_str(ev, &mut ctx)?,
                "outputHash" => output_hash = Some(as_str(ev, &mut ctx)?),
                "outputHashAlgo" => output_hash_algo = as_str(ev, &mut ctx)?,
                "outputHashMode" => output_hash_mode = as_str(ev, &mut ctx)?,
                _ => {}
            }
        } else if key.as_str() == "args" {
            let l = super::list(ev, &v, s).map_err(|e| e.frame(frame.clone(), Some(s)))?;
            for x in l.iter() {
                let arg =
                    str_of(ev, x, s, &mut ctx).map_err(|e| e.frame(frame.clone(), Some(s)))?;
                drv.args.push(arg);
            }
        } else {
            let text = str_of(ev, &v, s, &mut ctx).map_err(|e| e.frame(frame.clone(), Some(s)))?;
            match key.as_str() {
                "builder" => drv.builder = text.clone(),
                "system" => drv.system = text.clone(),
                "outputHash" => output_hash = Some(text.clone()),
                "outputHashAlgo" => output_hash_algo = text.clone(),
                "outputHashMode" => output_hash_mode = text.clone(),
                _ => {}
            }
            drv.env.insert(key.to_string(), text);
        }
    }
    if structured {
        json.push(b'}');
        drv.env.insert(
            "__json".to_owned(),
            String::from_utf8_lossy(&json).into_owned(),
        );
    }
    // Inputs from the strings' contexts.
    for c in ctx.iter() {
        match c {
            ContextElem::Plain(p) => {
                drv.input_srcs.insert(p.clone());
            }
            ContextElem::Output { drv: d, output } => {
                drv.input_drvs
                    .entry(d.clone())
                    .or_default()
                    .insert(output.clone());
            }
            ContextElem::AllOutputs(d) => {
                // The builder gets the derivation's whole graph, so all of it is an input.
                for p in ev.drv_file_closure(d, s)? {
                    if p.ends_with(".drv") {
                        let outs: BTreeSet<String> = match ev.derivations.get(&p) {
                            Some(known) => known.outputs.keys().cloned().collect(),
                            None => BTreeSet::new(),
                        };
                        drv.input_drvs.insert(p.clone(), outs);
                    }
                    drv.input_srcs.insert(p);
                }
            }
        }
    }
    if drv.builder.is_empty() && !args.contains("builder") {
        return Err(fail("required attribute 'builder' missing".to_owned()));
    }
    if drv.system.is_empty() && !args.contains("system") {
        return Err(fail("required attribute 'system' missing".to_owned()));
    }
    let store_dir = StoreDir::new(&ev.io.store_dir()).map_err(|e| fail(e.to_string()))?;
    if let Some(h) = output_hash {
        if outputs != ["out"] {
            return Err(fail(
                "multiple outputs are not supported in fixed-output derivations".to_owned(),
            ));
        }
        let algo = if output_hash_algo.is_empty() {
            None
        } else {
            Some(
                output_hash_algo
                    .parse::<HashAlgo>()
                    .map_err(|e| fail(e.to_string()))?,
            )
        };
        let hash = Hash::parse(&h, algo).map_err(|e| fail(format!("invalid 'outputHash': {e}")))?;
        let recursive = match output_hash_mode.as_str() {
            "recursive" => true,
            "flat" => false,
            other => {
                return Err(fail(format!(
                    "invalid value '{other}' for 'outputHashMode'"
                )))
            }
        };
        let path = store_dir
            .make_fixed_output_path(&name, recursive, &hash)
            .map_err(|e| fail(e.to_string()))?;
        let path = store_dir.display(&path);
        drv.env.insert("out".to_owned(), path.clone());
        drv.outputs.insert(
            "out".to_owned(),
            Output {
                path,
                hash_algo: format!("{}{}", if recursive { "r:" } else { "" }, hash.algo()),
                hash: hash.to_base16(),
            },
        );
    } else {
        for o in &outputs {
            drv.env.insert(o.clone(), String::new());
            drv.outputs.insert(o.clone(), Output::default());
        }
        let h = drv.hash_modulo(true, |d| ev.drv_hash(d, s))?;
        for o in &outputs {
            let p = store_dir
                .make_output_path(o, &h, &name)
                .map_err(|e| fail(e.to_string()))?;
            let p = store_dir.display(&p);
            drv.env.insert(o.clone(), p.clone());
            if let Some(out) = drv.outputs.get_mut(o) {
                out.path = p;
            }
        }
    }
    let aterm = drv.to_aterm(false, None);
    let refs: Vec<String> = drv.references().into_iter().collect();
    let drv_path = ev
        .io
        .add_derivation(&name, aterm.as_bytes(), &refs)
        .map_err(|e| fail(e.to_string()))?;
    let mut entries = Vec::with_capacity(outputs.len() + 1);
    let mut dctx = Context::new();
    dctx.insert(ContextElem::AllOutputs(drv_path.clone()));
    let dp = ev.intern("drvPath");
    entries.push((dp, Value::string(NixStr::with_ctx(drv_path.clone(), dctx))));
    for (o, out) in &drv.outputs {
        let mut octx = Context::new();
        octx.insert(ContextElem::Output {
            drv: drv_path.clone(),
            output: o.clone(),
        });
        let n = ev.intern(o);
        entries.push((n, Value::string(NixStr::with_ctx(out.path.clone(), octx))));
    }
    ev.derivations.insert(drv_path, Rc::new(drv));
    Ok(Value::attrs(Attrs::from_unsorted(entries)))
}

fn parse_outputs(ev: &mut Evaluator, v: &Value, s: Span) -> EvalResult<Vec<String>> {
    let l = super::list(ev, v, s)?;
    let mut outs: Vec<String> = Vec::new();
    for x in l.iter() {
        let o = super::string(ev, x, s)?.to_str_lossy().into_owned();
        if o == "drv" {
            return Err(EvalError::eval("invalid derivation output name 'drv'", s));
        }
        if outs.contains(&o) {
            return Err(EvalError::eval(
                format!("duplicate derivation output '{o}'"),
                s,
            ));
        }
        outs.push(o);
    }
    if outs.is_empty() {
        return Err(EvalError::eval(
            "derivation cannot have an empty set of outputs",
            s,
        ));
    }
    Ok(outs)
}

impl Evaluator {
    /// `hashDerivationModulo` of a derivation made in this evaluation, memoised.
    pub(crate) fn drv_hash(&mut self, drv_path: &str, s: Span) -> EvalResult<Hash> {
        if let Some(h) = self.drv_hashes.get(drv_path) {
            return Ok(h.clone());
        }
        let drv = match self.derivations.get(drv_path).cloned() {
            Some(d) => d,
            None => {
                // A derivation from the store (e.g. through `builtins.storePath`): read it.
                let bytes = self
                    .io
                    .read_file(std::path::Path::new(drv_path))
                    .map_err(|e| {
                        EvalError::eval(
                            format!(
                                "cannot read the derivation '{drv_path}': {}",
                                crate::error::io_message(&e)
                            ),
                            s,
                        )
                    })?;
                let text = String::from_utf8_lossy(&bytes);
                let parsed = Derivation::parse(&text).map_err(|e| {
                    EvalError::eval(format!("cannot read the derivation '{drv_path}': {e}"), s)
                })?;
                let d = Rc::new(parsed);
                self.derivations.insert(drv_path.to_owned(), d.clone());
                d
            }
        };
        let h = drv.hash_modulo(false, |d| self.drv_hash(d, s))?;
        self.drv_hashes.insert(drv_path.to_owned(), h.clone());
        Ok(h)
    }

    /// The closure of a `.drv` file under references, as far as this evaluation knows it.
    pub(crate) fn drv_file_closure(
        &mut self,
        drv_path: &str,
        _s: Span,
    ) -> EvalResult<BTreeSet<String>> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![drv_path.to_owned()];
        while let Some(p) = todo.pop() {
            if !seen.insert(p.clone()) {
                continue;
            }
            if let Some(d) = self.derivations.get(&p) {
                todo.extend(d.references());
            } else if let Some(refs) = self.text_refs.get(&p) {
                todo.extend(refs.iter().cloned());
            }
        }
        Ok(seen)
    }
}
