//! Evaluation errors: what went wrong, where, and the chain of frames that led there.

use std::fmt::Write as _;

use crate::source::{SourceMap, Span};

/// The kind of an evaluation error.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorKind {
    /// `throw`: catchable by `tryEval`.
    Throw(String),
    /// `abort`: not catchable.
    Abort(String),
    /// A failed `assert`: catchable by `tryEval`.
    AssertFailed(String),
    /// A value of the wrong type, a missing attribute, a bad argument: anything else.
    Eval(String),
    /// A thunk forced while it was being forced.
    InfiniteRecursion,
    /// The evaluation nested deeper than the stack allows.
    StackOverflow,
    /// Parse errors, all of them, each with its span and whole message (most begin with
    /// `syntax error, `, as Nix's do).
    Syntax(Vec<(Span, String)>),
    /// Reading files, the store.
    Io(String),
}

/// One step of the "while evaluating ..." chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub msg: String,
    pub span: Option<Span>,
}

/// An error with its position and frames. Boxed, so that results stay small on the
/// evaluator's hot paths.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError(Box<ErrorData>);

impl std::ops::Deref for EvalError {
    type Target = ErrorData;
    fn deref(&self) -> &ErrorData {
        &self.0
    }
}

impl std::ops::DerefMut for EvalError {
    fn deref_mut(&mut self) -> &mut ErrorData {
        &mut self.0
    }
}

/// What an [`EvalError`] holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorData {
    pub kind: ErrorKind,
    pub span: Option<Span>,
    pub frames: Vec<Frame>,
    /// A suggestion shown under the source snippet ("Did you mean x?").
    pub hint: Option<String>,
}

/// An I/O error's message as the C library words it, without Rust's "(os error N)".
pub fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_owned(),
        _ => s,
    }
}

/// The evaluator's result type.
pub type EvalResult<T> = Result<T, EvalError>;

/// Most frames kept on one error: enough to follow a chain, bounded for deep recursion.
const MAX_FRAMES: usize = 64;

impl EvalError {
    pub fn new(kind: ErrorKind, span: Option<Span>) -> EvalError {
        EvalError(Box::new(ErrorData {
            kind,
            span,
            frames: Vec::new(),
            hint: None,
        }))
    }

    pub fn eval(msg: impl Into<String>, span: Span) -> EvalError {
        EvalError::new(ErrorKind::Eval(msg.into()), Some(span))
    }

    /// Adds a "did you mean" line.
    pub fn with_hint(mut self, hint: Option<String>) -> EvalError {
        self.hint = hint;
        self
    }

    /// Whether `builtins.tryEval` catches it.
    pub fn is_catchable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throw(_) | ErrorKind::AssertFailed(_))
    }

    /// Adds a frame, unless the chain is already long.
    pub fn frame(mut self, msg: impl Into<String>, span: Option<Span>) -> EvalError {
        if self.frames.len() < MAX_FRAMES {
            self.frames.push(Frame {
                msg: msg.into(),
                span,
            });
        }
        self
    }

    /// The one-line message.
    pub fn message(&self) -> String {
        match &self.kind {
            ErrorKind::Throw(m) => m.clone(),
            ErrorKind::Abort(m) => {
                format!("evaluation aborted with the following error message: '{m}'")
            }
            ErrorKind::AssertFailed(m) => m.clone(),
            ErrorKind::Eval(m) | ErrorKind::Io(m) => m.clone(),
            ErrorKind::InfiniteRecursion => "infinite recursion encountered".to_owned(),
            ErrorKind::StackOverflow => "stack overflow (possible infinite recursion)".to_owned(),
            ErrorKind::Syntax(errs) => match errs.len() {
                1 => errs[0].1.clone(),
                n => format!("{n} syntax errors"),
            },
        }
    }

    /// The full report: message, the source at the error's position, then the frames.
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut out = String::new();
        if let ErrorKind::Syntax(errs) = &self.kind {
            for (i, (span, msg)) in errs.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                let _ = writeln!(out, "error: {msg}\n");
                out.push_str(&sources.snippet(*span));
            }
            return out;
        }
        let _ = writeln!(out, "error: {}", self.message());
        // Positions inside strata's own Nix library (the module system) mean nothing to the
        // user, whose files the message already names; they are left out.
        if let Some(span) = self.span.filter(|s| !sources.is_library(s.file)) {
            out.push('\n');
            out.push_str(&sources.snippet(span));
        }
        if let Some(h) = &self.hint {
            let _ = writeln!(out, "       {h}");
        }
        for f in &self.frames {
            if f.span.is_some_and(|s| sources.is_library(s.file)) {
                continue;
            }
            let _ = writeln!(out, "\n       … {}", f.msg);
            if let Some(span) = f.span {
                out.push('\n');
                out.push_str(&sources.snippet(span));
            }
        }
        out
    }
}
