//! Runtime values: the lazy thunk, strings with context, attribute sets and lists.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::rc::Rc;

use crate::compile::{AttrsDef, Expr, LambdaDef};
use crate::error::EvalError;
use crate::eval::Env;
use crate::source::Span;

/// One dependency that a string carries: the strings Nix keeps in a string's context.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContextElem {
    /// A plain store path (a source, a text file, a .drv used as a file).
    Plain(String),
    /// A derivation and all its outputs (`=/nix/store/...drv`), as `drvPath` carries.
    AllOutputs(String),
    /// One output of a derivation (`!out!/nix/store/...drv`).
    Output { drv: String, output: String },
}

impl ContextElem {
    /// The encoded form Nix uses (`/p`, `=/p.drv`, `!out!/p.drv`).
    pub fn encode(&self) -> String {
        match self {
            ContextElem::Plain(p) => p.clone(),
            ContextElem::AllOutputs(d) => format!("={d}"),
            ContextElem::Output { drv, output } => format!("!{output}!{d}", d = drv),
        }
    }
}

/// The set of dependencies a string carries.
pub type Context = BTreeSet<ContextElem>;

/// A Nix string: bytes (Nix strings need not be UTF-8) and an optional context.
#[derive(Clone, PartialEq, Eq)]
pub struct NixStr {
    pub bytes: Box<[u8]>,
    pub ctx: Option<Box<Context>>,
}

impl NixStr {
    pub fn plain(s: impl Into<Vec<u8>>) -> NixStr {
        NixStr {
            bytes: s.into().into_boxed_slice(),
            ctx: None,
        }
    }

    pub fn with_ctx(s: impl Into<Vec<u8>>, ctx: Context) -> NixStr {
        let ctx = if ctx.is_empty() {
            None
        } else {
            Some(Box::new(ctx))
        };
        NixStr {
            bytes: s.into().into_boxed_slice(),
            ctx,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The string as text, replacing invalid UTF-8 (for messages and file names).
    pub fn to_str_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }

    pub fn context(&self) -> impl Iterator<Item = &ContextElem> {
        self.ctx.iter().flat_map(|c| c.iter())
    }

    pub fn has_context(&self) -> bool {
        self.ctx.as_ref().is_some_and(|c| !c.is_empty())
    }
}

impl fmt::Debug for NixStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_str_lossy())
    }
}

/// An interned attribute name. Equal names are one symbol; symbols compare by the order in
/// which they were first seen on this thread (an integer comparison), which is how sets are
/// kept sorted for lookups. Where Nix shows names in order (`attrNames`, printing, JSON), that
/// order is by text, and [`Attrs::sorted`] gives it.
///
/// A symbol is its number alone, so copying one touches no reference count and a set's
/// lookup compares integers stored in the set itself, without following a pointer per probe.
/// Its text is in the thread's symbol table; symbols are not `Send`, so a symbol is always
/// read on the thread that made it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sym {
    id: u32,
    _thread: std::marker::PhantomData<*const ()>,
}

impl Sym {
    pub fn id(&self) -> u32 {
        self.id
    }
    pub fn as_str(&self) -> &'static str {
        SYMBOLS.with(|t| {
            t.borrow()
                .texts
                .get(self.id as usize)
                .copied()
                .unwrap_or("")
        })
    }
}

impl std::ops::Deref for Sym {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl fmt::Debug for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// An attribute name: a symbol, copied freely.
pub type Name = Sym;

/// A fast hasher for the symbol table (names are short and not chosen by an attacker who
/// gains anything from collisions: the worst case is a slower evaluation). Multiplies and
/// rotates per 8-byte word, as rustc's own interner does.
#[derive(Default)]
struct NameHasher(u64);

impl std::hash::Hasher for NameHasher {
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits depending on the low input bytes only, and a table
        // picks its bucket from the low bits: names that differ only in their last bytes
        // (`key1234`, `key1235`) would share buckets. Fold the high half in.
        let h = self.0;
        (h ^ (h >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
    }

    fn write_u8(&mut self, i: u8) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        self.0 = (self.0.rotate_left(5) ^ u64::from(i)).wrapping_mul(K);
    }
}

/// The symbols of one thread: their numbers by text, and their texts by number.
#[derive(Default)]
struct SymbolTable {
    ids: std::collections::HashMap<&'static str, Sym, std::hash::BuildHasherDefault<NameHasher>>,
    texts: Vec<&'static str>,
}

thread_local! {
    static SYMBOLS: RefCell<SymbolTable> = RefCell::new(Default::default());
}

/// The texts of every symbol made on any thread, each stored once for the life of the process
/// (a symbol's text must outlive every value that names it; sharing them between threads
/// bounds that memory by the number of distinct names, not by the number of evaluations).
static TEXTS: std::sync::Mutex<
    Option<std::collections::HashSet<&'static str, std::hash::BuildHasherDefault<NameHasher>>>,
> = std::sync::Mutex::new(None);

fn stored_text(s: &str) -> &'static str {
    let mut pool = TEXTS.lock().unwrap_or_else(|e| e.into_inner());
    let pool = pool.get_or_insert_with(Default::default);
    if let Some(t) = pool.get(s) {
        return t;
    }
    let t: &'static str = Box::leak(Box::from(s));
    pool.insert(t);
    t
}

/// The symbol for `s`, made on first use.
pub fn intern(s: &str) -> Name {
    SYMBOLS.with(|t| {
        if let Some(n) = t.borrow().ids.get(s) {
            return *n;
        }
        let text = stored_text(s);
        let mut t = t.borrow_mut();
        let n = Sym {
            id: t.texts.len() as u32,
            _thread: std::marker::PhantomData,
        };
        t.texts.push(text);
        t.ids.insert(text, n);
        n
    })
}

/// The symbol for `s` if it exists; a name never interned is in no set.
pub fn lookup_symbol(s: &str) -> Option<Name> {
    SYMBOLS.with(|t| t.borrow().ids.get(s).copied())
}

/// Calls `f` with the texts of this thread's symbols, indexed by symbol number (one table
/// access for many names, as sorting by text needs).
pub(crate) fn with_symbol_texts<R>(f: impl FnOnce(&[&'static str]) -> R) -> R {
    SYMBOLS.with(|t| f(&t.borrow().texts))
}

/// An attribute set: entries sorted by name, looked up by binary search.
#[derive(Default)]
#[allow(missing_debug_implementations)]
pub struct Attrs {
    entries: Vec<(Name, Value)>,
    /// Where each attribute was defined, for `unsafeGetAttrPos` and error messages.
    spans: Spans,
}

/// The positions of a set's attributes, by entry index.
#[derive(Default, Clone)]
enum Spans {
    #[default]
    None,
    /// A `{ ... }` without dynamic names: its entries are the definition's statics, in the
    /// same order, so their positions are read from the definition (no copy per set).
    Static(Rc<AttrsDef>),
    Own(Rc<Vec<Option<Span>>>),
}

impl Spans {
    fn get(&self, i: usize) -> Option<Span> {
        match self {
            Spans::None => None,
            Spans::Static(def) => def.statics.get(i).map(|a| a.span),
            Spans::Own(v) => v.get(i).copied().flatten(),
        }
    }

    fn is_some(&self) -> bool {
        !matches!(self, Spans::None)
    }
}

impl Attrs {
    pub fn new() -> Attrs {
        Attrs {
            entries: Vec::new(),
            spans: Spans::None,
        }
    }

    /// Builds from entries already in symbol order (as a `BTreeMap<Name, _>` or another set
    /// gives them) and free of duplicates.
    pub fn from_sorted(entries: Vec<(Name, Value)>) -> Attrs {
        debug_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        Attrs {
            entries,
            spans: Spans::None,
        }
    }

    /// Builds from entries in any order; for a duplicated name the first one wins.
    pub fn from_unsorted(mut entries: Vec<(Name, Value)>) -> Attrs {
        entries.sort_by_key(|a| a.0);
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        Attrs {
            entries,
            spans: Spans::None,
        }
    }

    pub fn with_spans(mut self, spans: Vec<Option<Span>>) -> Attrs {
        self.spans = Spans::Own(Rc::new(spans));
        self
    }

    /// The positions of a `{ ... }` whose entries are exactly `def`'s statics, in order.
    pub(crate) fn with_def_spans(mut self, def: Rc<AttrsDef>) -> Attrs {
        debug_assert!(def.dynamics.is_empty() && def.statics.len() == self.entries.len());
        self.spans = Spans::Static(def);
        self
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn index_sym(&self, name: &Sym) -> Option<usize> {
        self.entries
            .binary_search_by(|(k, _)| k.id.cmp(&name.id))
            .ok()
    }

    fn index(&self, name: &str) -> Option<usize> {
        let sym = lookup_symbol(name)?;
        self.index_sym(&sym)
    }

    /// The value of an attribute, found by its text.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.index(name).map(|i| &self.entries[i].1)
    }

    /// The value of an attribute, found by its symbol (no hashing: the fast path).
    pub fn get_sym(&self, name: &Sym) -> Option<&Value> {
        self.index_sym(name).map(|i| &self.entries[i].1)
    }

    /// The entries in the order of their names' text, as Nix lists them.
    pub fn sorted(&self) -> Vec<(&Name, &Value)> {
        let mut v: Vec<(&'static str, &Name, &Value)> = with_symbol_texts(|texts| {
            self.entries
                .iter()
                .map(|(k, v)| (texts.get(k.id as usize).copied().unwrap_or(""), k, v))
                .collect()
        });
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v.into_iter().map(|(_, k, v)| (k, v)).collect()
    }

    pub fn span_of(&self, name: &str) -> Option<Span> {
        let i = self.index(name)?;
        self.spans.get(i)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index(name).is_some()
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Name, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn names(&self) -> impl Iterator<Item = &Name> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// `self // other`: a merge of two sorted lists, right side winning.
    pub fn update(&self, other: &Attrs) -> Attrs {
        let (a, b) = (&self.entries, &other.entries);
        let mut out = Vec::with_capacity(a.len() + b.len());
        let mut spans = if self.spans.is_some() || other.spans.is_some() {
            Some(Vec::with_capacity(a.len() + b.len()))
        } else {
            None
        };
        let sa = |i: usize| self.spans.get(i);
        let sb = |j: usize| other.spans.get(j);
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => {
                    out.push(a[i].clone());
                    if let Some(s) = &mut spans {
                        s.push(sa(i));
                    }
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    out.push(b[j].clone());
                    if let Some(s) = &mut spans {
                        s.push(sb(j));
                    }
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    out.push(b[j].clone());
                    if let Some(s) = &mut spans {
                        s.push(sb(j));
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        for (k, e) in a.iter().enumerate().skip(i) {
            out.push(e.clone());
            if let Some(s) = &mut spans {
                s.push(sa(k));
            }
        }
        for (k, e) in b.iter().enumerate().skip(j) {
            out.push(e.clone());
            if let Some(s) = &mut spans {
                s.push(sb(k));
            }
        }
        Attrs {
            entries: out,
            spans: spans.map_or(Spans::None, |s| Spans::Own(Rc::new(s))),
        }
    }

    pub fn into_entries(self) -> Vec<(Name, Value)> {
        self.entries
    }

    pub fn entries(&self) -> &[(Name, Value)] {
        &self.entries
    }
}

/// A user-defined function and the environment it closes over.
#[allow(missing_debug_implementations)]
pub struct Closure {
    pub def: Rc<LambdaDef>,
    pub env: Rc<Env>,
}

/// A built-in function of fixed arity.
#[allow(missing_debug_implementations)]
pub struct PrimOp {
    pub name: &'static str,
    pub arity: usize,
    pub func: crate::builtins::PrimFn,
}

/// A builtin applied to fewer arguments than it takes.
#[allow(missing_debug_implementations)]
pub struct PrimOpApp {
    pub op: Rc<PrimOp>,
    pub args: Vec<Value>,
}

/// What a thunk holds before and after it is forced.
#[allow(missing_debug_implementations)]
pub enum ThunkState {
    /// An expression in an environment, not yet evaluated.
    Suspended(Rc<Expr>, Rc<Env>),
    /// The application of a function to an argument, not yet evaluated (made by builtins such
    /// as `map` that must stay lazy). Boxed, so that a thunk is 48 bytes rather than 56.
    Apply(Box<(Value, Value)>),
    /// `f a b`, for builtins such as `mapAttrs` that apply a function to two arguments lazily.
    Apply2(Box<(Value, Value, Value)>),
    /// Being evaluated right now: forcing it again is infinite recursion.
    Blackhole(Span),
    /// The value.
    Done(Value),
    /// Evaluation failed; kept so that forcing again gives the same error, as in Nix.
    Failed(Rc<EvalError>),
}

/// A lazily evaluated value, shared by everything that refers to it.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct Thunk(pub Rc<RefCell<ThunkState>>);

impl Thunk {
    pub fn new(state: ThunkState) -> Thunk {
        Thunk(Rc::new(RefCell::new(state)))
    }

    /// The value, if the thunk has been forced.
    pub fn value(&self) -> Option<Value> {
        match &*self.0.borrow() {
            ThunkState::Done(v) => Some(v.clone()),
            _ => None,
        }
    }

    pub fn ptr(&self) -> *const () {
        Rc::as_ptr(&self.0) as *const ()
    }
}

/// A Nix value. `Thunk` is a value that has not been forced yet; everything else is in
/// weak head normal form (its parts may still be thunks).
#[derive(Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(Rc<NixStr>),
    Path(Rc<String>),
    Attrs(Rc<Attrs>),
    List(Rc<Vec<Value>>),
    Lambda(Rc<Closure>),
    PrimOp(Rc<PrimOp>),
    /// A builtin with some of its arguments.
    PrimOpApp(Rc<PrimOpApp>),
    Thunk(Thunk),
}

impl Value {
    pub fn str(s: impl Into<Vec<u8>>) -> Value {
        Value::String(Rc::new(NixStr::plain(s)))
    }

    pub fn string(s: NixStr) -> Value {
        Value::String(Rc::new(s))
    }

    pub fn attrs(a: Attrs) -> Value {
        Value::Attrs(Rc::new(a))
    }

    pub fn list(v: Vec<Value>) -> Value {
        Value::List(Rc::new(v))
    }

    pub fn empty_attrs() -> Value {
        thread_local! {
            static EMPTY: Rc<Attrs> = Rc::new(Attrs::new());
        }
        Value::Attrs(EMPTY.with(Rc::clone))
    }

    /// The name of the value's type as `builtins.typeOf` gives it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Path(_) => "path",
            Value::Attrs(_) => "set",
            Value::List(_) => "list",
            Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_) => "lambda",
            Value::Thunk(_) => "thunk",
        }
    }

    /// The type as Nix's error messages name it ("a string", "an integer", ...).
    pub fn type_desc(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a Boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::String(_) => "a string",
            Value::Path(_) => "a path",
            Value::Attrs(_) => "a set",
            Value::List(_) => "a list",
            Value::Lambda(_) => "a function",
            Value::PrimOp(_) => "a built-in function",
            Value::PrimOpApp(_) => "a partially applied built-in function",
            Value::Thunk(_) => "a thunk",
        }
    }

    pub fn is_function(&self) -> bool {
        matches!(
            self,
            Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_)
        )
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values can be cyclic; show the outermost constructor only.
        match self {
            Value::Int(i) => write!(f, "Int({i})"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::String(s) => write!(f, "String({s:?})"),
            Value::Path(p) => write!(f, "Path({p})"),
            other => f.write_str(other.type_name()),
        }
    }
}
