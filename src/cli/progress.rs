//! Owns the progress of long requests (start, stop, restart, reload, apply, delete of many
//! instances): while the request is under way, a second connection asks for `list` twice a
//! second and counts the instances the request names that got where it takes them. On a
//! terminal that is a bar on stderr (indicatif); elsewhere a plain line on stderr now and then;
//! stdout (and so `--json`) never carries it. Few instances get neither.

use crate::ipc::client::{Client, ClientError};
use crate::ipc::{ProcessInfo, Request, Response};
use crate::paths::Paths;
use crate::record::Status;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Fewer instances than this finish too fast for a bar to help.
const MIN_INSTANCES: usize = 4;
/// Plain lines (not a terminal) only for operations this large, so small scripts stay quiet.
const MIN_PLAIN: usize = 20;
const POLL: Duration = Duration::from_millis(500);
const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// Where a request takes the instances it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// A new run that settled (online, or failed for good).
    NewRun,
    /// No process left.
    Down,
    /// Gone from the list.
    Gone,
}

/// The instances a request names and where it takes them. Pure, so it is tested.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracker {
    pub verb: &'static str,
    pub goal: Goal,
    /// (name, instance) → run number before the request (0: not there yet).
    pub before: BTreeMap<(String, u32), u64>,
}

/// Whether `target` (as the daemon resolves it) names `p`.
fn names(target: &str, p: &ProcessInfo) -> bool {
    target == "all"
        || p.name == target
        || target.parse::<u32>().is_ok_and(|id| id == p.id)
        || target == format!("{}:{}", p.name, p.instance)
        || p.namespace == target
}

impl Tracker {
    /// For a request that acts on instances, given the list before it; `None` for others.
    pub fn of(req: &Request, now: &[ProcessInfo]) -> Option<Tracker> {
        let by_target = |t: &str| -> BTreeMap<(String, u32), u64> {
            now.iter()
                .filter(|p| names(t, p))
                .map(|p| ((p.name.clone(), p.instance), p.run))
                .collect()
        };
        let by_specs = |specs: &[crate::config::AppSpec]| -> BTreeMap<(String, u32), u64> {
            specs
                .iter()
                .flat_map(|s| (0..s.instances).map(move |i| (s.name.clone(), i)))
                .map(|k| {
                    let run = now
                        .iter()
                        .find(|p| p.name == k.0 && p.instance == k.1)
                        .map_or(0, |p| p.run);
                    (k, run)
                })
                .collect()
        };
        let (verb, goal, before) = match req {
            Request::Start { apps, .. } => ("start", Goal::NewRun, by_specs(apps)),
            Request::Apply { apps, .. } => ("apply", Goal::NewRun, by_specs(apps)),
            Request::Reload { apps, target, .. } if target.is_none() => {
                ("reload", Goal::NewRun, by_specs(apps))
            }
            Request::Reload {
                target: Some(t), ..
            } => ("reload", Goal::NewRun, by_target(t)),
            Request::StartTarget { target } => ("start", Goal::NewRun, by_target(target)),
            Request::Restart { target, .. } => ("restart", Goal::NewRun, by_target(target)),
            Request::Stop { target } => ("stop", Goal::Down, by_target(target)),
            Request::Delete { target } => ("delete", Goal::Gone, by_target(target)),
            _ => return None,
        };
        Some(Tracker { verb, goal, before })
    }

    pub fn total(&self) -> usize {
        self.before.len()
    }

    /// How many of the named instances got there, by this list.
    pub fn done(&self, now: &[ProcessInfo]) -> usize {
        let now: BTreeMap<(&str, u32), &ProcessInfo> = now
            .iter()
            .map(|p| ((p.name.as_str(), p.instance), p))
            .collect();
        let settled = |s: Status| !matches!(s, Status::Launching | Status::Stopping);
        self.before
            .iter()
            .filter(|((name, i), run)| {
                let p = now.get(&(name.as_str(), *i));
                match (self.goal, p) {
                    (Goal::Gone, p) => p.is_none(),
                    (Goal::Down, None) => true,
                    (Goal::Down, Some(p)) => !p.status.has_process(),
                    (Goal::NewRun, Some(p)) => p.run > **run && settled(p.status),
                    (Goal::NewRun, None) => false,
                }
            })
            .count()
    }
}

/// How progress is shown.
enum Shown {
    Bar(indicatif::ProgressBar),
    Plain { last: Instant, said: usize },
}

impl Shown {
    fn new(t: &Tracker) -> Option<Shown> {
        let total = t.total();
        if std::io::stderr().is_terminal() {
            if total < MIN_INSTANCES {
                return None;
            }
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} instances {elapsed}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(t.verb);
            Some(Shown::Bar(bar))
        } else if total >= MIN_PLAIN {
            eprintln!("[svctl] {}: {total} instances…", t.verb);
            Some(Shown::Plain {
                last: Instant::now(),
                said: 0,
            })
        } else {
            None
        }
    }

    fn set(&mut self, verb: &str, done: usize, total: usize) {
        match self {
            Shown::Bar(b) => b.set_position(done as u64),
            Shown::Plain { last, said } => {
                if done != *said && last.elapsed() >= PLAIN_EVERY {
                    eprintln!("[svctl] {verb}: {done}/{total}");
                    *last = Instant::now();
                    *said = done;
                }
            }
        }
    }

    fn finish(self) {
        if let Shown::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}

/// `client.request(req)`, with progress when the request acts on many instances.
pub async fn request(
    paths: &Paths,
    client: &mut Client,
    req: &Request,
) -> Result<Response, ClientError> {
    if Tracker::of(req, &[]).is_none() {
        return client.request(req).await;
    }
    let now = match client.list().await? {
        Response::List { processes, .. } => processes,
        _ => Vec::new(),
    };
    let Some(tracker) = Tracker::of(req, &now) else {
        return client.request(req).await;
    };
    let Some(mut shown) = Shown::new(&tracker) else {
        return client.request(req).await;
    };
    let total = tracker.total();
    let answer = {
        let act = client.request(req);
        tokio::pin!(act);
        let poll = async {
            let Ok(mut watcher) = Client::connect(paths).await else {
                return;
            };
            loop {
                tokio::time::sleep(POLL).await;
                match watcher.list().await {
                    Ok(Response::List { processes, .. }) => {
                        shown.set(tracker.verb, tracker.done(&processes), total)
                    }
                    _ => return,
                }
            }
        };
        tokio::select! {
            answer = &mut act => answer,
            () = poll => act.await,
        }
    };
    shown.finish();
    answer
}

#[cfg(test)]
mod tests;
