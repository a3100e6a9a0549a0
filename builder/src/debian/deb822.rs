//! The one deb822 reader of the crate: the line grammar shared by `Packages` indexes
//! ([`super::index`]), apt's `.sources` files ([`super::apt_sources`]) and a `.deb`'s
//! `./control` ([`ControlFields`], read by [`super::unpack`]).
//!
//! deb822 is stanzas (paragraphs) of `Field: value` lines; a continuation line starts with a
//! space or tab; paragraphs are separated by blank lines; field names are printable ASCII, do
//! not start with `-`, and are matched case-insensitively. `classify_line` classifies one
//! line; each reader keeps the fields it needs and says what a second paragraph or a
//! continuation means for it.
//!
//! Must not: know the meaning of any field beyond the three a control file requires.

use std::borrow::Cow;

/// A line of a deb822 file, classified.
pub(crate) enum Line<'a> {
    Blank,
    Comment,
    Field {
        name: &'a str,
        value: &'a str,
    },
    /// A continuation line with its trailing whitespace removed (its leading space kept).
    Continuation(&'a str),
}

/// What is wrong with one line; the caller adds the line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("comment lines are not allowed here")]
    CommentNotAllowed,
    /// Holds the line (cut to 60 bytes).
    #[error("expected `Field: value`, found `{0}`")]
    NotAField(String),
    /// Holds the name (cut to 60 bytes).
    #[error("invalid field name `{0}`")]
    BadName(String),
}

/// Classifies one line (without its newline). `comments` says whether `#` lines are allowed.
pub(crate) fn classify_line(line: &str, comments: bool) -> Result<Line<'_>, LineError> {
    let first = match line.as_bytes().first() {
        None => return Ok(Line::Blank),
        Some(&b) => b,
    };
    if first == b' ' || first == b'\t' {
        if line.trim().is_empty() {
            return Ok(Line::Blank);
        }
        return Ok(Line::Continuation(line.trim_end()));
    }
    if first == b'#' {
        if comments {
            return Ok(Line::Comment);
        }
        return Err(LineError::CommentNotAllowed);
    }
    let Some(colon) = line.find(':') else {
        return Err(LineError::NotAField(truncate(line).into_owned()));
    };
    let name = &line[..colon];
    if name.is_empty() || first == b'-' || !name.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(LineError::BadName(truncate(name).into_owned()));
    }
    Ok(Line::Field {
        name,
        value: line[colon + 1..].trim(),
    })
}

/// `s` cut to 60 bytes (on a character boundary) with `...`, for quoting input in messages.
pub(crate) fn truncate(s: &str) -> Cow<'_, str> {
    const MAX: usize = 60;
    if s.len() <= MAX {
        return Cow::Borrowed(s);
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}...", &s[..end]))
}

/// The fields of a binary package's `control` file (one deb822 paragraph), in file order.
///
/// Names are matched case-insensitively, as deb822 asks. A value is the text after the colon
/// with surrounding whitespace removed; a multi-line value (such as `Description`) keeps its
/// continuation lines as they are (leading space included, trailing whitespace removed), joined
/// with `\n`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControlFields {
    fields: Vec<(String, String)>,
}

/// A malformed control paragraph, naming its 1-based line where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("the required field {0} is missing or empty")]
    MissingField(&'static str),
}

impl ControlFields {
    /// Parses one deb822 paragraph with `Package`, `Version` and `Architecture`. Errors name
    /// the 1-based line.
    pub fn parse(text: &str) -> Result<Self, ControlError> {
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut ended = false;
        for (index, line) in text.split('\n').enumerate() {
            let lineno = index + 1;
            let err = |message: String| ControlError::Line {
                line: lineno,
                message,
            };
            // Whitespace-only lines (a stray `\r` included) end the paragraph.
            if line.trim().is_empty() {
                ended |= !fields.is_empty();
                continue;
            }
            let classified = classify_line(line, true).map_err(|e| err(e.to_string()))?;
            if matches!(classified, Line::Comment) {
                continue;
            }
            if ended {
                return Err(err(
                    "a second paragraph starts here, a control file has one".into(),
                ));
            }
            match classified {
                Line::Blank | Line::Comment => {}
                Line::Continuation(text) => {
                    let Some((_, value)) = fields.last_mut() else {
                        return Err(err("continuation line before any field".into()));
                    };
                    value.push('\n');
                    value.push_str(text);
                }
                Line::Field { name, value } => {
                    if fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                        return Err(err(format!("field {name} appears twice")));
                    }
                    fields.push((name.to_owned(), value.to_owned()));
                }
            }
        }
        let parsed = ControlFields { fields };
        for required in ["Package", "Version", "Architecture"] {
            if parsed.get(required).is_none_or(str::is_empty) {
                return Err(ControlError::MissingField(required));
            }
        }
        Ok(parsed)
    }

    /// The value of field `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `(name, value)` pairs in file order, names spelled as in the file.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_fields_parse() {
        let fields = ControlFields::parse(
            "Package: p\nVersion: 1\n# comment\nArchitecture:  amd64  \nX-Empty:\n\n\n",
        )
        .unwrap();
        assert_eq!(
            fields.iter().collect::<Vec<_>>(),
            [
                ("Package", "p"),
                ("Version", "1"),
                ("Architecture", "amd64"),
                ("X-Empty", "")
            ]
        );
        assert_eq!(fields.len(), 4);
        assert!(!fields.is_empty());
        assert_eq!(fields.get("ARCHITECTURE"), Some("amd64"));
    }

    #[test]
    fn control_keeps_continuation_lines() {
        let fields = ControlFields::parse(
            "Package: p\nVersion: 1\nArchitecture: all\nDescription: short\n long one  \n .\n",
        )
        .unwrap();
        assert_eq!(fields.get("description"), Some("short\n long one\n ."));
    }
}
