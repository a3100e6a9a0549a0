//! Derivations: the `.drv` ATerm format and the hashes Nix derives output paths from.

use std::collections::{BTreeMap, BTreeSet};

use crate::hash::{Hash, HashAlgo};
use crate::path::{PathError, StoreDir, StorePath};

/// One output of a derivation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// The absolute output path ("" while it is being computed).
    pub path: String,
    /// For a fixed output: `sha256`, or `r:sha256` for a recursive (NAR) hash.
    pub hash_algo: String,
    /// For a fixed output: the expected hash in base-16.
    pub hash: String,
}

/// A derivation as it is written to a `.drv` file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Derivation {
    pub outputs: BTreeMap<String, Output>,
    /// Input derivations (absolute `.drv` paths) and the outputs used from each.
    pub input_drvs: BTreeMap<String, BTreeSet<String>>,
    /// Input sources (absolute store paths).
    pub input_srcs: BTreeSet<String>,
    pub system: String,
    pub builder: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
}

fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_list<'a>(out: &mut String, items: impl Iterator<Item = &'a str>) {
    out.push('[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, s);
    }
    out.push(']');
}

impl Derivation {
    /// Whether this is a fixed-output derivation (one output `out` with a hash).
    pub fn is_fixed_output(&self) -> bool {
        self.outputs.len() == 1 && self.outputs.get("out").is_some_and(|o| !o.hash.is_empty())
    }

    /// The ATerm text. `input_drvs` may be replaced (as in hashing modulo) by giving
    /// `replaced_inputs`; `mask_outputs` blanks output paths and their environment variables.
    pub fn to_aterm(
        &self,
        mask_outputs: bool,
        replaced_inputs: Option<&BTreeMap<String, BTreeSet<String>>>,
    ) -> String {
        let mut out = String::with_capacity(1024);
        out.push_str("Derive([");
        for (i, (name, o)) in self.outputs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('(');
            push_str(&mut out, name);
            out.push(',');
            push_str(&mut out, if mask_outputs { "" } else { &o.path });
            out.push(',');
            push_str(&mut out, &o.hash_algo);
            out.push(',');
            push_str(&mut out, &o.hash);
            out.push(')');
        }
        out.push_str("],[");
        let inputs = replaced_inputs.unwrap_or(&self.input_drvs);
        for (i, (drv, outs)) in inputs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('(');
            push_str(&mut out, drv);
            out.push(',');
            push_list(&mut out, outs.iter().map(String::as_str));
            out.push(')');
        }
        out.push_str("],");
        push_list(&mut out, self.input_srcs.iter().map(String::as_str));
        out.push(',');
        push_str(&mut out, &self.system);
        out.push(',');
        push_str(&mut out, &self.builder);
        out.push(',');
        push_list(&mut out, self.args.iter().map(String::as_str));
        out.push_str(",[");
        for (i, (k, v)) in self.env.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('(');
            push_str(&mut out, k);
            out.push(',');
            let masked = mask_outputs && self.outputs.contains_key(k);
            push_str(&mut out, if masked { "" } else { v });
            out.push(')');
        }
        out.push_str("])");
        out
    }

    /// Nix's `hashDerivationModulo`: a hash of the derivation that does not depend on its own
    /// output paths, in which each input derivation is replaced by its own such hash (given by
    /// `input_hash`, which is called with the input's `.drv` path).
    pub fn hash_modulo<E>(
        &self,
        mask_outputs: bool,
        mut input_hash: impl FnMut(&str) -> Result<Hash, E>,
    ) -> Result<Hash, E> {
        if self.is_fixed_output() {
            if let Some(o) = self.outputs.get("out") {
                let s = format!("fixed:out:{}:{}:{}", o.hash_algo, o.hash, o.path);
                return Ok(Hash::of(HashAlgo::Sha256, s.as_bytes()));
            }
        }
        let mut replaced: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (drv, outs) in &self.input_drvs {
            let h = input_hash(drv)?;
            replaced.insert(h.to_base16(), outs.clone());
        }
        let aterm = self.to_aterm(mask_outputs, Some(&replaced));
        Ok(Hash::of(HashAlgo::Sha256, aterm.as_bytes()))
    }

    /// Every store path the `.drv` file refers to.
    pub fn references(&self) -> BTreeSet<String> {
        let mut r: BTreeSet<String> = self.input_srcs.clone();
        r.extend(self.input_drvs.keys().cloned());
        r
    }
}

/// Why a `.drv` file did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed derivation at byte {offset}: {problem}")]
pub struct DrvParseError {
    pub offset: usize,
    pub problem: String,
}

struct AtermReader<'a> {
    s: &'a [u8],
    i: usize,
}

impl AtermReader<'_> {
    fn err<T>(&self, problem: impl Into<String>) -> Result<T, DrvParseError> {
        Err(DrvParseError {
            offset: self.i,
            problem: problem.into(),
        })
    }

    fn expect(&mut self, lit: &str) -> Result<(), DrvParseError> {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            Ok(())
        } else {
            self.err(format!("expected '{lit}'"))
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn string(&mut self) -> Result<String, DrvParseError> {
        self.expect("\"")?;
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return self.err("unterminated string");
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return self.err("unterminated escape");
                    };
                    self.i += 1;
                    out.push(match e {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        other => other,
                    });
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).or_else(|_| self.err("string is not UTF-8"))
    }

    /// A list of items separated by commas: `[a,b,c]`.
    fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, DrvParseError>,
    ) -> Result<Vec<T>, DrvParseError> {
        self.expect("[")?;
        let mut out = Vec::new();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(out);
        }
        loop {
            out.push(item(self)?);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(out);
                }
                _ => return self.err("expected ',' or ']'"),
            }
        }
    }
}

impl Derivation {
    /// Parses a `.drv` file's ATerm text (the inverse of [`to_aterm`](Self::to_aterm)).
    pub fn parse(text: &str) -> Result<Derivation, DrvParseError> {
        let mut r = AtermReader {
            s: text.as_bytes(),
            i: 0,
        };
        r.expect("Derive(")?;
        let outputs = r.list(|r| {
            r.expect("(")?;
            let name = r.string()?;
            r.expect(",")?;
            let path = r.string()?;
            r.expect(",")?;
            let hash_algo = r.string()?;
            r.expect(",")?;
            let hash = r.string()?;
            r.expect(")")?;
            Ok((
                name,
                Output {
                    path,
                    hash_algo,
                    hash,
                },
            ))
        })?;
        r.expect(",")?;
        let input_drvs = r.list(|r| {
            r.expect("(")?;
            let drv = r.string()?;
            r.expect(",")?;
            let outs = r.list(|r| r.string())?;
            r.expect(")")?;
            Ok((drv, outs.into_iter().collect::<BTreeSet<String>>()))
        })?;
        r.expect(",")?;
        let input_srcs = r.list(|r| r.string())?;
        r.expect(",")?;
        let system = r.string()?;
        r.expect(",")?;
        let builder = r.string()?;
        r.expect(",")?;
        let args = r.list(|r| r.string())?;
        r.expect(",")?;
        let env = r.list(|r| {
            r.expect("(")?;
            let k = r.string()?;
            r.expect(",")?;
            let v = r.string()?;
            r.expect(")")?;
            Ok((k, v))
        })?;
        r.expect(")")?;
        if r.i != r.s.len() {
            return r.err("trailing data after the derivation");
        }
        let mut drv = Derivation {
            system,
            builder,
            args,
            ..Default::default()
        };
        for (name, o) in outputs {
            if drv.outputs.insert(name.clone(), o).is_some() {
                return Err(DrvParseError {
                    offset: 0,
                    problem: format!("output '{name}' appears twice"),
                });
            }
        }
        for (d, outs) in input_drvs {
            if drv.input_drvs.insert(d.clone(), outs).is_some() {
                return Err(DrvParseError {
                    offset: 0,
                    problem: format!("input derivation '{d}' appears twice"),
                });
            }
        }
        drv.input_srcs = input_srcs.into_iter().collect();
        for (k, v) in env {
            if drv.env.insert(k.clone(), v).is_some() {
                return Err(DrvParseError {
                    offset: 0,
                    problem: format!("environment variable '{k}' appears twice"),
                });
            }
        }
        Ok(drv)
    }
}

/// The name of an output's path: the derivation's name, with `-<output>` unless it is `out`.
pub fn output_path_name(drv_name: &str, output: &str) -> String {
    if output == "out" {
        drv_name.to_owned()
    } else {
        format!("{drv_name}-{output}")
    }
}

impl StoreDir {
    /// The path of output `output` of a derivation whose hash modulo is `hash`.
    pub fn make_output_path(
        &self,
        output: &str,
        hash: &Hash,
        drv_name: &str,
    ) -> Result<StorePath, PathError> {
        self.make_store_path(
            &format!("output:{output}"),
            hash,
            &output_path_name(drv_name, output),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A derivation built by `/bin/sh` with the one output `out`.
    fn sh_derivation() -> Derivation {
        let mut d = Derivation {
            system: "x86_64-linux".into(),
            builder: "/bin/sh".into(),
            ..Default::default()
        };
        d.outputs.insert(
            "out".into(),
            Output {
                path: "/nix/store/x-a".into(),
                ..Default::default()
            },
        );
        d
    }

    #[test]
    fn parse_inverts_to_aterm() {
        let mut d = sh_derivation();
        d.outputs.insert(
            "dev".into(),
            Output {
                path: "/nix/store/y-a-dev".into(),
                ..Default::default()
            },
        );
        d.input_drvs.insert(
            "/nix/store/z-b.drv".into(),
            ["out".to_owned(), "lib".to_owned()].into_iter().collect(),
        );
        d.input_srcs.insert("/nix/store/w-src".into());
        d.args = vec!["-c".into(), "echo \"hi\"\n\ttab\\".into()];
        d.env.insert("a".into(), "1\r\n".into());
        let text = d.to_aterm(false, None);
        assert_eq!(Derivation::parse(&text), Ok(d));
        assert!(Derivation::parse(&text[..text.len() - 1]).is_err());
    }

    #[test]
    fn parse_rejects_malformed() {
        for bad in ["", "Derive(", "Derive([],[],[],\"s\",\"b\",[],[])x", "Derive([(\"out\",\"p\",\"\",\"\")],[],[],\"s\",\"b\",[],[(\"a\",\"1\"),(\"a\",\"2\")])", "Derive([],[],[],\"s,\"b\",[],[])"] {
            assert!(Derivation::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn aterm_escapes_and_orders() {
        let mut d = sh_derivation();
        d.env.insert("b".into(), "line\n\"q\"\\".into());
        d.env.insert("a".into(), "1".into());
        d.args = vec!["-c".into()];
        assert_eq!(
            d.to_aterm(false, None),
            r#"Derive([("out","/nix/store/x-a","","")],[],[],"x86_64-linux","/bin/sh",["-c"],[("a","1"),("b","line\n\"q\"\\")])"#
        );
    }
}
