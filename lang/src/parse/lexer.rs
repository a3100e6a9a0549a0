//! The lexer: source text into tokens, split as Nix's own lexer splits them. Among the
//! tokens that could start at a position the longest wins (so `a/b` is a path, `x:y` a URI
//! and `a-b` one name), with Nix's order breaking ties (a keyword before a name). Strings,
//! indented strings and interpolated paths are states kept on a stack, as `${` may nest.

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum T {
    Ident,
    Int,
    Float,
    Uri,
    /// `<nixpkgs/lib>`.
    SearchPath,
    /// The first literal piece of a path (`./a/b`, `/x`, `~/x`, `a/${`'s `a/`).
    Path,
    /// A later literal piece of an interpolated path.
    PathText,
    /// Where a path ends (no width).
    PathEnd,
    /// `"`, opening a string.
    StrOpen,
    /// Text of a `"` string, escapes still in it.
    StrText,
    StrClose,
    /// `''`, opening an indented string (with the spaces and newline after it).
    IndOpen,
    /// Text of an indented string, as written.
    IndText,
    /// An escape in an indented string (`''$`, `'''`, `''\n`), or a lone `$` or `'`.
    IndEscape,
    IndClose,
    /// `${`.
    Interp,
    If,
    Then,
    Else,
    Assert,
    With,
    Let,
    In,
    Rec,
    Inherit,
    OrKw,
    LBrace,
    RBrace,
    LBrack,
    RBrack,
    LParen,
    RParen,
    Semi,
    Colon,
    Comma,
    Dot,
    Ellipsis,
    Assign,
    At,
    Question,
    Concat,
    Plus,
    Minus,
    Star,
    Slash,
    Update,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Impl,
    Not,
    /// A character that starts no token.
    Invalid,
    /// Text the lexer cannot take further; the message is in [`Lexed::error`].
    Error,
    Eof,
}

/// One token: its kind and where it is (byte offsets).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tok {
    pub kind: T,
    pub start: u32,
    pub end: u32,
    /// How many brackets (`{ ${ ( [`) are open before it, so that recovery from an error can
    /// find the end of the binding it happened in.
    pub depth: u32,
}

/// A whole text's tokens, ending with [`T::Eof`] or [`T::Error`].
pub(crate) struct Lexed {
    pub toks: Vec<Tok>,
    /// Why lexing stopped early, when the last token is [`T::Error`].
    pub error: Option<LexError>,
}

/// Text no token can be made of, worded as Nix words it where it has a word for it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LexError {
    #[error("invalid integer '{0}'")]
    InvalidInteger(String),
    #[error("path '{0}' has a trailing slash")]
    TrailingSlash(String),
    #[error("syntax error, path '{0}' contains '//'")]
    DoubleSlash(String),
    #[error("syntax error, unterminated comment: '/*' has no '*/'")]
    UnterminatedComment,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    Str,
    Ind,
    /// Inside a path, after a piece that did not end with a slash.
    InPath,
    /// Inside a path, after a piece that ended with a slash: only `${` may follow.
    InPathSlash,
}

/// Character classes, one bit each, looked up in [`CLASSES`].
const IDENT: u8 = 1;
const PATH: u8 = 2;
const URI: u8 = 4;
const SCHEME: u8 = 8;

/// The classes of every byte: name characters (`[a-zA-Z0-9_'-]` after the first), path
/// characters (`[a-zA-Z0-9._+-]`), URI characters and URI scheme characters
/// (`[a-zA-Z0-9+.-]`).
static CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alnum = b.is_ascii_alphanumeric();
        let mut k = 0;
        if alnum || matches!(b, b'_' | b'\'' | b'-') {
            k |= IDENT;
        }
        if alnum || matches!(b, b'.' | b'_' | b'-' | b'+') {
            k |= PATH;
        }
        if alnum
            || matches!(
                b,
                b'%' | b'/'
                    | b'?'
                    | b':'
                    | b'@'
                    | b'&'
                    | b'='
                    | b'+'
                    | b'$'
                    | b','
                    | b'-'
                    | b'_'
                    | b'.'
                    | b'!'
                    | b'~'
                    | b'*'
                    | b'\''
            )
        {
            k |= URI;
        }
        if alnum || matches!(b, b'+' | b'-' | b'.') {
            k |= SCHEME;
        }
        t[c] = k;
        c += 1;
    }
    t
};

fn is(c: u8, class: u8) -> bool {
    CLASSES[usize::from(c)] & class != 0
}

/// How many bytes at the start of `s` are of `class`.
fn span_of(s: &[u8], class: u8) -> usize {
    s.iter().position(|&b| !is(b, class)).unwrap_or(s.len())
}

fn keyword(word: &[u8]) -> Option<T> {
    if word.len() > 7
        || !matches!(
            word[0],
            b'i' | b't' | b'e' | b'a' | b'w' | b'l' | b'r' | b'o'
        )
    {
        return None;
    }
    Some(match word {
        b"if" => T::If,
        b"then" => T::Then,
        b"else" => T::Else,
        b"assert" => T::Assert,
        b"with" => T::With,
        b"let" => T::Let,
        b"in" => T::In,
        b"rec" => T::Rec,
        b"inherit" => T::Inherit,
        b"or" => T::OrKw,
        _ => return None,
    })
}

struct Lexer<'a> {
    text: &'a str,
    s: &'a [u8],
    i: usize,
    states: Vec<State>,
    toks: Vec<Tok>,
    depth: u32,
    /// Where the last lexeme (token, blank or comment) started: Nix reports an unexpected
    /// end of file there.
    last_lexeme: usize,
}

/// Splits `text` into tokens.
pub(crate) fn lex(text: &str) -> Lexed {
    let mut lx = Lexer {
        text,
        s: text.as_bytes(),
        i: 0,
        states: vec![State::Code],
        toks: Vec::with_capacity(text.len() / 4 + 4),
        depth: 0,
        last_lexeme: 0,
    };
    let error = lx.run().err();
    Lexed {
        toks: lx.toks,
        error,
    }
}

impl Lexer<'_> {
    fn at(&self, k: usize) -> u8 {
        self.s.get(self.i + k).copied().unwrap_or(0)
    }

    fn rest(&self) -> &[u8] {
        &self.s[self.i..]
    }

    fn push(&mut self, kind: T, len: usize) {
        let start = self.i;
        self.i += len;
        self.last_lexeme = start;
        if matches!(kind, T::RBrace | T::RParen | T::RBrack) {
            self.depth = self.depth.saturating_sub(1);
        }
        self.toks.push(Tok {
            kind,
            start: start as u32,
            end: self.i as u32,
            depth: self.depth,
        });
        if matches!(kind, T::LBrace | T::Interp | T::LParen | T::LBrack) {
            self.depth += 1;
        }
    }

    fn state(&self) -> State {
        self.states.last().copied().unwrap_or(State::Code)
    }

    fn set_state(&mut self, s: State) {
        match self.states.last_mut() {
            Some(top) => *top = s,
            None => self.states.push(s),
        }
    }

    fn pop(&mut self) {
        self.states.pop();
    }

    fn run(&mut self) -> Result<(), LexError> {
        loop {
            let done = match self.state() {
                State::Code => self.code()?,
                State::Str => self.string(),
                State::Ind => self.indented(),
                State::InPath | State::InPathSlash => self.in_path()?,
            };
            if done {
                let at = if self.s.is_empty() {
                    0
                } else {
                    self.last_lexeme
                };
                self.toks.push(Tok {
                    kind: T::Eof,
                    start: at as u32,
                    end: at as u32,
                    depth: self.depth,
                });
                return Ok(());
            }
        }
    }

    /// Stops with an error token at the current position.
    fn fail(&mut self, len: usize, why: LexError) -> Result<bool, LexError> {
        let start = self.i;
        self.toks.push(Tok {
            kind: T::Error,
            start: start as u32,
            end: (start + len).min(self.s.len()) as u32,
            depth: self.depth,
        });
        Err(why)
    }

    /// One lexeme in code. Returns whether the text has ended.
    fn code(&mut self) -> Result<bool, LexError> {
        let Some(&c) = self.s.get(self.i) else {
            return Ok(true);
        };
        // Blanks and comments.
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            self.last_lexeme = self.i;
            while matches!(self.at(0), b' ' | b'\t' | b'\r' | b'\n') {
                self.i += 1;
            }
            return Ok(false);
        }
        if c == b'#' {
            self.last_lexeme = self.i;
            while self.i < self.s.len() && !matches!(self.s[self.i], b'\n' | b'\r') {
                self.i += 1;
            }
            return Ok(false);
        }
        if c == b'/' && self.at(1) == b'*' {
            let body = &self.s[self.i + 2..];
            match body.windows(2).position(|w| w == b"*/") {
                Some(p) => {
                    self.last_lexeme = self.i;
                    self.i += 2 + p + 2;
                    return Ok(false);
                }
                None => return self.fail(2, LexError::UnterminatedComment),
            }
        }
        let rest = self.rest();
        // Fast paths for the commonest tokens, where no other rule can match longer.
        let fast = match c {
            b'{' | b'}' | b'[' | b']' | b'(' | b')' | b';' | b',' => true,
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                // A name is the longest match unless the text goes on as a path (`a/b`,
                // `a.b/c`, `a+b/c`) or a URI (`a:b`, `a.b:c`): both need one of these next.
                let n = ident_len(rest);
                // Past the name, the characters paths and URIs share with names; only a `/`
                // or `:` after them makes one.
                let more = n + span_of(&rest[n..], PATH | SCHEME);
                if !matches!(rest.get(more), Some(b'/' | b':')) {
                    let kind = keyword(&rest[..n]).unwrap_or(T::Ident);
                    self.push(kind, n);
                    return Ok(false);
                }
                false
            }
            _ => false,
        };
        if fast {
            let kind = single_char(c).unwrap_or(T::Invalid);
            self.push(kind, 1);
            match kind {
                T::LBrace => self.states.push(State::Code),
                T::RBrace if self.states.len() > 1 => self.pop(),
                _ => {}
            }
            return Ok(false);
        }
        // The longest of the tokens that can start here; ties go to the one Nix lists first.
        let mut best = Best {
            kind: T::Invalid,
            len: 0,
            token: 0,
            slash: false,
        };
        if rest.starts_with(b"...") {
            best.offer(T::Ellipsis, 3);
        }
        let two = rest.get(..2).unwrap_or(&[]);
        let pair = match two {
            b"//" => Some(T::Update),
            b"++" => Some(T::Concat),
            b"==" => Some(T::Eq),
            b"!=" => Some(T::Ne),
            b"<=" => Some(T::Le),
            b">=" => Some(T::Ge),
            b"&&" => Some(T::And),
            b"||" => Some(T::Or),
            b"->" => Some(T::Impl),
            b"${" => Some(T::Interp),
            b"''" => Some(T::IndOpen),
            _ => None,
        };
        if let Some(k) = pair {
            best.offer(k, 2);
        }
        let single = single_char(c);
        if let Some(k) = single {
            best.offer(k, 1);
        }
        // Names and keywords.
        if c.is_ascii_alphabetic() || c == b'_' {
            let n = ident_len(rest);
            best.offer(keyword(&rest[..n]).unwrap_or(T::Ident), n);
        }
        // Numbers.
        if c.is_ascii_digit() {
            best.offer(
                T::Int,
                rest.iter().take_while(|b| b.is_ascii_digit()).count(),
            );
        }
        if let Some(n) = float_len(rest) {
            best.offer(T::Float, n);
        }
        // Paths. `a/${` and `~/${` count their `${` (which stays for the next token) against
        // the other candidates, as Nix's rules do.
        let run = span_of(rest, PATH);
        if rest.get(run) == Some(&b'/') && rest[run + 1..].starts_with(b"${") {
            best.offer_path(run + 3, run + 1, true);
        }
        if c == b'~' && rest[1..].starts_with(b"/${") {
            best.offer_path(4, 2, true);
        }
        if let Some((n, slash)) = path_len(rest, run) {
            best.offer_path(n, n, slash);
        }
        if c == b'~' {
            if let Some((n, slash)) = path_len(&rest[1..], 0) {
                best.offer_path(n + 1, n + 1, slash);
            }
        }
        // `<nixpkgs>`.
        if c == b'<' {
            if let Some(n) = search_path_len(rest) {
                best.offer(T::SearchPath, n);
            }
        }
        // URIs.
        if c.is_ascii_alphabetic() {
            let scheme = 1 + span_of(&rest[1..], SCHEME);
            if rest.get(scheme) == Some(&b':') {
                let body = span_of(&rest[scheme + 1..], URI);
                if body > 0 {
                    best.offer(T::Uri, scheme + 1 + body);
                }
            }
        }
        let (kind, len) = (best.kind, best.token);
        match kind {
            T::Invalid => {
                // One character, whole even when it takes several bytes.
                let len = self.text[self.i..].chars().next().map_or(1, char::len_utf8);
                self.push(T::Invalid, len);
            }
            T::Int => {
                let text = std::str::from_utf8(&rest[..len]).unwrap_or("");
                if text.parse::<i64>().is_err() {
                    return self.fail(len, LexError::InvalidInteger(text.to_owned()));
                }
                self.push(T::Int, len);
            }
            T::Path => {
                self.push(T::Path, len);
                self.states.push(if best.slash {
                    State::InPathSlash
                } else {
                    State::InPath
                });
            }
            T::StrOpen => {
                self.push(T::StrOpen, 1);
                self.states.push(State::Str);
            }
            T::IndOpen => {
                // The opening quotes take the spaces and the newline after them.
                let spaces = rest[2..].iter().take_while(|&&b| b == b' ').count();
                let len = if rest.get(2 + spaces) == Some(&b'\n') {
                    2 + spaces + 1
                } else {
                    2
                };
                self.push(T::IndOpen, len);
                self.states.push(State::Ind);
            }
            T::LBrace | T::Interp => {
                self.push(kind, len);
                self.states.push(State::Code);
            }
            T::RBrace => {
                self.push(kind, len);
                if self.states.len() > 1 {
                    self.pop();
                }
            }
            _ => self.push(kind, len),
        }
        Ok(false)
    }

    /// One lexeme of a `"` string.
    fn string(&mut self) -> bool {
        if self.i >= self.s.len() {
            return true;
        }
        if self.at(0) == b'"' {
            self.push(T::StrClose, 1);
            self.pop();
            return false;
        }
        if self.rest().starts_with(b"${") {
            self.push(T::Interp, 2);
            self.states.push(State::Code);
            return false;
        }
        let mut n = 0;
        let rest = self.rest();
        while n < rest.len() {
            match rest[n] {
                b'"' => break,
                b'\\' => n = (n + 2).min(rest.len()),
                b'$' => match rest.get(n + 1) {
                    Some(b'{') => break,
                    Some(b'$') => n += 2,
                    _ => n += 1,
                },
                _ => n += 1,
            }
        }
        self.push(T::StrText, n);
        false
    }

    /// One lexeme of a `''` string.
    fn indented(&mut self) -> bool {
        let rest = self.rest();
        if rest.is_empty() {
            return true;
        }
        if rest.starts_with(b"'''") || rest.starts_with(b"''$") {
            self.push(T::IndEscape, 3);
            return false;
        }
        if rest.starts_with(b"''\\") && rest.len() > 3 {
            let len = self.text[self.i + 3..]
                .chars()
                .next()
                .map_or(1, char::len_utf8);
            self.push(T::IndEscape, 3 + len);
            return false;
        }
        if rest.starts_with(b"''") {
            self.push(T::IndClose, 2);
            self.pop();
            return false;
        }
        if rest.starts_with(b"${") {
            self.push(T::Interp, 2);
            self.states.push(State::Code);
            return false;
        }
        let mut n = 0;
        while n < rest.len() {
            match rest[n] {
                b'$' => match rest.get(n + 1) {
                    Some(b'{' | b'\'') | None => break,
                    Some(_) => n += 2,
                },
                b'\'' => match rest.get(n + 1) {
                    Some(b'\'' | b'$') | None => break,
                    Some(_) => n += 2,
                },
                _ => n += 1,
            }
        }
        if n > 0 {
            self.push(T::IndText, n);
        } else {
            // A lone `$` or `'`.
            self.push(T::IndEscape, 1);
        }
        false
    }

    /// One lexeme inside an interpolated path.
    fn in_path(&mut self) -> Result<bool, LexError> {
        let rest = self.rest();
        if rest.starts_with(b"${") {
            self.set_state(State::InPath);
            self.push(T::Interp, 2);
            self.states.push(State::Code);
            return Ok(false);
        }
        let run = span_of(rest, PATH);
        let piece = match path_len(rest, run) {
            Some(piece) => Some(piece),
            None if rest.get(run) == Some(&b'/') => Some((run + 1, true)),
            None if run > 0 => Some((run, false)),
            None => None,
        };
        if let Some((n, slash)) = piece {
            if self.state() == State::InPathSlash && rest.first() == Some(&b'/') {
                let start = self.path_start();
                let end = self.i
                    + rest
                        .iter()
                        .take_while(|&&b| is(b, PATH) || b == b'/')
                        .count();
                let text = String::from_utf8_lossy(&self.s[start..end]).into_owned();
                return self.fail(1, LexError::DoubleSlash(text));
            }
            self.set_state(if slash {
                State::InPathSlash
            } else {
                State::InPath
            });
            self.push(T::PathText, n);
            return Ok(false);
        }
        if self.state() == State::InPathSlash {
            let start = self.path_start();
            let text = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
            return self.fail(0, LexError::TrailingSlash(text));
        }
        // The path ends; what follows is read as code again.
        self.pop();
        let at = self.i as u32;
        self.toks.push(Tok {
            kind: T::PathEnd,
            start: at,
            end: at,
            depth: self.depth,
        });
        Ok(false)
    }

    /// Where the path being read started.
    fn path_start(&self) -> usize {
        let mut open = 0u32;
        for t in self.toks.iter().rev() {
            match t.kind {
                T::RBrace => open += 1,
                T::Interp if open > 0 => open -= 1,
                T::Path if open == 0 => return t.start as usize,
                _ => {}
            }
        }
        self.i
    }
}

/// The best candidate for the token at a position.
struct Best {
    kind: T,
    /// How much text the candidate's rule matches.
    len: usize,
    /// How much of it the token takes.
    token: usize,
    /// A path piece ending with a slash.
    slash: bool,
}

impl Best {
    fn offer(&mut self, kind: T, len: usize) {
        if len > self.len {
            *self = Best {
                kind,
                len,
                token: len,
                slash: false,
            };
        }
    }

    fn offer_path(&mut self, len: usize, token: usize, slash: bool) {
        if len > self.len {
            *self = Best {
                kind: T::Path,
                len,
                token,
                slash,
            };
        }
    }
}

/// The token a character makes on its own.
fn single_char(c: u8) -> Option<T> {
    Some(match c {
        b'{' => T::LBrace,
        b'}' => T::RBrace,
        b'[' => T::LBrack,
        b']' => T::RBrack,
        b'(' => T::LParen,
        b')' => T::RParen,
        b';' => T::Semi,
        b':' => T::Colon,
        b',' => T::Comma,
        b'.' => T::Dot,
        b'=' => T::Assign,
        b'@' => T::At,
        b'?' => T::Question,
        b'+' => T::Plus,
        b'-' => T::Minus,
        b'*' => T::Star,
        b'/' => T::Slash,
        b'<' => T::Lt,
        b'>' => T::Gt,
        b'!' => T::Not,
        b'"' => T::StrOpen,
        _ => return None,
    })
}

/// The length of the name at the start of `s`, which starts with a letter or `_`.
fn ident_len(s: &[u8]) -> usize {
    1 + span_of(&s[1..], IDENT)
}

/// The length of a path at the start of `s` (whose first `run` bytes are path characters),
/// and whether it ends with a slash: `PATH_CHAR* (/ PATH_CHAR+)+ /?`.
fn path_len(s: &[u8], run: usize) -> Option<(usize, bool)> {
    let mut i = run;
    let mut segments = 0;
    while s.get(i) == Some(&b'/') {
        let seg = span_of(&s[i + 1..], PATH);
        if seg == 0 {
            break;
        }
        i += 1 + seg;
        segments += 1;
    }
    if segments == 0 {
        return None;
    }
    if s.get(i) == Some(&b'/') {
        return Some((i + 1, true));
    }
    Some((i, false))
}

/// `<` PATH_CHAR+ (`/` PATH_CHAR+)* `>`.
fn search_path_len(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    loop {
        let seg = span_of(&s[i..], PATH);
        if seg == 0 {
            return None;
        }
        i += seg;
        match s.get(i) {
            Some(b'/') => i += 1,
            Some(b'>') => return Some(i + 1),
            _ => return None,
        }
    }
}

/// `(([1-9][0-9]*\.[0-9]*)|(0?\.[0-9]+))([Ee][+-]?[0-9]+)?`.
fn float_len(s: &[u8]) -> Option<usize> {
    let digits = |from: usize| {
        s[from.min(s.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut i;
    match s.first()? {
        b'1'..=b'9' => {
            i = 1 + digits(1);
            if s.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
            i += digits(i);
        }
        b'0' | b'.' => {
            i = usize::from(s[0] == b'0');
            if s.get(i) != Some(&b'.') {
                return None;
            }
            let d = digits(i + 1);
            if d == 0 {
                return None;
            }
            i += 1 + d;
        }
        _ => return None,
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let d = digits(j);
        if d > 0 {
            i = j + d;
        }
    }
    Some(i)
}
