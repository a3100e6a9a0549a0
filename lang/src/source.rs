//! Source files, spans, and the rendering of a span as `file:line:col` with the line shown.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: u32,
    pub start: u32,
    pub end: u32,
}

/// One parsed file or expression string.
#[derive(Debug)]
pub struct Source {
    /// What errors call it: the file's path, or `«string»` for `-E`.
    pub name: String,
    /// The file, when there is one (relative paths in it resolve against its directory).
    pub path: Option<PathBuf>,
    pub text: String,
    line_starts: Vec<u32>,
}

impl Source {
    pub fn new(name: String, path: Option<PathBuf>, text: String) -> Source {
        let mut line_starts = vec![0u32];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i as u32 + 1);
            }
        }
        Source {
            name,
            path,
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line] as usize;
        let end = (offset as usize).min(self.text.len());
        let col = self
            .text
            .get(start..end)
            .map(|s| s.chars().count())
            .unwrap_or(end - start);
        (line + 1, col + 1)
    }

    /// The text of a 1-based line, without its newline.
    pub fn line(&self, line: usize) -> Option<&str> {
        let start = *self.line_starts.get(line.checked_sub(1)?)? as usize;
        let end = self
            .line_starts
            .get(line)
            .map(|e| *e as usize - 1)
            .unwrap_or(self.text.len());
        self.text.get(start..end.max(start))
    }
}

/// All sources of one evaluation; spans index into it.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: RefCell<Vec<Rc<Source>>>,
    library_dirs: RefCell<Vec<PathBuf>>,
}

impl SourceMap {
    /// Marks files below `dir` as strata's own library, whose positions errors leave out.
    pub fn add_library_dir(&self, dir: PathBuf) {
        self.library_dirs.borrow_mut().push(dir);
    }

    /// Whether a file belongs to strata's own library.
    pub fn is_library(&self, file: u32) -> bool {
        let Some(src) = self.get(file) else {
            return false;
        };
        if src.name.starts_with('«') {
            return src.name != "«string»";
        }
        match &src.path {
            Some(p) => self.library_dirs.borrow().iter().any(|d| p.starts_with(d)),
            None => false,
        }
    }

    pub fn add(&self, src: Source) -> (u32, Rc<Source>) {
        let mut f = self.files.borrow_mut();
        let rc = Rc::new(src);
        f.push(rc.clone());
        ((f.len() - 1) as u32, rc)
    }

    pub fn get(&self, id: u32) -> Option<Rc<Source>> {
        self.files.borrow().get(id as usize).cloned()
    }

    /// `file:line:col`.
    pub fn position(&self, span: Span) -> String {
        match self.get(span.file) {
            Some(s) => {
                let (l, c) = s.line_col(span.start);
                format!("{}:{l}:{c}", s.name)
            }
            None => "«unknown»".to_owned(),
        }
    }

    /// The position followed by the source lines around it, the span marked with carets.
    pub fn snippet(&self, span: Span) -> String {
        let Some(src) = self.get(span.file) else {
            return String::new();
        };
        let (line, col) = src.line_col(span.start);
        let (end_line, end_col) = src.line_col(span.end.max(span.start));
        let mut out = format!("       at {}:{line}:{col}:\n\n", src.name);
        let width = (line + 1).to_string().len().max(4);
        if line > 1 {
            if let Some(prev) = src.line(line - 1) {
                out.push_str(&format!("       {:>width$}| {}\n", line - 1, prev));
            }
        }
        let text = src.line(line).unwrap_or("");
        out.push_str(&format!("       {line:>width$}| {text}\n"));
        let len = if end_line == line {
            end_col.saturating_sub(col).max(1)
        } else {
            text.chars().count().saturating_sub(col - 1).max(1)
        };
        out.push_str(&format!(
            "       {:>width$}| {}{}\n",
            "",
            " ".repeat(col - 1),
            "^".repeat(len)
        ));
        if let Some(next) = src.line(line + 1) {
            out.push_str(&format!("       {:>width$}| {}\n", line + 1, next));
        }
        out
    }
}
