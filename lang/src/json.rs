//! A JSON reader for `builtins.fromJSON`.

use crate::eval::Evaluator;
use crate::value::{Attrs, Value};

pub struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 10_000;

/// Why the input is not JSON; `offset` is the byte where reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("invalid JSON at byte {offset}: {problem}")]
    Invalid {
        offset: usize,
        problem: &'static str,
    },
    /// A number too large for a float; `offset` is where it starts.
    #[error("invalid JSON at byte {offset}: number overflow parsing '{text}'")]
    Overflow { offset: usize, text: String },
    /// A `\u` escape cut short by the end of the input (the message has always left out the
    /// offset).
    #[error("truncated \\u escape")]
    TruncatedEscape { offset: usize },
    /// A `\u` escape whose four bytes are not text (the message leaves out the offset too).
    #[error("bad \\u escape")]
    BadEscape { offset: usize },
}

impl<'a> Parser<'a> {
    pub fn new(s: &'a [u8]) -> Self {
        Parser { s, i: 0, depth: 0 }
    }

    fn err<T>(&self, problem: &'static str) -> Result<T, JsonError> {
        Err(JsonError::Invalid {
            offset: self.i,
            problem,
        })
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    pub fn parse(&mut self, ev: &mut Evaluator) -> Result<Value, JsonError> {
        let v = self.value(ev)?;
        self.ws();
        if self.i != self.s.len() {
            return self.err("unexpected text after the value");
        }
        Ok(v)
    }

    fn value(&mut self, ev: &mut Evaluator) -> Result<Value, JsonError> {
        self.ws();
        let Some(&c) = self.s.get(self.i) else {
            return self.err("unexpected end of input");
        };
        match c {
            b'{' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return self.err("nesting too deep");
                }
                self.i += 1;
                let mut entries = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Value::attrs(Attrs::new()));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return self.err("expected a string key");
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return self.err("expected ':'");
                    }
                    self.i += 1;
                    let v = self.value(ev)?;
                    let k = ev.intern(&String::from_utf8_lossy(&k));
                    entries.push((k, v));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            break;
                        }
                        _ => return self.err("expected ',' or '}'"),
                    }
                }
                self.depth -= 1;
                // A later duplicate key wins, as in Nix.
                entries.reverse();
                Ok(Value::attrs(Attrs::from_unsorted(entries)))
            }
            b'[' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return self.err("nesting too deep");
                }
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Value::list(items));
                }
                loop {
                    items.push(self.value(ev)?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            break;
                        }
                        _ => return self.err("expected ',' or ']'"),
                    }
                }
                self.depth -= 1;
                Ok(Value::list(items))
            }
            b'"' => {
                // Nix's strings end at a NUL, so a decoded `\u0000` ends the string there
                // (attribute names keep it).
                let mut v = self.string()?;
                if let Some(nul) = v.iter().position(|&b| b == 0) {
                    v.truncate(nul);
                }
                Ok(Value::str(v))
            }
            b't' => self.word(b"true", Value::Bool(true)),
            b'f' => self.word(b"false", Value::Bool(false)),
            b'n' => self.word(b"null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => self.err("unexpected character"),
        }
    }

    fn word(&mut self, w: &[u8], v: Value) -> Result<Value, JsonError> {
        if self.s[self.i..].starts_with(w) {
            self.i += w.len();
            Ok(v)
        } else {
            self.err("unexpected word")
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let mut float = false;
        while let Some(&c) = self.s.get(self.i) {
            match c {
                b'0'..=b'9' => {}
                b'.' | b'e' | b'E' | b'+' | b'-' => float = true,
                _ => break,
            }
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        if !float {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Value::Int(i));
            }
        }
        match text.parse::<f64>() {
            // A number too large for a float is refused, as Nix does (one too small is 0).
            Ok(f) if f.is_infinite() => Err(JsonError::Overflow {
                offset: start,
                text: text.to_owned(),
            }),
            Ok(f) => Ok(Value::Float(f)),
            Err(_) => self.err("bad number"),
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .ok_or(JsonError::TruncatedEscape { offset: self.i })?;
        let t = std::str::from_utf8(h).map_err(|_| JsonError::BadEscape { offset: self.i })?;
        let v = u32::from_str_radix(t, 16).map_err(|_| JsonError::Invalid {
            offset: self.i,
            problem: "bad \\u escape",
        })?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<Vec<u8>, JsonError> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return self.err("unterminated string");
            };
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return self.err("unterminated escape");
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xd800..0xdc00).contains(&cp)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                cp = 0x10000
                                    + ((cp - 0xd800) << 10)
                                    + (lo.wrapping_sub(0xdc00) & 0x3ff);
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return self.err("unknown escape"),
                    }
                }
                c => out.push(c),
            }
        }
    }
}
