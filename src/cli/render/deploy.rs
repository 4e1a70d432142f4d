//! Owns the human output of deployments: a plan (what `apply` will do) and the table of
//! `svctl deployments`.

use super::duration_short;
use super::history::local_time;
use crate::deploy::{Action, Plan, describe_field, describe_how};
use crate::store::Deployment;
use comfy_table::{Table, presets};

/// The plan, one app a line with its field diffs under it.
pub fn plan_text(plan: &Plan, source: &str) -> String {
    let mut out = format!("plan for {source}: {}\n", plan.summary());
    let width = plan.apps.iter().map(|a| a.name.len()).max().unwrap_or(0);
    for a in &plan.apps {
        let (mark, what) = match &a.action {
            Action::Add { instances } => ("+", format!("add ({instances} instance(s))")),
            Action::Change { how, .. } => ("~", format!("change: {}", describe_how(how))),
            Action::Unchanged => ("=", "unchanged (not touched)".to_string()),
            Action::Extra { removed: false } => (
                "?",
                "not in the file: kept (`--prune` stops and deletes it)".to_string(),
            ),
            Action::Extra { removed: true } => {
                ("-", "not in the file: stop and delete".to_string())
            }
        };
        out.push_str(&format!("  {mark} {:width$}  {what}\n", a.name));
        if let Action::Change { fields, .. } = &a.action {
            for f in fields {
                out.push_str(&format!("      {}\n", describe_field(f)));
            }
        }
    }
    out
}

/// `+web ~api(env.DB_URL, script) -old`: what a deployment did, in one cell.
pub fn changes(plan: &Plan) -> String {
    let mut parts = Vec::new();
    for a in &plan.apps {
        match &a.action {
            Action::Add { .. } => parts.push(format!("+{}", a.name)),
            Action::Change { fields, .. } if fields.is_empty() => {
                parts.push(format!("~{}", a.name));
            }
            Action::Change { fields, .. } => {
                let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
                parts.push(format!("~{}({})", a.name, names.join(", ")));
            }
            Action::Extra { removed: true } => parts.push(format!("-{}", a.name)),
            _ => {}
        }
    }
    if parts.is_empty() {
        "(none)".to_string()
    } else {
        parts.join(" ")
    }
}

/// The table of `svctl deployments`.
pub fn deployments_table(rows: &[Deployment]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.force_no_tty();
    t.set_header(vec![
        "id", "started", "kind", "result", "took", "uid", "file", "sha256", "env", "changes",
    ]);
    for d in rows {
        let kind = match d.rollback_of {
            Some(of) => format!("{} of #{of}", d.kind),
            None => d.kind.clone(),
        };
        t.add_row(vec![
            format!("#{}", d.id),
            local_time(d.started_at_ms),
            kind,
            d.result.clone().unwrap_or_else(|| "-".into()),
            d.duration_ms
                .map_or_else(|| "-".into(), |ms| duration_short(ms as u64)),
            d.uid.map_or_else(|| "-".into(), |u| u.to_string()),
            d.file.clone().unwrap_or_else(|| "-".into()),
            d.sha256
                .as_deref()
                .map_or_else(|| "-".into(), |s| s.chars().take(12).collect()),
            d.env.clone().unwrap_or_else(|| "-".into()),
            changes(&d.plan),
        ]);
    }
    t
}
