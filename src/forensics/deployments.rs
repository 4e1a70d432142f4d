//! Relates an app's crashes to the deployments that changed it: "9 of 11 crashes came within
//! 2 min after deployment #14, which changed `script` and `env.DB_URL`". Pure: the CLI reads the
//! deployments of the window and passes them in.

use super::crash_loop::is_failure;
use super::human_duration;
use crate::deploy::Action;
use crate::store::Deployment;
use crate::store::model::ExitRecord;

/// Crashes that start this soon after a deployment are laid at its door.
pub const DEPLOY_WINDOW_MS: i64 = 120_000;

/// A deployment that changed one app, as `why` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployFact {
    pub id: u64,
    pub at_ms: i64,
    pub kind: String,
    /// The fields it changed (`script`, `env.DB_URL`); empty when it added the app.
    pub changed: Vec<String>,
    pub added: bool,
}

impl DeployFact {
    /// What `d` did to `app`, when it added or changed it.
    pub fn of(d: &Deployment, app: &str) -> Option<DeployFact> {
        let action = &d.plan.apps.iter().find(|a| a.name == app)?.action;
        let (changed, added) = match action {
            Action::Add { .. } => (Vec::new(), true),
            Action::Change { fields, .. } => {
                (fields.iter().map(|f| f.field.clone()).collect(), false)
            }
            _ => return None,
        };
        Some(DeployFact {
            id: d.id,
            at_ms: d.started_at_ms,
            kind: d.kind.clone(),
            changed,
            added,
        })
    }
}

fn quoted_list(fields: &[String]) -> String {
    let q: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        n => format!("{} and {}", q[..n - 1].join(", "), q[n - 1]),
    }
}

/// The deployment most of the crashes followed: the one after which the most crashes came
/// (before the next deployment of the app), the first of them within [`DEPLOY_WINDOW_MS`].
/// At least two crashes, and more than half of them, or no finding.
pub fn deployment_finding(
    app: &str,
    exits: &[ExitRecord],
    deploys: &[DeployFact],
) -> Option<String> {
    let crashes: Vec<&ExitRecord> = exits
        .iter()
        .filter(|e| is_failure(e.cause, e.exit_code))
        .collect();
    let total = crashes.len();
    let mut deploys: Vec<&DeployFact> = deploys.iter().collect();
    deploys.sort_by_key(|d| d.at_ms);
    let mut best: Option<(&DeployFact, usize, i64)> = None;
    for (i, d) in deploys.iter().enumerate() {
        let until = deploys.get(i + 1).map_or(i64::MAX, |n| n.at_ms);
        let after: Vec<i64> = crashes
            .iter()
            .map(|e| e.started_at_ms)
            .filter(|t| *t >= d.at_ms && *t < until)
            .collect();
        let Some(first) = after.iter().min().copied() else {
            continue;
        };
        if first - d.at_ms > DEPLOY_WINDOW_MS {
            continue;
        }
        if best.is_none_or(|(_, n, _)| after.len() > n) {
            best = Some((d, after.len(), first - d.at_ms));
        }
    }
    let (d, n, first) = best?;
    if n < 2 || n * 2 <= total {
        return None;
    }
    let what = if d.added {
        "which added the app".to_string()
    } else if d.changed.is_empty() {
        "which restarted it without changing its spec".to_string()
    } else {
        format!("which changed {}", quoted_list(&d.changed))
    };
    Some(format!(
        "{n} of {total} crashes began after deployment #{} ({}), the first {} after it, {what}: `svctl rollback {app}` applies the spec before it again",
        d.id,
        d.kind,
        human_duration(first.max(0) as u64)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Cause;

    fn crash(started: i64) -> ExitRecord {
        ExitRecord {
            pid: Some(1),
            unstable: true,
            ..ExitRecord::sample("api", 1, Cause::Exited, started + 500, 500)
        }
    }

    fn dep(id: u64, at_ms: i64, changed: &[&str]) -> DeployFact {
        DeployFact {
            id,
            at_ms,
            kind: "apply".into(),
            changed: changed.iter().map(|s| s.to_string()).collect(),
            added: false,
        }
    }

    #[test]
    fn crashes_after_a_deployment_name_it_and_its_fields() {
        let mut exits: Vec<ExitRecord> = (0..9)
            .map(|i| crash(1_000_000 + 20_000 + i * 5_000))
            .collect();
        exits.push(crash(100_000));
        exits.push(crash(200_000));
        let deploys = [
            dep(13, 50_000, &["args"]),
            dep(14, 1_000_000, &["script", "env.DB_URL"]),
        ];
        let f = deployment_finding("api", &exits, &deploys).expect("a finding");
        assert!(
            f.starts_with("9 of 11 crashes began after deployment #14 (apply), the first 20.0 s after it, which changed `script` and `env.DB_URL`"),
            "{f}"
        );
    }

    #[test]
    fn no_finding_when_crashes_started_long_after_or_were_few() {
        let exits: Vec<ExitRecord> = (0..5).map(|i| crash(1_000_000 + 600_000 + i)).collect();
        assert_eq!(
            deployment_finding("api", &exits, &[dep(1, 1_000_000, &["args"])]),
            None
        );
        assert_eq!(
            deployment_finding("api", &[crash(1_000_100)], &[dep(1, 1_000_000, &["args"])]),
            None
        );
        assert_eq!(deployment_finding("api", &exits, &[]), None);
        let mut ok = crash(1_000_100);
        ok.exit_code = Some(0);
        assert_eq!(
            deployment_finding("api", &[ok.clone(), ok], &[dep(1, 1_000_000, &[])]),
            None
        );
    }
}
