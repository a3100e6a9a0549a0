//! The syntax tree the parser builds and the compiler lowers: expressions as written, with
//! strings already unescaped (and indented strings stripped), names interned, and the byte
//! range of every node.

use crate::compile::BinOp;
use crate::value::Name;

/// A byte range in the parsed text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: u32,
    pub end: u32,
}

/// An expression and where it is.
#[derive(Debug)]
pub struct Node {
    pub kind: Kind,
    pub at: Range,
}

/// A piece of a string or path.
#[derive(Debug)]
pub enum Piece {
    Lit(Vec<u8>),
    Interp(Node),
}

/// One name of an attribute path.
#[derive(Debug)]
pub enum Key {
    Ident(Name),
    /// `"a b"` or `"${x}"`.
    Str(Vec<Piece>),
    /// `${x}`.
    Dynamic(Box<Node>),
}

/// A name and where it is.
#[derive(Debug)]
pub struct KeyAt {
    pub key: Key,
    pub at: Range,
}

/// An entry of an attribute set or `let`.
#[derive(Debug)]
pub enum Bind {
    /// `a.b.c = value;`
    Value {
        path: Vec<KeyAt>,
        value: Node,
        at: Range,
    },
    /// `inherit (from) a b;` Each name's range starts where the blank before it starts, the
    /// position Nix gives inherited attributes.
    Inherit {
        from: Option<Node>,
        names: Vec<KeyAt>,
        at: Range,
    },
}

/// A function's parameter.
#[derive(Debug)]
pub enum ParamNode {
    Ident(Name),
    Pattern {
        formals: Vec<Formal>,
        ellipsis: bool,
        bind: Option<Name>,
    },
}

/// `name ? default` in a pattern.
#[derive(Debug)]
pub struct Formal {
    pub name: Name,
    pub default: Option<Node>,
    pub at: Range,
}

#[derive(Debug)]
pub enum Kind {
    Int(i64),
    Float(f64),
    Uri(String),
    Var(Name),
    CurPos,
    Str(Vec<Piece>),
    /// A path; its first piece is literal text (`./a`, `/a`, `~/a`, `a/`).
    Path(Vec<Piece>),
    /// `<name>`, without the brackets.
    SearchPath(String),
    List(Vec<Node>),
    Attrs {
        rec: bool,
        binds: Vec<Bind>,
    },
    Let {
        binds: Vec<Bind>,
        body: Box<Node>,
    },
    /// `let { ...; body = ...; }`.
    LegacyLet(Vec<Bind>),
    With {
        ns: Box<Node>,
        body: Box<Node>,
    },
    If {
        cond: Box<Node>,
        then: Box<Node>,
        else_: Box<Node>,
    },
    Assert {
        cond: Box<Node>,
        body: Box<Node>,
    },
    Not(Box<Node>),
    Neg(Box<Node>),
    Bin {
        op: BinOp,
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
    HasAttr {
        expr: Box<Node>,
        path: Vec<KeyAt>,
    },
    Select {
        expr: Box<Node>,
        path: Vec<KeyAt>,
        default: Option<Box<Node>>,
    },
    Apply {
        func: Box<Node>,
        arg: Box<Node>,
    },
    Lambda {
        param: ParamNode,
        body: Box<Node>,
    },
}
