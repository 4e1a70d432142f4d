//! Owns `svctl report`: the page an on-call engineer would otherwise write by hand after an
//! incident — what restarted, why, how memory went, what was deployed, and the commands to dig
//! further — as HTML (charts), Markdown (tables and sparklines) or JSON. It reads the database
//! directly and read-only, so it works while the daemon is down.
//!
//! Layout: `window` (the time window and its buckets), `gather` (the data, from SQL aggregates
//! and the `why` findings), `model` (the data as JSON), `chart` (plotters SVG), `html`,
//! `markdown`, `text` (escaping, sparklines).

mod chart;
mod gather;
mod html;
mod markdown;
pub mod model;
pub mod text;
pub mod window;

use crate::cli::args::{ReportArgs, ReportFormat};
use crate::cli::commands::history::{open, unknown_app};
use crate::cli::error::Failure;
use crate::cli::output;
use crate::paths::Paths;
use crate::store::report::Scope;
use std::path::Path;
use window::{Window, stamp};

/// The format `--format` names, else the one `-o FILE`'s extension names, else Markdown.
fn format_of(a: &ReportArgs) -> ReportFormat {
    if let Some(f) = a.format {
        return f;
    }
    let ext = a
        .output
        .as_deref()
        .and_then(Path::extension)
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => ReportFormat::Html,
        Some("json") => ReportFormat::Json,
        _ => ReportFormat::Md,
    }
}

pub fn report(paths: &Paths, a: &ReportArgs) -> Result<(), Failure> {
    let now = crate::store::now_ms();
    let w = Window::parse(a.since.as_deref(), a.until.as_deref(), now).map_err(Failure::usage)?;
    if let Some(t) = &a.target
        && t.contains(':')
    {
        return Err(Failure::usage(format!(
            "`{t}`: a report covers whole apps; name the app without an instance"
        )));
    }
    let Some(reader) = open(paths)? else {
        return Err(Failure::failed(format!(
            "no history yet: nothing has run in {}",
            paths.home.display()
        )));
    };
    let read_failed = |e: crate::store::StoreError| Failure::failed_by("reading the history", &e);
    let apps: Vec<String> = a.target.iter().cloned().collect();
    if let Some(name) = &a.target {
        let known = reader.apps_with_history().map_err(read_failed)?;
        if !known.contains(name) {
            return Err(unknown_app(&reader, name));
        }
    }
    let scope = Scope {
        apps: apps.clone(),
        since_ms: w.since_ms,
        until_ms: w.until_ms,
        bucket_ms: w.exit_bucket_ms(),
    };
    if !reader.window_has_data(&scope).map_err(read_failed)? {
        let of = a
            .target
            .as_deref()
            .map(|t| format!(" of `{t}`"))
            .unwrap_or_default();
        let span = reader
            .query_text(
                "SELECT min(started_at_ms), max(coalesce(ended_at_ms, started_at_ms)) FROM runs",
            )
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .and_then(|row| {
                Some((
                    row.first()?.parse::<i64>().ok()?,
                    row.get(1)?.parse::<i64>().ok()?,
                ))
            });
        let f = Failure::failed(format!(
            "no history{of} between {} and {}",
            stamp(w.since_ms),
            stamp(w.until_ms)
        ));
        return Err(match span {
            Some((from, to)) => f.hint(format!(
                "the history spans {} to {}: widen --since/--until",
                stamp(from),
                stamp(to)
            )),
            None => f,
        });
    }
    let db = paths.db.display().to_string();
    let data = gather::gather(&reader, &db, &apps, w, now).map_err(read_failed)?;
    let page = match format_of(a) {
        ReportFormat::Html => html::render(&data).map_err(Failure::failed)?,
        ReportFormat::Md => markdown::render(&data),
        ReportFormat::Json => serde_json::to_string_pretty(&data)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| Failure::failed_by("encoding JSON", &e))?,
    };
    match &a.output {
        Some(file) if file.as_os_str() != "-" => std::fs::write(file, page)
            .map_err(|e| Failure::failed_by(format_args!("writing {}", file.display()), &e)),
        _ => output::text(&page),
    }
}
