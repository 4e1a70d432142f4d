//! Owns the HTML form of a report: one self-contained page (inline CSS, inline SVG charts, no
//! script, nothing fetched) that reads on screen, in print, and in a dark color scheme.

use super::chart;
use super::model::{AppReport, DeploymentMark, Report, cause_color};
use super::text::{bytes, html as esc};
use super::window::{stamp, step_name};
use crate::forensics::human_duration;
use std::fmt::Write;

const STYLE: &str = "
:root { --fg: #1b1b1b; --muted: #5f5f5f; --bg: #ffffff; --line: #d0d0d0; --code: #f4f4f4; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e6e6; --muted: #a8a8a8; --bg: #161616; --line: #3c3c3c; --code: #232323; }
}
html { background: var(--bg); color: var(--fg); }
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; max-width: 900px;
       margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6em; margin-bottom: 0; }
h2 { border-bottom: 1px solid var(--line); padding-bottom: 4px; margin-top: 2em; }
.muted { color: var(--muted); }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left;
         vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
pre, code { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; font-size: 13px; }
pre { background: var(--code); padding: 8px 10px; overflow-x: auto; white-space: pre-wrap;
      word-break: break-all; border-radius: 4px; }
.chart svg { width: 100%; height: auto; display: block; }
.chart svg text { fill: var(--fg); }
.legend { font-size: 13px; color: var(--muted); margin: 2px 0 0; }
.legend span + span { margin-left: 12px; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; border-radius: 2px; }
.app { break-before: auto; }
@media print {
  :root { --fg: #000; --muted: #444; --bg: #fff; --line: #bbb; --code: #f4f4f4; }
  body { max-width: none; padding: 0; font-size: 11pt; }
  .app, .chart, table, pre { break-inside: avoid; }
  h2 { break-after: avoid; }
}
";

/// The whole page.
pub fn render(r: &Report) -> Result<String, String> {
    let mut o = String::new();
    let title = format!(
        "svctl incident report: {} to {}",
        stamp(r.since_ms),
        stamp(r.until_ms)
    );
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n<title>{}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<h1>Incident report</h1>\n\
         <p class=\"muted\">{} → {} · {} app{} · generated {} from <code>{}</code></p>\n",
        esc(&title),
        esc(&stamp(r.since_ms)),
        esc(&stamp(r.until_ms)),
        r.apps.len(),
        if r.apps.len() == 1 { "" } else { "s" },
        esc(&stamp(r.generated_at_ms)),
        esc(&r.database),
    );
    summary(&mut o, r);
    for app in &r.apps {
        app_section(&mut o, r, app)?;
    }
    o.push_str("</body>\n</html>\n");
    Ok(o)
}

fn summary(o: &mut String, r: &Report) {
    let s = &r.summary;
    o.push_str("<h2 id=\"summary\">Summary</h2>\n");
    if s.restarts.is_empty() {
        o.push_str("<p>No exits in this window.</p>\n");
    } else {
        o.push_str(
            "<table><thead><tr><th>App</th><th class=\"n\">Exits</th><th>By cause</th></tr></thead><tbody>\n",
        );
        for a in &s.restarts {
            let causes: Vec<String> = a
                .by_cause
                .iter()
                .map(|(c, n)| format!("{} {n}", swatch(*c)))
                .collect();
            let _ = writeln!(
                o,
                "<tr><td><a href=\"#app-{}\">{}</a></td><td class=\"n\">{}</td><td>{}</td></tr>",
                anchor(&a.app),
                esc(&a.app),
                a.exits,
                causes.join(" · ")
            );
        }
        o.push_str("</tbody></table>\n");
    }
    o.push_str("<ul>\n");
    let _ = writeln!(o, "<li>Kernel OOM kills: <b>{}</b></li>", s.oom_kills);
    let _ = writeln!(
        o,
        "<li>Memory-limit restarts (<code>max_memory_restart</code>): <b>{}</b></li>",
        s.memory_limit_restarts
    );
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter().map(|x| esc(x)).collect::<Vec<_>>().join(", ")
        }
    };
    let _ = writeln!(o, "<li>Errored now: {}</li>", list(&s.errored_now));
    let looping: Vec<String> = s
        .crash_looping_now
        .iter()
        .map(|l| format!("{}:{} ({})", l.app, l.instance, l.description))
        .collect();
    let _ = writeln!(o, "<li>Crash-looping now: {}</li>", list(&looping));
    let lost = match s.output_lost {
        Some(n) => bytes(n),
        None => "not recorded in the history (the running daemon counts it: <code>svctl describe APP</code>)".into(),
    };
    let _ = writeln!(o, "<li>Output lost: {lost}</li>");
    let _ = writeln!(o, "<li>Deployments: {}</li>", s.deployments.len());
    o.push_str("</ul>\n");
    deployments_table(o, &s.deployments);
}

fn deployments_table(o: &mut String, ds: &[DeploymentMark]) {
    if ds.is_empty() {
        return;
    }
    o.push_str("<table><thead><tr><th>#</th><th>When</th><th>Kind</th><th>Result</th><th>Apps</th><th>File</th></tr></thead><tbody>\n");
    for d in ds {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            d.id,
            esc(&stamp(d.at_ms)),
            esc(&d.kind),
            esc(d.result.as_deref().unwrap_or("running")),
            esc(&d.apps.join(", ")),
            esc(d.file.as_deref().unwrap_or(""))
        );
    }
    o.push_str("</tbody></table>\n");
}

fn swatch(c: crate::record::Cause) -> String {
    let (r, g, b) = cause_color(c);
    key(&format!("rgb({r},{g},{b})"), c.as_str())
}

/// A legend entry: a colored square and its (escaped) name.
fn key(color: &str, name: &str) -> String {
    format!(
        "<i class=\"swatch\" style=\"background: {color}\"></i>{}",
        esc(name)
    )
}

fn spans(keys: &[String]) -> String {
    keys.iter().map(|k| format!("<span>{k}</span>")).collect()
}

/// The legend of the time axis's markers an app has.
fn markers_legend(a: &AppReport) -> Vec<String> {
    let mut out = Vec::new();
    if !a.deployments.is_empty() {
        out.push(key(&chart::css(chart::DEPLOY), "deployment (line)"));
    }
    if !a.manual_restarts.is_empty() {
        out.push(key(
            &chart::css(chart::MANUAL),
            "manual restart or reload (triangle)",
        ));
    }
    out
}

/// An id for a link to an app's section: its name with anything but `[A-Za-z0-9_-]` as `-`,
/// and its length, so two names that map alike stay apart.
pub fn anchor(app: &str) -> String {
    let clean: String = app
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{clean}-{}", app.len())
}

fn app_section(o: &mut String, r: &Report, a: &AppReport) -> Result<(), String> {
    let _ = writeln!(
        o,
        "<section class=\"app\" id=\"app-{}\">\n<h2>{}</h2>\n<p class=\"muted\">{} exit{} in the window{}</p>",
        anchor(&a.app),
        esc(&a.app),
        a.exits,
        if a.exits == 1 { "" } else { "s" },
        if a.exists {
            ""
        } else {
            " · deleted app (its history stays)"
        }
    );
    let mut keys: Vec<String> = a.causes.iter().map(|c| swatch(c.cause)).collect();
    let markers = markers_legend(a);
    keys.extend(markers.iter().cloned());
    let _ = writeln!(
        o,
        "<h3>Exits per {} by cause</h3>\n<p class=\"legend\">{}</p>\n<div class=\"chart\">{}</div>",
        step_name(r.bucket_ms),
        spans(&keys),
        chart::exits(r, a)?
    );
    match chart::memory(r, a)? {
        Some(svg) => {
            let mut keys = vec![
                key(&chart::css(chart::MEMORY), "avg"),
                key("rgba(35,139,69,0.45)", "min, max"),
            ];
            if let Some(l) = a.max_memory_restart {
                keys.push(key(
                    &chart::css(chart::LIMIT),
                    &format!("max_memory_restart {}", bytes(l)),
                ));
            }
            if let Some(l) = a.memory_max {
                keys.push(key(
                    &chart::css(chart::HARD_LIMIT),
                    &format!("memory_max {}", bytes(l)),
                ));
            }
            keys.extend(markers);
            let _ = writeln!(
                o,
                "<h3>Memory</h3>\n<p class=\"legend\">{}</p>\n<div class=\"chart\">{svg}</div>",
                spans(&keys)
            );
        }
        None => o.push_str(
            "<h3>Memory</h3>\n<p class=\"muted\">No memory samples in this window.</p>\n",
        ),
    }
    o.push_str("<h3>Findings</h3>\n<ul>\n");
    for f in &a.findings {
        let _ = writeln!(o, "<li>{}</li>", esc(f));
    }
    o.push_str("</ul>\n");
    if a.findings_from < a.exits {
        let _ = writeln!(
            o,
            "<p class=\"muted\">Findings from the newest {} of the {} exits; the counts below cover all.</p>",
            a.findings_from, a.exits
        );
    }
    if !a.causes.is_empty() {
        o.push_str("<h3>Causes</h3>\n<table><thead><tr><th>Cause</th><th class=\"n\">Exits</th><th class=\"n\">Typical uptime</th><th>First</th><th>Last</th></tr></thead><tbody>\n");
        for c in &a.causes {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                swatch(c.cause),
                c.count,
                esc(&human_duration(c.typical_uptime_ms)),
                esc(&stamp(c.first_ms)),
                esc(&stamp(c.last_ms))
            );
        }
        o.push_str("</tbody></table>\n");
    }
    for c in &a.causes {
        if let (Some(tail), Some(at)) = (&c.last_stderr, c.last_stderr_at_ms) {
            let _ = writeln!(
                o,
                "<h4>Last stderr before <code>{}</code> ({})</h4>\n<pre>{}</pre>",
                c.cause,
                esc(&stamp(at)),
                esc(tail)
            );
        }
    }
    if !a.deployments.is_empty() {
        o.push_str("<h3>Deployments</h3>\n");
        deployments_table(o, &a.deployments);
    }
    o.push_str("<h3>Dig further</h3>\n<pre>");
    for c in &a.commands {
        let _ = writeln!(o, "{}", esc(c));
    }
    o.push_str("</pre>\n</section>\n");
    Ok(())
}
