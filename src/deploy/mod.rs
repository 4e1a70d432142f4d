//! Owns deployments as records, purely: the plan that turns what the daemon runs into what an
//! ecosystem file says (per app: add, change with a field-by-field diff, unchanged, or not in
//! the file), and the facts a deployment row carries. No I/O: the daemon computes the plan from
//! its running specs and carries it out; the CLI prints it.

mod sha256;
#[cfg(test)]
mod tests;

use crate::config::AppSpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;

pub use sha256::sha256_hex;

/// What made a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployKind {
    Apply,
    Rollback,
    Start,
    Reload,
}

impl DeployKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployKind::Apply => "apply",
            DeployKind::Rollback => "rollback",
            DeployKind::Start => "start",
            DeployKind::Reload => "reload",
        }
    }
}

/// Who deployed what, sent by the CLI with `apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentMeta {
    /// The ecosystem file (absolute when known).
    #[serde(default)]
    pub file: Option<String>,
    /// SHA-256 of the file's bytes, hex.
    #[serde(default)]
    pub sha256: Option<String>,
    /// `--env NAME`.
    #[serde(default)]
    pub env: Option<String>,
    pub uid: u32,
    pub kind: DeployKind,
    /// For a rollback: the deployment whose specs are applied again.
    #[serde(default)]
    pub rollback_of: Option<u64>,
}

/// An app the daemon knows, as the plan sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    pub spec: AppSpec,
    pub should_run: bool,
    /// The last rollout that gave it this spec failed: some instances may still run the one
    /// before.
    pub stale: bool,
}

/// One field that differs. Values are compact JSON; secret env values are `***`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDiff {
    /// `script`, `instances`, `env.DB_URL`…
    pub field: String,
    /// `None`: the field (or env key) is not set before.
    pub before: Option<String>,
    /// `None`: the field (or env key) is removed.
    pub after: Option<String>,
}

/// How a changed app is brought to its new spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum How {
    /// The rolling reload replaces each instance.
    Reload,
    /// The instance count changes: instances at or above `to` are deleted (when it shrinks),
    /// new ones start, the others are reloaded.
    Scale { from: u32, to: u32 },
    /// The app is known but stopped: it is started with the file's spec.
    Start,
    /// The app is stopped and `autostart: false`: its spec is replaced, it stays stopped.
    Store,
    /// The spec is the same, but the rollout that gave it failed: the rolling reload is tried
    /// again.
    Retry,
}

/// What happens to one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Add {
        instances: u32,
    },
    Change {
        fields: Vec<FieldDiff>,
        how: How,
    },
    Unchanged,
    /// Running, not in the file: kept, or (with `--prune`) stopped and deleted.
    Extra {
        removed: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppPlan {
    pub name: String,
    #[serde(flatten)]
    pub action: Action,
}

/// The apps of the file in its order, then the extras in the daemon's order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub apps: Vec<AppPlan>,
}

impl Plan {
    /// Whether carrying it out touches anything.
    pub fn is_noop(&self) -> bool {
        self.apps.iter().all(|a| {
            matches!(
                a.action,
                Action::Unchanged | Action::Extra { removed: false }
            )
        })
    }

    pub fn of(&self, name: &str) -> Option<&Action> {
        self.apps.iter().find(|a| a.name == name).map(|a| &a.action)
    }

    /// The apps that get a new spec (added or changed).
    pub fn touched(&self) -> impl Iterator<Item = &str> {
        self.apps
            .iter()
            .filter(|a| matches!(a.action, Action::Add { .. } | Action::Change { .. }))
            .map(|a| a.name.as_str())
    }

    /// The apps removed (`--prune`).
    pub fn removed(&self) -> impl Iterator<Item = &str> {
        self.apps
            .iter()
            .filter(|a| matches!(a.action, Action::Extra { removed: true }))
            .map(|a| a.name.as_str())
    }

    /// `3 to add, 1 to change, 2 unchanged, 1 to remove`.
    pub fn summary(&self) -> String {
        let count = |f: fn(&Action) -> bool| self.apps.iter().filter(|a| f(&a.action)).count();
        let add = count(|a| matches!(a, Action::Add { .. }));
        let change = count(|a| matches!(a, Action::Change { .. }));
        let same = count(|a| matches!(a, Action::Unchanged));
        let kept = count(|a| matches!(a, Action::Extra { removed: false }));
        let removed = count(|a| matches!(a, Action::Extra { removed: true }));
        let mut parts = vec![
            format!("{add} to add"),
            format!("{change} to change"),
            format!("{same} unchanged"),
        ];
        if removed > 0 {
            parts.push(format!("{removed} to remove"));
        }
        if kept > 0 {
            parts.push(format!("{kept} not in the file (kept)"));
        }
        parts.join(", ")
    }
}

/// Fields a plan never compares: the caller's environment (every shell differs) and where the
/// spec was read from.
const IGNORED: &[&str] = &["base_env", "source"];

/// Whether an env key names a secret: its value is never shown.
pub fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    [
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "KEY",
        "CREDENTIAL",
        "PRIVATE",
    ]
    .iter()
    .any(|w| k.contains(w))
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The fields that differ between two specs of one app, sorted by name.
pub fn diff(before: &AppSpec, after: &AppSpec) -> Vec<FieldDiff> {
    let (Ok(Value::Object(b)), Ok(Value::Object(a))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return Vec::new();
    };
    // Fields in the alphabet's order (serde_json's maps are sorted), env keys likewise.
    let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        if IGNORED.contains(&key.as_str()) {
            continue;
        }
        let (bv, av) = (b.get(key), a.get(key));
        if bv == av {
            continue;
        }
        match (bv, av) {
            (Some(Value::Object(bm)), Some(Value::Object(am))) => {
                let inner: BTreeSet<&String> = bm.keys().chain(am.keys()).collect();
                for k in inner {
                    let (x, y) = (bm.get(k), am.get(k));
                    if x == y {
                        continue;
                    }
                    let show = |v: Option<&Value>| {
                        v.map(|v| {
                            if is_secret(k) {
                                "***".to_string()
                            } else {
                                compact(v)
                            }
                        })
                    };
                    out.push(FieldDiff {
                        field: format!("{key}.{k}"),
                        before: show(x),
                        after: show(y),
                    });
                }
            }
            _ => out.push(FieldDiff {
                field: key.clone(),
                before: bv.filter(|v| !v.is_null()).map(compact),
                after: av.filter(|v| !v.is_null()).map(compact),
            }),
        }
    }
    out
}

/// Compares the file with what runs. Nothing is touched: the daemon carries the plan out.
pub fn plan(running: &[Running], file: &[AppSpec], prune: bool) -> Plan {
    let mut apps = Vec::new();
    for spec in file {
        let action = match running.iter().find(|r| r.spec.name == spec.name) {
            None => Action::Add {
                instances: spec.instances,
            },
            Some(r) => {
                let fields = diff(&r.spec, spec);
                let (from, to) = (r.spec.instances, spec.instances);
                if !r.should_run && spec.autostart {
                    Action::Change {
                        fields,
                        how: How::Start,
                    }
                } else if fields.is_empty() && r.stale && r.should_run {
                    Action::Change {
                        fields,
                        how: How::Retry,
                    }
                } else if fields.is_empty() {
                    Action::Unchanged
                } else if !r.should_run {
                    Action::Change {
                        fields,
                        how: How::Store,
                    }
                } else if from != to {
                    Action::Change {
                        fields,
                        how: How::Scale { from, to },
                    }
                } else {
                    Action::Change {
                        fields,
                        how: How::Reload,
                    }
                }
            }
        };
        apps.push(AppPlan {
            name: spec.name.clone(),
            action,
        });
    }
    for r in running {
        if !file.iter().any(|s| s.name == r.spec.name) {
            apps.push(AppPlan {
                name: r.spec.name.clone(),
                action: Action::Extra { removed: prune },
            });
        }
    }
    Plan { apps }
}

/// A field diff as one line: `env.DB_URL: a → b`, `+ env.NEW: x`, `- args`.
pub fn describe_field(d: &FieldDiff) -> String {
    match (&d.before, &d.after) {
        (Some(b), Some(a)) if b == a => format!("{}: {b} (changed)", d.field),
        (Some(b), Some(a)) => format!("{}: {b} → {a}", d.field),
        (None, Some(a)) => format!("{}: (unset) → {a}", d.field),
        (Some(b), None) => format!("{}: {b} → (unset)", d.field),
        (None, None) => format!("{}: changed", d.field),
    }
}

/// What `how` means in a sentence.
pub fn describe_how(how: &How) -> String {
    match how {
        How::Reload => "rolling reload".to_string(),
        How::Start => "start (it is stopped)".to_string(),
        How::Store => "new settings; it stays stopped (autostart: false)".to_string(),
        How::Retry => {
            "same settings, but the deployment that set them failed: rolling reload again"
                .to_string()
        }
        How::Scale { from, to } if to < from => {
            let gone: Vec<String> = (*to..*from).map(|i| i.to_string()).collect();
            format!(
                "scale {from} → {to}: instance(s) {} deleted, the rest reloaded",
                gone.join(", ")
            )
        }
        How::Scale { from, to } => {
            format!("scale {from} → {to}: new instances start, the others are reloaded")
        }
    }
}
