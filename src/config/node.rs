//! Owns the located YAML tree: every key and value of an ecosystem file with its line and
//! column, so validation can point at the exact place of each problem. Parsing is bounded
//! (depth, nodes, aliases), so an alias bomb or a deeply nested file is refused quickly.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Budget, Options, Spanned};
use std::fmt;

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Located>),
    Map(Vec<(Located, Located)>),
}

/// A value with where it was written (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub node: Node,
    pub line: u64,
    pub column: u64,
}

impl Node {
    /// A word for error messages: "a string", "a list"…
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "nothing (null)",
            Node::Bool(_) => "a boolean",
            Node::Int(_) => "a number",
            Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }

    /// Scalars as text, as PM2 turns env values into strings.
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Node::Null => Some(String::new()),
            Node::Bool(b) => Some(b.to_string()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(f.to_string()),
            Node::Str(s) => Some(s.clone()),
            Node::Seq(_) | Node::Map(_) => None,
        }
    }

    /// JSON text of a value, for env values that are lists or maps (as PM2 does).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Node::Null => serde_json::Value::Null,
            Node::Bool(b) => (*b).into(),
            Node::Int(i) => i64::try_from(*i).map_or_else(|_| i.to_string().into(), Into::into),
            Node::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Node::Str(s) => s.clone().into(),
            Node::Seq(v) => v.iter().map(|l| l.node.to_json()).collect(),
            Node::Map(m) => m
                .iter()
                .map(|(k, v)| (k.node.scalar_text().unwrap_or_default(), v.node.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                Node::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Int(v.into()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
                Ok(Node::Int(v))
            }
            fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
                Ok(Node::Int(i128::try_from(v).unwrap_or(i128::MAX)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Node, E> {
                Ok(Node::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Node, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = s.next_element::<Spanned<Node>>()? {
                    v.push(located(e));
                }
                Ok(Node::Seq(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Node, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = m.next_entry::<Spanned<Node>, Spanned<Node>>()? {
                    v.push((located(k), located(x)));
                }
                Ok(Node::Map(v))
            }
        }
        d.deserialize_any(V)
    }
}

fn located(s: Spanned<Node>) -> Located {
    Located {
        node: s.value,
        line: s.referenced.line(),
        column: s.referenced.column(),
    }
}

/// A syntax error or a breached parsing limit, with where it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// Ecosystem files nest a few levels; a low cap keeps recursion (and the stack) small.
const MAX_DEPTH: usize = 32;

/// Parses YAML (or JSON) text into a located tree, within fixed limits.
pub fn parse(text: &str) -> Result<Located, SyntaxError> {
    let mut budget = Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.flow_nesting_limit = MAX_DEPTH;
    budget.max_events = 200_000;
    budget.max_nodes = 100_000;
    budget.max_aliases = 2_000;
    budget.max_anchors = 2_000;
    budget.max_recorded_anchor_events = 100_000;
    budget.max_documents = 1;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.with_snippet = false;
    // YAML 1.2 booleans only, as PM2's YAML parser: `y`, `yes`, `on` stay strings.
    options.strict_booleans = true;
    serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options)
        .map(located)
        .map_err(|e| {
            let (line, column) = e
                .location()
                .filter(|l| l.line() > 0)
                .map_or((1, 1), |l| (l.line(), l.column().max(1)));
            SyntaxError {
                line,
                column,
                message: user_message(&e),
            }
        })
}

/// The error's message for the file's author, without its location (the caller prints
/// `file:line:column` once) and without the parser's advice to its own users.
fn user_message(err: &serde_saphyr::Error) -> String {
    use serde_saphyr::MessageFormatter;
    use serde_saphyr::budget::BudgetBreach;
    // The error behind alias and snippet wrappers (what the renderers unwrap too).
    let mut e = err;
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = e
    {
        e = error;
    }
    const ALIASES: &str = "anchors and aliases (`&name`, `*name`) expand to more than svctl reads \
                           in an ecosystem file; write the repeated values out or use fewer aliases";
    let text = match e {
        serde_saphyr::Error::DuplicateMappingKey { key: Some(k), .. } => {
            format!("duplicate key `{k}`: a key can appear once in a mapping")
        }
        serde_saphyr::Error::DuplicateMappingKey { key: None, .. } => {
            "duplicate key: a key can appear once in a mapping".to_string()
        }
        serde_saphyr::Error::AliasReplayCounterOverflow { .. }
        | serde_saphyr::Error::AliasReplayLimitExceeded { .. }
        | serde_saphyr::Error::AliasExpansionLimitExceeded { .. }
        | serde_saphyr::Error::AliasReplayStackDepthExceeded { .. } => ALIASES.to_string(),
        serde_saphyr::Error::UnknownAnchor { .. } => {
            "this alias (`*name`) names no anchor (`&name`) defined before it".to_string()
        }
        serde_saphyr::Error::MultipleDocuments { .. } => {
            "the file holds several YAML documents (`---`); an ecosystem file is one".to_string()
        }
        serde_saphyr::Error::Budget { breach, .. } => match breach {
            BudgetBreach::Aliases { .. }
            | BudgetBreach::Anchors { .. }
            | BudgetBreach::AliasAnchorRatio { .. }
            | BudgetBreach::RecordedAnchorEvents { .. }
            | BudgetBreach::RecordedAnchorBytes { .. }
            | BudgetBreach::MergeKeys { .. } => ALIASES.to_string(),
            BudgetBreach::Depth { .. } => {
                format!("the file nests more than {MAX_DEPTH} levels deep")
            }
            BudgetBreach::Documents { .. } => {
                "the file holds several YAML documents (`---`); an ecosystem file is one"
                    .to_string()
            }
            _ => "the file has more values than svctl reads in an ecosystem file".to_string(),
        },
        other => serde_saphyr::UserMessageFormatter
            .format_message(other)
            .into_owned(),
    };
    // One line of plain text: the first line, control characters escaped.
    let first = text.lines().next().unwrap_or("").trim();
    first
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_debug().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_of_keys_values_and_merged_values() {
        let t = parse("base: &b\n  x: 1\napp:\n  <<: *b\n  y: [a, 2]\n").unwrap();
        let Node::Map(top) = &t.node else {
            panic!("{t:?}")
        };
        let (k, v) = &top[1];
        assert_eq!((k.line, k.column), (3, 1));
        let Node::Map(app) = &v.node else { panic!() };
        let keys: Vec<String> = app
            .iter()
            .map(|(k, _)| k.node.scalar_text().unwrap())
            .collect();
        assert!(keys.contains(&"x".to_string()) && keys.contains(&"y".to_string()));
        let (_, y) = app
            .iter()
            .find(|(k, _)| k.node == Node::Str("y".into()))
            .unwrap();
        assert_eq!((y.line, y.column), (5, 6));
    }

    #[test]
    fn json_with_tabs_parses() {
        let t = parse(
            "{\n\t\"apps\": [{\"name\": \"a\",\t\"script\": \"x\", \"env\": {\"A\": 1}}]\n}\n",
        );
        assert!(t.is_ok(), "{t:?}");
    }

    #[test]
    fn syntax_errors_are_located() {
        let e = parse("apps:\n  - name: a\n    x: [1,\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 8));
        assert!(e.message.contains("bracket"), "{e:?}");
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("duplicate"), "{e:?}");
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused_before_expansion() {
        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x]\n");
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for w in names.windows(2) {
            let refs = vec![format!("*{}", w[0]); 9].join(",");
            bomb.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
        }
        let e = parse(&bomb).unwrap_err();
        assert!(e.message.starts_with("anchors and aliases"), "{e:?}");
        // Refused by the alias rule itself, not after an expansion ran out of budget.
        assert!(!e.message.contains("budget"), "{e:?}");
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).is_err());
        let deep_block = (0..200)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect::<String>();
        assert!(parse(&deep_block).is_err());
    }

    #[test]
    fn env_values_become_text_or_json() {
        assert_eq!(Node::Int(80).scalar_text().unwrap(), "80");
        assert_eq!(Node::Bool(true).scalar_text().unwrap(), "true");
        let t = parse("[1, {a: b}]").unwrap();
        assert_eq!(t.node.to_json().to_string(), r#"[1,{"a":"b"}]"#);
    }
}
