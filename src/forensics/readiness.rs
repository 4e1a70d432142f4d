//! Owns what `why` says about runs that never became ready (`not_ready`) and instances
//! restarted because their health check or watchdog failed (`unhealthy`), in the app's own
//! terms: which check, how many failures in a row, and the last error the exit row kept.

use super::{human_duration, median, plural, uptime};
use crate::config::AppSpec;
use crate::config::load::readiness::DEFAULT_LISTEN_TIMEOUT_MS;
use crate::config::probe::ProbeKind;
use crate::config::spec::DEFAULT_MIN_UPTIME_MS;
use crate::store::model::ExitRecord;

/// What `why` knows of an app's settings: from its stored spec, or the defaults when the app
/// was deleted (its history stays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub min_uptime_ms: u64,
    /// `wait_ready`: READY=1 on `$NOTIFY_SOCKET`.
    pub wait_ready: bool,
    pub ready_log_line: Option<String>,
    pub ready: Option<ProbeKind>,
    /// The readiness deadline in effect (`listen_timeout`, 3 s by default).
    pub listen_timeout_ms: u64,
    /// The health check and the consecutive failures that restart.
    pub health: Option<(ProbeKind, u32)>,
    pub watchdog_ms: Option<u64>,
}

impl Settings {
    /// Only `min_uptime` known (no readiness or health settings).
    pub fn new(min_uptime_ms: u64) -> Settings {
        Settings {
            min_uptime_ms,
            wait_ready: false,
            ready_log_line: None,
            ready: None,
            listen_timeout_ms: DEFAULT_LISTEN_TIMEOUT_MS,
            health: None,
            watchdog_ms: None,
        }
    }

    /// The settings of `spec`, or the defaults without one.
    pub fn of(spec: Option<&AppSpec>) -> Settings {
        let Some(s) = spec else {
            return Settings::new(DEFAULT_MIN_UPTIME_MS);
        };
        Settings {
            min_uptime_ms: s.min_uptime_ms,
            wait_ready: s.wait_ready,
            ready_log_line: s.ready_log_line.clone(),
            ready: s.ready.as_ref().map(|p| p.kind.clone()),
            listen_timeout_ms: s.listen_timeout_ms.unwrap_or(DEFAULT_LISTEN_TIMEOUT_MS),
            health: s.health.as_ref().map(|p| (p.kind.clone(), p.failures)),
            watchdog_ms: s.watchdog_ms,
        }
    }
}

/// A probe as a finding names it: the path of an HTTP URL (`/health`), `tcp HOST:PORT`, or the
/// command.
fn probe_name(kind: &ProbeKind) -> String {
    match kind {
        ProbeKind::Http(url) => {
            let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
            match rest.find('/') {
                Some(i) if rest.len() > i + 1 => format!("GET {}", &rest[i..]),
                _ => format!("GET {url}"),
            }
        }
        ProbeKind::Tcp(target) => format!("tcp {target}"),
        ProbeKind::Exec(command) => format!("`{command}`"),
    }
}

/// The newest `error` of these exits (the last probe error the daemon kept).
fn last_error(exits: &[&ExitRecord]) -> Option<String> {
    exits
        .iter()
        .rev()
        .find_map(|e| e.error.clone().filter(|t| !t.trim().is_empty()))
}

/// "restarted 4 times as unhealthy: GET /health failed 3 times in a row — last: GET
/// http://127.0.0.1:8000/health: timed out after 1 s". `exits` oldest first.
pub(super) fn unhealthy(exits: &[&ExitRecord], s: &Settings) -> String {
    let n = exits.len();
    let what = match (&s.health, s.watchdog_ms) {
        (Some((kind, failures)), None) => format!(
            "{} failed {failures} time{} in a row",
            probe_name(kind),
            plural(*failures as usize)
        ),
        (None, Some(wd)) => format!(
            "no WATCHDOG=1 came within {} (watchdog)",
            human_duration(wd)
        ),
        (Some((kind, failures)), Some(wd)) => format!(
            "{} failed {failures} time{} in a row, or no WATCHDOG=1 came within {} (watchdog)",
            probe_name(kind),
            plural(*failures as usize),
            human_duration(wd)
        ),
        (None, None) => "its health check failed in a row, or it missed its watchdog".to_string(),
    };
    let last = last_error(exits)
        .map(|e| format!(" — last: {e}"))
        .unwrap_or_default();
    let typical = median(exits.iter().map(|e| uptime(e)).collect());
    format!(
        "restarted {n} time{} as unhealthy: {what}{last} (typically after {} up); the process was alive but not answering, so it never exited by itself",
        plural(n),
        human_duration(typical)
    )
}

/// "5 runs never became ready within listen_timeout (3.0 s): GET /ready never passed — last:
/// GET http://127.0.0.1:8000/ready: connection refused". `exits` oldest first.
pub(super) fn not_ready(exits: &[&ExitRecord], s: &Settings) -> String {
    let n = exits.len();
    let mut waited = Vec::new();
    if s.wait_ready {
        waited.push("READY=1 never came on $NOTIFY_SOCKET (wait_ready)".to_string());
    }
    if let Some(re) = &s.ready_log_line {
        waited.push(format!("no output line matched `{re}` (ready_log_line)"));
    }
    if let Some(kind) = &s.ready {
        waited.push(format!("{} never passed (ready)", probe_name(kind)));
    }
    let waited = if waited.is_empty() {
        String::new()
    } else {
        format!(": {}", waited.join(", "))
    };
    let last = last_error(exits)
        .map(|e| format!(" — last: {e}"))
        .unwrap_or_default();
    let verb = if n == 1 {
        "run never became"
    } else {
        "runs never became"
    };
    format!(
        "{n} {verb} ready within listen_timeout ({}){waited}{last}; each counts as an unstable exit",
        human_duration(s.listen_timeout_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::exit;
    use super::super::*;
    use crate::config::probe::{Probe, ProbeKind};

    fn failed(run: u64, cause: Cause, error: &str) -> ExitRecord {
        let mut e = exit(run, cause, run as i64 * 60_000, 30_000);
        e.error = Some(error.to_string());
        e.stderr_tail = None;
        e
    }

    fn spec() -> crate::config::AppSpec {
        let mut s = crate::config::AppSpec::with_defaults("api", "gunicorn", "/".into());
        s.health = Some(Probe {
            kind: ProbeKind::Http("http://127.0.0.1:8000/health".into()),
            interval_ms: 10_000,
            timeout_ms: 1000,
            initial_delay_ms: 0,
            failures: 3,
        });
        s.ready = Some(Probe {
            kind: ProbeKind::Tcp("127.0.0.1:8000".into()),
            interval_ms: 500,
            timeout_ms: 1000,
            initial_delay_ms: 0,
            failures: 3,
        });
        s.listen_timeout_ms = Some(5000);
        s
    }

    #[test]
    fn unhealthy_restarts_are_reported_with_the_last_probe_error() {
        let exits: Vec<ExitRecord> = (1..=4)
            .map(|r| {
                failed(
                    r,
                    Cause::Unhealthy,
                    &format!("GET http://127.0.0.1:8000/health: timed out after {r} s"),
                )
            })
            .collect();
        let r = analyse("api", 0, &exits, &[], &Settings::of(Some(&spec())));
        assert!(
            r.findings.iter().any(|f| f.starts_with(
                "restarted 4 times as unhealthy: GET /health failed 3 times in a row — last: \
                 GET http://127.0.0.1:8000/health: timed out after 4 s"
            )),
            "{:?}",
            r.findings
        );
        // Asked for by svctl, like a memory limit: reported, but not the dominant crash.
        assert_eq!(r.dominant_crash, None);
        assert!(!r.findings.iter().any(|f| f.contains("crash loop")));
        assert!(!r.findings.iter().any(|f| f.contains("were asked for")));
    }

    #[test]
    fn a_missed_watchdog_and_an_unknown_spec_are_named() {
        let mut e = failed(1, Cause::Unhealthy, "");
        e.error = None;
        let mut s = Settings::new(1000);
        s.watchdog_ms = Some(30_000);
        let r = analyse("api", 0, std::slice::from_ref(&e), &[], &s);
        assert!(
            r.findings[0]
                .starts_with("restarted 1 time as unhealthy: no WATCHDOG=1 came within 30.0 s"),
            "{:?}",
            r.findings
        );
        let r = analyse("api", 0, &[e], &[], &Settings::new(1000));
        assert!(
            r.findings[0].contains("its health check failed in a row, or it missed its watchdog"),
            "{:?}",
            r.findings
        );
    }

    #[test]
    fn runs_that_never_became_ready_are_a_finding_and_a_crash() {
        let mut exits: Vec<ExitRecord> = (1..=5)
            .map(|r| {
                let mut e = failed(r, Cause::NotReady, "tcp 127.0.0.1:8000: connection refused");
                e.unstable = true;
                e
            })
            .collect();
        exits[4].next_delay_ms = Some(0);
        let mut s = Settings::of(Some(&spec()));
        s.wait_ready = true;
        let r = analyse("api", 0, &exits, &[], &s);
        let f = r.findings.join("\n");
        assert!(
            f.contains(
                "5 runs never became ready within listen_timeout (5.0 s): READY=1 never came on \
                 $NOTIFY_SOCKET (wait_ready), tcp 127.0.0.1:8000 never passed (ready) — last: \
                 tcp 127.0.0.1:8000: connection refused; each counts as an unstable exit"
            ),
            "{f}"
        );
        assert_eq!(r.dominant_crash, Some(Cause::NotReady));
        let mut one = exits[0].clone();
        one.error = None;
        let r = analyse("api", 0, &[one], &[], &Settings::new(1000));
        assert!(
            r.findings.iter().any(|f| f.starts_with(
                "1 run never became ready within listen_timeout (3.0 s); each counts"
            )),
            "{:?}",
            r.findings
        );
    }

    #[test]
    fn reloads_are_requested_restarts_not_crashes() {
        let exits = vec![
            exit(1, Cause::Reload, 0, 100_000),
            exit(2, Cause::Reload, 200_000, 100_000),
            exit(3, Cause::Restarted, 400_000, 100_000),
        ];
        let r = analyse("api", 0, &exits, &[], &Settings::new(1000));
        assert_eq!(r.dominant_crash, None);
        assert_eq!(r.stderr_tail, None);
        assert!(
            r.findings.iter().any(|f| f
                == "3 restarts were asked for (restart or reload command, cron or watch), not crashes"),
            "{:?}",
            r.findings
        );
        assert!(!r.findings.iter().any(|f| f.contains("no restart followed")));
    }

    #[test]
    fn probes_are_named_briefly() {
        use super::probe_name;
        assert_eq!(
            probe_name(&ProbeKind::Http("http://h:1/health?x=1".into())),
            "GET /health?x=1"
        );
        assert_eq!(
            probe_name(&ProbeKind::Http("http://h:1/".into())),
            "GET http://h:1/"
        );
        assert_eq!(probe_name(&ProbeKind::Tcp("h:1".into())), "tcp h:1");
        assert_eq!(probe_name(&ProbeKind::Exec("true".into())), "`true`");
    }
}
