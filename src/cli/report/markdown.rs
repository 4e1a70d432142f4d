//! Owns the Markdown form of a report, for tickets: the sections of the HTML page, with tables
//! and text sparklines instead of charts.

use super::model::{AppReport, DeploymentMark, Report};
use super::text::{bytes, md, md_code, md_code_block, sparkline};
use super::window::{stamp, step_name};
use crate::forensics::human_duration;
use std::fmt::Write;

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Incident report\n\n{} → {} · {} app{} · generated {} from {}\n",
        stamp(r.since_ms),
        stamp(r.until_ms),
        r.apps.len(),
        if r.apps.len() == 1 { "" } else { "s" },
        stamp(r.generated_at_ms),
        md_code(&r.database)
    );
    summary(&mut o, r);
    for a in &r.apps {
        app_section(&mut o, r, a);
    }
    o
}

fn summary(o: &mut String, r: &Report) {
    let s = &r.summary;
    let w = r.window();
    let n = w.buckets(r.bucket_ms);
    o.push_str("## Summary\n\n");
    if s.restarts.is_empty() {
        o.push_str("No exits in this window.\n\n");
    } else {
        let _ = writeln!(
            o,
            "| App | Exits | By cause | Exits per {} |\n|---|---:|---|---|",
            step_name(r.bucket_ms)
        );
        for a in &s.restarts {
            let causes: Vec<String> = a.by_cause.iter().map(|(c, n)| format!("{c} {n}")).collect();
            let totals = r
                .apps
                .iter()
                .find(|x| x.app == a.app)
                .map(|x| x.dense_totals(n))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                md(&a.app),
                a.exits,
                md(&causes.join(", ")),
                md_code(&sparkline(&totals))
            );
        }
        o.push('\n');
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter().map(|x| md(x)).collect::<Vec<_>>().join(", ")
        }
    };
    let looping: Vec<String> = s
        .crash_looping_now
        .iter()
        .map(|l| format!("{}:{} ({})", l.app, l.instance, l.description))
        .collect();
    let lost = match s.output_lost {
        Some(n) => bytes(n),
        None => "not recorded in the history (the running daemon counts it: `svctl describe APP`)"
            .into(),
    };
    let _ = writeln!(
        o,
        "- Kernel OOM kills: **{}**\n- Memory-limit restarts (`max_memory_restart`): **{}**\n\
         - Errored now: {}\n- Crash-looping now: {}\n- Output lost: {lost}\n- Deployments: {}\n",
        s.oom_kills,
        s.memory_limit_restarts,
        list(&s.errored_now),
        list(&looping),
        s.deployments.len()
    );
    deployments_table(o, &s.deployments);
}

fn deployments_table(o: &mut String, ds: &[DeploymentMark]) {
    if ds.is_empty() {
        return;
    }
    o.push_str("| # | When | Kind | Result | Apps | File |\n|---:|---|---|---|---|---|\n");
    for d in ds {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            d.id,
            stamp(d.at_ms),
            md(&d.kind),
            md(d.result.as_deref().unwrap_or("running")),
            md(&d.apps.join(", ")),
            md(d.file.as_deref().unwrap_or(""))
        );
    }
    o.push('\n');
}

fn app_section(o: &mut String, r: &Report, a: &AppReport) {
    let w = r.window();
    let n = w.buckets(r.bucket_ms);
    let _ = writeln!(
        o,
        "## {}\n\n{} exit{} in the window{}\n",
        md(&a.app),
        a.exits,
        if a.exits == 1 { "" } else { "s" },
        if a.exists {
            ""
        } else {
            " · deleted app (its history stays)"
        }
    );
    let _ = writeln!(
        o,
        "### Exits per {} by cause\n\n{} → {}\n\n| Cause | Exits | Over time |\n|---|---:|---|",
        step_name(r.bucket_ms),
        stamp(r.since_ms),
        stamp(r.until_ms)
    );
    let rows = a.dense_exits(n);
    let _ = writeln!(
        o,
        "| all | {} | {} |",
        a.exits,
        md_code(&sparkline(&a.dense_totals(n)))
    );
    for (cause, counts) in &rows {
        let total: u64 = counts.iter().sum();
        let _ = writeln!(o, "| {cause} | {total} | {} |", md_code(&sparkline(counts)));
    }
    let marks = time_marks(r, a, n);
    if marks.chars().any(|c| c != ' ') {
        let _ = writeln!(o, "| marks | | {} |", md_code(&marks));
        o.push_str("\nMarks: `D` deployment, `R` manual restart or reload.\n");
    }
    o.push('\n');
    if a.memory.is_empty() {
        o.push_str("### Memory\n\nNo memory samples in this window.\n\n");
    } else {
        let max: Vec<u64> = a.memory.iter().map(|m| m.max_bytes).collect();
        let avg: Vec<u64> = a.memory.iter().map(|m| m.avg_bytes).collect();
        let lo = a.memory.iter().map(|m| m.min_bytes).min().unwrap_or(0);
        let hi = max.iter().copied().max().unwrap_or(0);
        let mean = avg.iter().sum::<u64>() / avg.len().max(1) as u64;
        let (max_line, avg_line) = memory_lines(r, a, n);
        let _ = writeln!(
            o,
            "### Memory\n\n| | Value | Over time |\n|---|---:|---|\n| max | {} | {} |\n| avg | {} | {} |\n| min | {} | |",
            bytes(hi),
            md_code(&sparkline(&max_line)),
            bytes(mean),
            md_code(&sparkline(&avg_line)),
            bytes(lo)
        );
        if let Some(l) = a.max_memory_restart {
            let _ = writeln!(o, "| max_memory_restart | {} | |", bytes(l));
        }
        if let Some(l) = a.memory_max {
            let _ = writeln!(o, "| memory_max | {} | |", bytes(l));
        }
        o.push('\n');
    }
    o.push_str("### Findings\n\n");
    for f in &a.findings {
        let _ = writeln!(o, "- {}", md(f));
    }
    if a.findings_from < a.exits {
        let _ = writeln!(
            o,
            "\nFindings from the newest {} of the {} exits; the counts below cover all.",
            a.findings_from, a.exits
        );
    }
    o.push('\n');
    if !a.causes.is_empty() {
        o.push_str("### Causes\n\n| Cause | Exits | Typical uptime | First | Last |\n|---|---:|---:|---|---|\n");
        for c in &a.causes {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                c.cause,
                c.count,
                human_duration(c.typical_uptime_ms),
                stamp(c.first_ms),
                stamp(c.last_ms)
            );
        }
        o.push('\n');
    }
    for c in &a.causes {
        if let (Some(tail), Some(at)) = (&c.last_stderr, c.last_stderr_at_ms) {
            let _ = writeln!(
                o,
                "#### Last stderr before `{}` ({})\n\n{}",
                c.cause,
                stamp(at),
                md_code_block(tail)
            );
        }
    }
    if !a.deployments.is_empty() {
        o.push_str("### Deployments\n\n");
        deployments_table(o, &a.deployments);
    }
    let _ = writeln!(
        o,
        "### Dig further\n\n{}",
        md_code_block(&a.commands.join("\n"))
    );
}

/// Memory per exit bucket (the highest maximum, the mean of the averages), so its sparklines
/// line up with the exits'; a bucket without samples stays blank.
fn memory_lines(r: &Report, a: &AppReport, n: u32) -> (Vec<u64>, Vec<u64>) {
    let mut max = vec![0u64; n as usize];
    let mut sum = vec![(0u128, 0u128); n as usize];
    for m in &a.memory {
        // The middle of the memory bucket says which exit bucket it falls in.
        let mid = i64::from(m.bucket) * r.memory_bucket_ms + r.memory_bucket_ms / 2;
        let i = (mid / r.bucket_ms.max(1)) as usize;
        if let (Some(hi), Some(s)) = (max.get_mut(i), sum.get_mut(i)) {
            *hi = (*hi).max(m.max_bytes);
            *s = (s.0 + u128::from(m.avg_bytes), s.1 + 1);
        }
    }
    let avg = sum
        .into_iter()
        .map(|(total, k)| total.checked_div(k).unwrap_or(0) as u64)
        .collect();
    (max, avg)
}

/// `D` where a deployment landed, `R` where a user restarted or reloaded, one character per
/// bucket under the sparklines.
fn time_marks(r: &Report, a: &AppReport, n: u32) -> String {
    let mut marks = vec![' '; n as usize];
    for m in &a.manual_restarts {
        if let Some(slot) = marks.get_mut(m.bucket as usize) {
            *slot = 'R';
        }
    }
    for d in &a.deployments {
        let b = ((d.at_ms - r.since_ms) / r.bucket_ms.max(1)).max(0) as usize;
        if let Some(slot) = marks.get_mut(b) {
            *slot = 'D';
        }
    }
    marks.into_iter().collect()
}
