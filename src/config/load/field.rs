//! Owns reading one value of an app: typed getters (string, boolean, whole number in a range,
//! duration, size, words) that record a located problem when the value has the wrong type, and
//! the range rule shared with [`AppSpec::check`](crate::config::AppSpec::check).

use super::Ctx;
use crate::config::node::{Located, Node};
use crate::config::units;
use std::ops::RangeInclusive;

/// A value of an app, with its field path (`apps[0].max_restarts`) and place.
pub(crate) struct Field<'n> {
    pub path: String,
    pub at: &'n Located,
}

/// `n` within `range`, with the message the loader and the daemon's check both give.
pub(crate) fn in_range(n: i128, range: &RangeInclusive<u64>) -> Result<u64, String> {
    let (min, max) = (*range.start(), *range.end());
    if n < i128::from(min) || n > i128::from(max) {
        return Err(format!("{n} is out of range ({min} to {max})"));
    }
    Ok(n as u64)
}

impl Field<'_> {
    /// A field below this one: `apps[0].stop_exit_codes[1]`.
    pub fn item<'m>(&self, suffix: &str, at: &'m Located) -> Field<'m> {
        Field {
            path: format!("{}{suffix}", self.path),
            at,
        }
    }

    pub fn problem(&self, ctx: &mut Ctx, message: impl Into<String>) {
        ctx.problem(self.at, &self.path, message);
    }

    /// The value when the field's bound accepts it; else its message, at this field.
    pub fn valid<T>(&self, ctx: &mut Ctx, checked: Result<T, String>) -> Option<T> {
        checked.map_err(|e| self.problem(ctx, e)).ok()
    }

    pub fn str(&self, ctx: &mut Ctx) -> Option<String> {
        match &self.at.node {
            Node::Str(s) => Some(s.clone()),
            Node::Int(_) | Node::Float(_) => self.at.node.scalar_text(),
            other => {
                self.problem(ctx, format!("expected a string, found {}", other.kind()));
                None
            }
        }
    }

    pub fn bool(&self, ctx: &mut Ctx) -> Option<bool> {
        match &self.at.node {
            Node::Bool(b) => Some(*b),
            Node::Str(s) if s == "true" || s == "false" => Some(s == "true"),
            other => {
                self.problem(
                    ctx,
                    format!("expected true or false, found {}", describe(other)),
                );
                None
            }
        }
    }

    pub fn u64_in(&self, ctx: &mut Ctx, range: RangeInclusive<u64>) -> Option<u64> {
        let n = match &self.at.node {
            Node::Int(i) => *i,
            Node::Str(s)
                if !s.trim().is_empty() && s.trim().chars().all(|c| c.is_ascii_digit()) =>
            {
                s.trim().parse::<i128>().unwrap_or(i128::MAX)
            }
            other => {
                self.problem(
                    ctx,
                    format!("expected a whole number, found {}", describe(other)),
                );
                return None;
            }
        };
        self.valid(ctx, in_range(n, &range))
    }

    pub fn duration(&self, ctx: &mut Ctx) -> Option<u64> {
        match &self.at.node {
            Node::Int(i) if *i >= 0 => u64::try_from(*i).ok().or_else(|| {
                self.problem(ctx, "too large a duration");
                None
            }),
            Node::Int(i) => {
                self.problem(
                    ctx,
                    format!("{i} is negative: a duration is 0 or more milliseconds"),
                );
                None
            }
            Node::Str(s) => self.valid(ctx, units::duration_ms(s)),
            other => {
                self.problem(
                    ctx,
                    format!(
                        "expected a duration (1500, 30s, 5m), found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    pub fn size(&self, ctx: &mut Ctx) -> Option<u64> {
        match &self.at.node {
            Node::Int(i) if *i >= 0 => u64::try_from(*i).ok(),
            Node::Str(s) => self.valid(ctx, units::size_bytes(s)),
            other => {
                self.problem(
                    ctx,
                    format!(
                        "expected a size (300M, 1G, or bytes), found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    /// A string or a list of strings, each with its own field; a string is one item.
    pub fn items(&self, ctx: &mut Ctx) -> Option<Vec<(String, Field<'_>)>> {
        match &self.at.node {
            Node::Str(_) | Node::Int(_) | Node::Float(_) => {
                let text = self.at.node.scalar_text()?;
                Some(vec![(text, self.item("", self.at))])
            }
            Node::Seq(items) => {
                let mut out = Vec::new();
                for (i, it) in items.iter().enumerate() {
                    let f = self.item(&format!("[{i}]"), it);
                    match it.node.scalar_text() {
                        Some(t) if !matches!(it.node, Node::Null) => out.push((t, f)),
                        _ => f.problem(ctx, format!("expected a string, found {}", it.node.kind())),
                    }
                }
                Some(out)
            }
            other => {
                self.problem(
                    ctx,
                    format!(
                        "expected a string or a list of strings, found {}",
                        other.kind()
                    ),
                );
                None
            }
        }
    }

    /// A string or a list of strings (watch, ignore_watch).
    pub fn words(&self, ctx: &mut Ctx) -> Option<Vec<String>> {
        self.items(ctx)
            .map(|v| v.into_iter().map(|(t, _)| t).collect())
    }

    /// Arguments: a string split as a shell would, or a list of strings taken as they are.
    pub fn args(&self, ctx: &mut Ctx) -> Option<Vec<String>> {
        match &self.at.node {
            Node::Str(s) => self.valid(ctx, split_args(s)),
            _ => self.words(ctx),
        }
    }
}

/// A value as it was written, for "found …" in messages.
pub(crate) fn describe(n: &Node) -> String {
    match n {
        Node::Str(s) => format!("\"{s}\""),
        Node::Int(_) | Node::Float(_) | Node::Bool(_) => n.scalar_text().unwrap_or_default(),
        other => other.kind().to_string(),
    }
}

/// Splits an argument string as a POSIX shell does for words, quotes and backslashes (no
/// expansion, `#` starts a comment).
pub fn split_args(s: &str) -> Result<Vec<String>, String> {
    shlex::split(s).ok_or_else(|| {
        format!("`{s}` has an unclosed quote or ends with a backslash (arguments are split as a shell would)")
    })
}

/// A section's check of one field of a spec: its name before the bound's message.
pub(crate) fn bound<T>(field: &str, checked: Result<T, String>) -> Result<T, String> {
    checked.map_err(|e| format!("{field}: {e}"))
}
