//! Parse errors as the user reads them: what the parser tripped over, where, and the token
//! it expected, worded as Nix words them.

use crate::source::Span;

pub(super) fn describe_parse_error(file: u32, text: &str, e: &rnix::ParseError) -> (Span, String) {
    use rnix::ParseError as P;
    let at = |r: &rnix::TextRange| Span {
        file,
        start: r.start().into(),
        end: r.end().into(),
    };
    let end = text.len() as u32;
    let eof = Span {
        file,
        start: end,
        end,
    };
    // What the parser tripped over, as the user wrote it.
    let shown = |r: &rnix::TextRange, kind: Option<rnix::SyntaxKind>| -> String {
        let s = text
            .get(usize::from(r.start())..usize::from(r.end()))
            .unwrap_or("");
        if kind == Some(rnix::SyntaxKind::TOKEN_ERROR) || s.is_empty() {
            if u32::from(r.end()) >= end || s.starts_with('"') || s.starts_with("''") {
                return "end of file".to_owned();
            }
            if s.ends_with('/') && s.contains('/') {
                return format!("'{s}' (a path cannot end with a slash)");
            }
            return format!("invalid token '{s}'");
        }
        let first: String = s
            .chars()
            .take_while(|c| !c.is_whitespace())
            .take(24)
            .collect();
        format!("'{first}'")
    };
    let expecting = |want: &[rnix::SyntaxKind]| -> String {
        // Long lists of alternatives help no one; Nix, too, names at most a few.
        if want.is_empty() || want.len() > 4 {
            return String::new();
        }
        let names: Vec<String> = want.iter().map(|k| token_name(*k)).collect();
        format!(", expecting {}", names.join(" or "))
    };
    match e {
        P::Unexpected(r) => (at(r), format!("unexpected {}", shown(r, None))),
        P::UnexpectedExtra(r) => (
            at(r),
            format!("unexpected {}, expecting end of file", shown(r, None)),
        ),
        P::UnexpectedWanted(got, r, want) => (
            at(r),
            format!("unexpected {}{}", shown(r, Some(*got)), expecting(want)),
        ),
        P::UnexpectedDoubleBind(r) => (
            at(r),
            "a pattern can be bound to only one name with '@'".into(),
        ),
        P::UnexpectedEOF => (eof, "unexpected end of file".into()),
        P::UnexpectedEOFWanted(want) => (eof, format!("unexpected end of file{}", expecting(want))),
        P::DuplicatedArgs(r, n) => (at(r), format!("duplicate formal function argument '{n}'")),
        P::RecursionLimitExceeded => (eof, "the expression nests too deeply to parse".into()),
        _ => (eof, e.to_string()),
    }
}

fn token_name(k: rnix::SyntaxKind) -> String {
    use rnix::SyntaxKind::*;
    let s = match k {
        TOKEN_SEMICOLON => "';'",
        TOKEN_L_BRACE => "'{'",
        TOKEN_R_BRACE => "'}'",
        TOKEN_L_BRACK => "'['",
        TOKEN_R_BRACK => "']'",
        TOKEN_L_PAREN => "'('",
        TOKEN_R_PAREN => "')'",
        TOKEN_ASSIGN => "'='",
        TOKEN_COLON => "':'",
        TOKEN_COMMA => "','",
        TOKEN_DOT => "'.'",
        TOKEN_IN => "'in'",
        TOKEN_THEN => "'then'",
        TOKEN_ELSE => "'else'",
        TOKEN_IDENT => "an identifier",
        TOKEN_STRING_END => "the closing quote of the string",
        TOKEN_STRING_CONTENT => "string text",
        TOKEN_INTERPOL_START => "'${'",
        TOKEN_INTERPOL_END => "'}' closing the interpolation",
        TOKEN_OR => "'or'",
        TOKEN_CUR_POS => "'__curPos'",
        other => {
            return format!("{other:?}")
                .trim_start_matches("TOKEN_")
                .trim_start_matches("NODE_")
                .to_lowercase()
        }
    };
    s.to_owned()
}
