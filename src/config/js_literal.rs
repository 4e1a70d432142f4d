//! Owns the plain-literal reading of JS ecosystem files, used when node is not installed
//! (`module.exports = { … }` / `export default { … }` / a `.json5` file, parsed as JSON5), the
//! reason a file needs node when it is more than a literal, and the JSON written from it.

use super::js_text::{Kind, Token, unquote};
use std::fmt::Write as _;

/// Why a file cannot be read without node: what it uses, and the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NeedsNode {
    pub what: String,
    pub line: u64,
}

/// Why a file cannot be read as a plain literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NotLiteral {
    /// It is code: node must evaluate it.
    NeedsNode(NeedsNode),
    /// A `.js` file without `module.exports =` or `export default`: it exports nothing.
    NoExport,
}

/// A file read as a plain literal: its text with the `module.exports =` / `export default`
/// frame blanked out (so positions are unchanged), ready for a JSON5 parser. `framed`: the
/// frame is required (a `.js` file; a `.json5` file is the literal alone).
pub(crate) fn literal_text(
    src: &str,
    tokens: &[Token],
    framed: bool,
) -> Result<String, NotLiteral> {
    let mut frame = vec![false; tokens.len()];
    let mut i = 0;
    if tokens
        .first()
        .is_some_and(|t| t.kind == Kind::Str && unquote(t.text) == "use strict")
    {
        frame[0] = true;
        i = 1;
        if tokens.get(1).is_some_and(|t| t.is(";")) {
            frame[1] = true;
            i = 2;
        }
    }
    let rest = &tokens[i..];
    let head = if rest.len() >= 4
        && rest[0].is_ident("module")
        && rest[1].is(".")
        && rest[2].is_ident("exports")
        && rest[3].is("=")
    {
        4
    } else if rest.len() >= 2 && rest[0].is_ident("export") && rest[1].is_ident("default") {
        2
    } else {
        0
    };
    frame[i..i + head].iter_mut().for_each(|f| *f = true);
    i += head;
    let value_start = i;
    let value_end = literal_end(tokens, i);
    let mut j = value_end;
    if tokens.get(j).is_some_and(|t| t.is(";")) {
        frame[j] = true;
        j += 1;
    }
    if let Some(why) = first_code(tokens, &frame) {
        return Err(NotLiteral::NeedsNode(why));
    }
    if framed && head == 0 {
        return Err(NotLiteral::NoExport);
    }
    if value_end == value_start || j < tokens.len() {
        let t = tokens.get(j).or(tokens.last());
        return Err(NotLiteral::NeedsNode(NeedsNode {
            what: format!(
                "code other than one literal (`{}`)",
                t.map_or("", |t| t.text)
            ),
            line: t.map_or(1, |t| t.line),
        }));
    }
    let mut text = src.to_string();
    for (t, _) in tokens.iter().zip(&frame).filter(|(_, f)| **f) {
        let (a, b) = (t.start, t.start + t.text.len());
        text.replace_range(a..b, &" ".repeat(b - a));
    }
    Ok(text)
}

/// The index after the literal starting at `start`: a bracketed one, or one token.
fn literal_end(tokens: &[Token], start: usize) -> usize {
    let mut depth = 0usize;
    for (k, t) in tokens.iter().enumerate().skip(start) {
        if t.kind != Kind::Punct {
            if depth == 0 {
                return k + 1;
            }
            continue;
        }
        match t.text {
            "{" | "[" | "(" => depth += 1,
            "}" | "]" | ")" => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return k + 1;
                }
            }
            _ if depth == 0 => return k,
            _ => {}
        }
    }
    tokens.len()
}

/// The first construct outside the `skip`ped frame tokens that only evaluation gives a value
/// to, preferring the ones worth naming (require, process.env, functions, template strings…)
/// to plain names and statements.
fn first_code(tokens: &[Token], skip: &[bool]) -> Option<NeedsNode> {
    let mut generic: Option<NeedsNode> = None;
    let mut skip_to = 0;
    for (k, t) in tokens.iter().enumerate() {
        if skip[k] || k < skip_to {
            continue;
        }
        let prev = k.checked_sub(1).map(|p| &tokens[p]);
        let next = tokens.get(k + 1);
        let named = |what: String| Some(NeedsNode { what, line: t.line });
        let found = match t.kind {
            Kind::Str | Kind::Num => None,
            Kind::Template { subst: true } => named("a template string with `${}`".into()),
            Kind::Template { subst: false } => named("a template string (backquotes)".into()),
            Kind::Regex => named("a regular expression".into()),
            Kind::Ident => {
                // A key (a missing comma before it is the JSON5 parser's to report).
                let is_key = next.is_some_and(|n| n.is(":"));
                let member = next.is_some_and(|n| n.is("."))
                    && tokens.get(k + 2).is_some_and(|n| n.kind == Kind::Ident);
                let exports = (member && t.text == "module" && tokens[k + 2].text == "exports")
                    || t.text == "exports"
                    || (t.text == "export" && next.is_some_and(|n| n.is_ident("default")))
                    || (t.text == "default" && prev.is_some_and(|p| p.is_ident("export")));
                if exports && member {
                    skip_to = k + 3;
                }
                if is_key
                    || exports
                    || matches!(t.text, "true" | "false" | "null" | "Infinity" | "NaN")
                {
                    None
                } else if matches!(t.text, "const" | "let" | "var") {
                    generic.get_or_insert(NeedsNode {
                        what: format!("variables (`{}`)", t.text),
                        line: t.line,
                    });
                    None
                } else if member {
                    named(format!("{}.{}", t.text, tokens[k + 2].text))
                } else if matches!(t.text, "require" | "import" | "__dirname" | "__filename") {
                    named(t.text.to_string())
                } else if t.text == "function" {
                    named("a function".into())
                } else if next.is_some_and(|n| n.is("(")) {
                    named(format!("a call to `{}`", t.text))
                } else {
                    generic.get_or_insert(NeedsNode {
                        what: format!("the name `{}`", t.text),
                        line: t.line,
                    });
                    None
                }
            }
            Kind::Punct => match t.text {
                "{" | "}" | "[" | "]" | "," | ":" => None,
                "+" | "-"
                    if prev.is_some_and(|p| p.is(":") || p.is(",") || p.is("["))
                        && next.is_some_and(|n| {
                            n.kind == Kind::Num || n.is_ident("Infinity") || n.is_ident("NaN")
                        }) =>
                {
                    None
                }
                "..." => named("a spread (`...`)".into()),
                "=>" => named("a function".into()),
                other => {
                    generic.get_or_insert(NeedsNode {
                        what: format!("an expression (`{other}`)"),
                        line: t.line,
                    });
                    None
                }
            },
        };
        if found.is_some() {
            return found;
        }
    }
    generic
}

/// A JSON5 value with its keys in the order written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Arr(Vec<Value>),
    Obj(Vec<(String, Value)>),
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        use serde::de::{MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON5 value")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
                Ok(Value::Int(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Value, E> {
                Ok(Value::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Value, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = s.next_element()? {
                    v.push(e);
                }
                Ok(Value::Arr(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Value, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = m.next_entry::<String, Value>()? {
                    v.push((k, x));
                }
                Ok(Value::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl Value {
    /// JSON text, one entry a line, as `JSON.stringify(v, null, 2)` writes it (non-finite
    /// numbers become null, as there).
    pub fn to_json_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, indent: usize) {
        let pad = |out: &mut String, n: usize| out.extend(std::iter::repeat_n(' ', n));
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => match serde_json::Number::from_f64(*f) {
                Some(n) => {
                    let _ = write!(out, "{n}");
                }
                None => out.push_str("null"),
            },
            Value::Str(s) => out.push_str(&serde_json::Value::from(s.as_str()).to_string()),
            Value::Arr(items) if items.is_empty() => out.push_str("[]"),
            Value::Obj(entries) if entries.is_empty() => out.push_str("{}"),
            Value::Arr(items) => {
                out.push_str("[\n");
                for (k, item) in items.iter().enumerate() {
                    pad(out, indent + 2);
                    item.write(out, indent + 2);
                    out.push_str(if k + 1 < items.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push(']');
            }
            Value::Obj(entries) => {
                out.push_str("{\n");
                for (k, (key, v)) in entries.iter().enumerate() {
                    pad(out, indent + 2);
                    out.push_str(&serde_json::Value::from(key.as_str()).to_string());
                    out.push_str(": ");
                    v.write(out, indent + 2);
                    out.push_str(if k + 1 < entries.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push('}');
            }
        }
    }
}

/// How deeply a literal may nest before it is refused (the loader reads 32 levels; the JSON5
/// parser recurses without a limit of its own).
pub(crate) const MAX_DEPTH: usize = 64;

/// The line of the first bracket nested deeper than [`MAX_DEPTH`], if any.
pub(crate) fn too_deep(tokens: &[Token]) -> Option<u64> {
    let mut depth = 0usize;
    for t in tokens.iter().filter(|t| t.kind == Kind::Punct) {
        match t.text {
            "{" | "[" | "(" => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(t.line);
                }
            }
            "}" | "]" | ")" => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}
