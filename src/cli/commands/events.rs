//! Owns `events` (the daemon's lifecycle events, then with `--follow` each as it happens) and
//! `metrics` (the Prometheus text, printed once).

use super::{answer_error, connect_reading};
use crate::cli::args::EventsArgs;
use crate::cli::error::Failure;
use crate::cli::output::{self, Out};
use crate::ipc::{EventKind, LifecycleEvent, Request, Response};
use crate::paths::Paths;

/// `events`: only reads, so it never starts a daemon.
pub async fn events(paths: &Paths, a: &EventsArgs) -> Result<(), Failure> {
    let mut client = connect_reading(paths).await?;
    let req = Request::Events {
        target: a.target.clone(),
        follow: a.follow,
    };
    let first = client.request(&req).await?;
    print_frame(first, a.json)?;
    if !a.follow {
        return Ok(());
    }
    let mut reader_gone = super::logs::stdout_reader_gone();
    loop {
        tokio::select! {
            next = client.next() => match next? {
                Some(frame) => print_frame(frame, a.json)?,
                None => return Ok(()),
            },
            Ok(()) = &mut reader_gone => return Ok(()),
        }
    }
}

fn print_frame(frame: Response, json: bool) -> Result<(), Failure> {
    let Response::Events { events, dropped } = frame else {
        return answer_error(frame);
    };
    let mut out = Out::lock();
    if dropped > 0 {
        if json {
            out.line(serde_json::json!({ "dropped": dropped }))?;
        } else {
            out.line(format_args!(
                "[svctl] {dropped} events skipped: this reader was too slow"
            ))?;
        }
    }
    for ev in &events {
        if json {
            let text =
                serde_json::to_string(ev).map_err(|e| Failure::failed_by("encoding JSON", &e))?;
            out.line(text)?;
        } else {
            out.line(human(ev))?;
        }
    }
    out.flush()
}

/// One line: local time, who, what, and the details that apply.
pub fn human(ev: &LifecycleEvent) -> String {
    let when = chrono::DateTime::from_timestamp_millis(ev.at_ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S%.3f")
                .to_string()
        })
        .unwrap_or_default();
    let who = if ev.event == EventKind::Deployment {
        "deployment".to_string()
    } else {
        format!("{}:{}", ev.app, ev.instance)
    };
    let mut line = format!("{when}  {who}  {}", ev.event.as_str());
    if let Some(c) = ev.cause {
        line += &format!(" cause={c}");
    }
    if let Some(c) = ev.exit_code {
        line += &format!(" code={c}");
    }
    if let Some(s) = &ev.signal {
        line += &format!(" signal={s}");
    }
    if let Some(d) = ev.delay_ms {
        line += &format!(" in {d} ms");
    }
    if let Some(p) = ev.pid
        && matches!(ev.event, EventKind::Spawn | EventKind::Exit)
    {
        line += &format!(" pid={p}");
    }
    if ev.event != EventKind::Deployment {
        line += &format!(" run={} restarts={}", ev.run, ev.restarts);
    }
    if let Some(m) = &ev.message {
        line += &format!(": {m}");
    }
    line
}

/// `metrics`: only reads, so it never starts a daemon.
pub async fn metrics(paths: &Paths) -> Result<(), Failure> {
    let mut client = connect_reading(paths).await?;
    match client.request(&Request::Metrics).await? {
        Response::Metrics { text } => output::text(&text),
        other => answer_error(other),
    }
}
