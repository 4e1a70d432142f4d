//! Owns reading JavaScript as text, without running it: a small lexer, and where each key and
//! value of its object literals is written, so a problem found in the evaluated JSON points at
//! the line of the JS file.

/// What a token is; enough of JavaScript to tell a literal from code and keys from values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Ident,
    Str,
    Num,
    /// A template string; `subst` when it has `${…}`.
    Template {
        subst: bool,
    },
    Regex,
    Punct,
}

#[derive(Debug, Clone)]
pub(crate) struct Token<'a> {
    pub kind: Kind,
    pub text: &'a str,
    pub start: usize,
    pub line: u64,
    pub column: u64,
}

impl Token<'_> {
    pub(crate) fn is(&self, punct: &str) -> bool {
        self.kind == Kind::Punct && self.text == punct
    }

    pub(crate) fn is_ident(&self, name: &str) -> bool {
        self.kind == Kind::Ident && self.text == name
    }

    /// The name a key token stands for: an identifier, a number, or a string's contents.
    fn key_name(&self) -> Option<String> {
        match self.kind {
            Kind::Ident | Kind::Num => Some(self.text.to_string()),
            Kind::Str => Some(unquote(self.text)),
            _ => None,
        }
    }
}

/// A string token's contents, with backslash escapes of single characters undone (enough to
/// compare key names).
pub(crate) fn unquote(s: &str) -> String {
    let inner = s.get(1..s.len().saturating_sub(1)).unwrap_or("");
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

const PUNCT3: &[&str] = &["...", "===", "!==", "**=", "<<=", ">>=", ">>>"];
const PUNCT2: &[&str] = &[
    "=>", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=", "/=", "**",
    "<<", ">>",
];

/// Splits JavaScript text into tokens, skipping whitespace and comments. Lenient: whatever it
/// does not know becomes one-character punctuation.
pub(crate) fn lex(src: &str) -> Vec<Token<'_>> {
    let b = src.as_bytes();
    let mut tokens: Vec<Token> = Vec::new();
    let (mut i, mut line, mut line_start) = (0usize, 1u64, 0usize);
    // Moves `i` to `to`, counting the lines passed.
    let advance = |i: &mut usize, to: usize, line: &mut u64, line_start: &mut usize| {
        let to = to.min(b.len());
        for (k, byte) in b[*i..to].iter().enumerate() {
            if *byte == b'\n' {
                *line += 1;
                *line_start = *i + k + 1;
            }
        }
        *i = to;
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            let next = i + 1;
            advance(&mut i, next, &mut line, &mut line_start);
            continue;
        }
        if src[i..].starts_with("//") {
            let end = src[i..].find('\n').map_or(b.len(), |n| i + n);
            advance(&mut i, end, &mut line, &mut line_start);
            continue;
        }
        if src[i..].starts_with("/*") {
            let end = src[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            advance(&mut i, end, &mut line, &mut line_start);
            continue;
        }
        let start = i;
        let column = src[line_start..start].chars().count() as u64 + 1;
        let (kind, end) = if c == b'"' || c == b'\'' {
            (Kind::Str, string_end(b, i, c))
        } else if c == b'`' {
            let (end, subst) = template_end(b, i);
            (Kind::Template { subst }, end)
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            (Kind::Num, number_end(b, i))
        } else if c == b'_' || c == b'$' || c.is_ascii_alphabetic() || c >= 0x80 {
            let end = src[i..]
                .char_indices()
                .find(|(_, ch)| !(ch.is_alphanumeric() || *ch == '_' || *ch == '$'))
                .map_or(b.len(), |(n, _)| i + n);
            // A non-ASCII character that is not a letter is one token of its own.
            let end = if end == i {
                i + src[i..].chars().next().map_or(1, char::len_utf8)
            } else {
                end
            };
            (Kind::Ident, end)
        } else if c == b'/' && regex_allowed(tokens.last()) {
            (Kind::Regex, regex_end(b, i))
        } else {
            let rest = &src[i..];
            let len = PUNCT3
                .iter()
                .chain(PUNCT2)
                .find(|p| rest.starts_with(**p))
                .map_or(1, |p| p.len());
            (Kind::Punct, i + len)
        };
        tokens.push(Token {
            kind,
            text: &src[start..end],
            start,
            line,
            column,
        });
        advance(&mut i, end, &mut line, &mut line_start);
    }
    tokens
}

fn string_end(b: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return i + 1,
            b'\n' => return i,
            _ => i += 1,
        }
    }
    b.len()
}

/// The end of a template string, and whether it has a `${…}` substitution.
fn template_end(b: &[u8], start: usize) -> (usize, bool) {
    let (mut i, mut subst) = (start + 1, false);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'`' => return (i + 1, subst),
            b'$' if b.get(i + 1) == Some(&b'{') => {
                subst = true;
                let mut depth = 0usize;
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        q @ (b'"' | b'\'') => i = string_end(b, i, q) - 1,
                        b'`' => i = template_end(b, i).0 - 1,
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    (b.len(), subst)
}

fn number_end(b: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        let sign_of_exponent =
            (c == b'+' || c == b'-') && matches!(b[i - 1], b'e' | b'E') && !is_hex(b, start);
        if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || sign_of_exponent {
            i += 1;
        } else {
            break;
        }
    }
    i
}

fn is_hex(b: &[u8], start: usize) -> bool {
    b[start] == b'0' && matches!(b.get(start + 1), Some(b'x' | b'X'))
}

/// Whether a `/` after `prev` starts a regular expression rather than a division.
fn regex_allowed(prev: Option<&Token>) -> bool {
    match prev {
        None => true,
        Some(t) => match t.kind {
            Kind::Punct => !matches!(t.text, ")" | "]" | "}"),
            Kind::Ident => matches!(t.text, "return" | "typeof" | "case" | "in" | "of"),
            _ => false,
        },
    }
}

fn regex_end(b: &[u8], start: usize) -> usize {
    let (mut i, mut class) = (start + 1, false);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' => class = true,
            b']' => class = false,
            b'/' if !class => {
                i += 1;
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                return i;
            }
            b'\n' => return i,
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// One step of a path into the file's value: a key of an object, an index of an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// Whether a place is where a key is written or where its value (or an array element) starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Key,
    Value,
}

/// Where a key or value of the file's object literals is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    pub path: Vec<Seg>,
    pub role: Role,
    pub line: u64,
    pub column: u64,
}

enum Frame {
    /// An object literal: its current key, and whether a key comes next.
    Obj {
        key: Option<String>,
        expect_key: bool,
    },
    Arr {
        index: usize,
    },
    /// Parentheses, code blocks, computed keys: paths start again inside.
    Other,
}

/// Every key and value position of the object and array literals in `tokens`, by path from
/// the outermost literal. Code between literals (calls, blocks) starts paths afresh inside it,
/// so a key written in code is still found by its name.
pub(crate) fn places(tokens: &[Token]) -> Vec<Place> {
    let mut out = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let path_of = |stack: &[Frame]| -> Vec<Seg> {
        let from = stack
            .iter()
            .rposition(|f| matches!(f, Frame::Other))
            .map_or(0, |p| p + 1);
        stack[from..]
            .iter()
            .map(|f| match f {
                Frame::Obj { key, .. } => Seg::Key(key.clone().unwrap_or_default()),
                Frame::Arr { index } => Seg::Index(*index),
                Frame::Other => unreachable!("paths start after the last Other"),
            })
            .collect()
    };
    // A value starts at the next token (after `:`, `[`, an array's `,`); at the top, every
    // object or array literal is a value of its own.
    let mut value_next = false;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let closing = t.is("}") || t.is("]") || t.is(")");
        if let Some(Frame::Obj {
            key,
            expect_key: expect @ true,
        }) = stack.last_mut()
            && !closing
        {
            *expect = false;
            if let Some(name) = t.key_name()
                && tokens.get(i + 1).is_some_and(|n| n.is(":"))
            {
                *key = Some(name);
                let path = path_of(&stack);
                out.push(Place {
                    path,
                    role: Role::Key,
                    line: t.line,
                    column: t.column,
                });
                value_next = true;
                i += 2;
                continue;
            }
            *key = None;
            if t.is("[") {
                // A computed key.
                stack.push(Frame::Other);
                i += 1;
                continue;
            }
        }
        let top_literal = stack.is_empty() && (t.is("{") || t.is("["));
        if (value_next || top_literal) && !closing && !t.is(",") {
            out.push(Place {
                path: path_of(&stack),
                role: Role::Value,
                line: t.line,
                column: t.column,
            });
        }
        value_next = false;
        let prev = i.checked_sub(1).map(|p| &tokens[p]);
        match t.text {
            "{" if t.kind == Kind::Punct => {
                let block = prev.is_some_and(|p| p.is(")") || p.is("=>"));
                stack.push(if block {
                    Frame::Other
                } else {
                    Frame::Obj {
                        key: None,
                        expect_key: true,
                    }
                });
            }
            "[" if t.kind == Kind::Punct => {
                stack.push(Frame::Arr { index: 0 });
                value_next = true;
            }
            "(" if t.kind == Kind::Punct => stack.push(Frame::Other),
            "}" | "]" | ")" if t.kind == Kind::Punct => {
                stack.pop();
            }
            "," if t.kind == Kind::Punct => match stack.last_mut() {
                Some(Frame::Obj { key, expect_key }) => {
                    *key = None;
                    *expect_key = true;
                }
                Some(Frame::Arr { index }) => {
                    *index += 1;
                    value_next = true;
                }
                _ => {}
            },
            _ => {}
        }
        i += 1;
    }
    out
}
