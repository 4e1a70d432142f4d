//! Owns how the client shows things: the process table, `describe`, human units; `check` and
//! `history` hold the reports of those commands.

pub mod check;
pub mod deploy;
pub mod history;
mod table;

use crate::forensics::CrashLoop;
use crate::ipc::{AppDetail, LastExit, ProcessInfo};
use crate::record::Status;
use comfy_table::{Cell, ContentArrangement, Table, presets};
use std::collections::BTreeMap;

/// The instances that crash-loop now, by `(app, instance)`: flagged by `list` and `describe`.
pub type Loops = BTreeMap<(String, u32), CrashLoop>;

/// `5s`, `3m`, `2h`, `4d`, as PM2 shows uptime.
pub fn duration_short(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];

/// Binary units with one decimal: `0 B`, `512 B`, `12.3 MiB`.
pub fn bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    // Integers, as `{:.1}` of the f64 would round (half to even on the exact value): float
    // formatting with a precision was a tenth of `list`'s drawing at a thousand rows. Past
    // 2^53 the f64 the float path divides is no longer `n`, so that path stays for those.
    if n < 1 << 53 {
        let mut u = 0;
        while u < UNITS.len() - 1 && n >> (10 * (u + 2)) > 0 {
            u += 1;
        }
        let shift = 10 * (u + 1);
        let scaled = u128::from(n) * 10;
        let (mut tenths, rest) = (scaled >> shift, scaled & ((1u128 << shift) - 1));
        let half = 1u128 << (shift - 1);
        if rest > half || (rest == half && tenths % 2 == 1) {
            tenths += 1;
        }
        return format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[u]);
    }
    bytes_by_float(n)
}

/// [`bytes`] by float formatting, for 1 KiB and up: the path past 2^53, and what the integer
/// path must agree with.
fn bytes_by_float(n: u64) -> String {
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// A CPU figure as `{:.0}%` writes it, without float formatting for the usual small figures.
fn cpu(c: f32) -> String {
    if c.is_sign_positive() && c < 1e6 {
        // round_ties_even is `{:.0}`'s rounding of an exact binary value.
        return format!("{}%", c.round_ties_even() as u32);
    }
    format!("{c:.0}%")
}

fn status_field(s: Status, looping: bool) -> (String, Option<table::Color>) {
    use table::Color;
    if looping {
        return (format!("{} (crash loop)", s.as_str()), Some(Color::Red));
    }
    let color = match s {
        Status::Online => Color::Green,
        Status::Errored => Color::Red,
        Status::Stopped => Color::Grey,
        Status::Launching | Status::Stopping | Status::WaitingRestart => Color::Yellow,
    };
    (s.as_str().to_string(), Some(color))
}

fn dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// The process table; instances in `loops` show `(crash loop)` after their status.
pub fn process_table(procs: &[ProcessInfo], color: bool, loops: &Loops) -> String {
    let rows: Vec<(Option<&str>, &ProcessInfo)> = procs.iter().map(|p| (None, p)).collect();
    table_of(&rows, color, loops)
}

/// The process table of several hosts (`list -H a -H b`): the host in the first column.
pub fn host_table(rows: &[(String, ProcessInfo)], color: bool) -> String {
    let rows: Vec<(Option<&str>, &ProcessInfo)> =
        rows.iter().map(|(h, p)| (Some(h.as_str()), p)).collect();
    table_of(&rows, color, &Loops::default())
}

fn table_of(rows: &[(Option<&str>, &ProcessInfo)], color: bool, loops: &Loops) -> String {
    use table::Color;
    let procs: Vec<&ProcessInfo> = rows.iter().map(|(_, p)| *p).collect();
    let with_host = rows.iter().any(|(h, _)| h.is_some());
    let show_ns = procs.iter().any(|p| p.namespace != "default");
    let mut header = if with_host { vec!["host"] } else { vec![] };
    header.extend(["id", "name"]);
    if show_ns {
        header.push("namespace");
    }
    header.extend(["inst", "pid", "status", "uptime", "↺", "cpu", "mem"]);
    let show_health = procs.iter().any(|p| p.health.is_some());
    if show_health {
        header.push("health");
    }
    let mut t = table::Grid::new(header);
    let plain = |s: String| (s, None);
    for (host, p) in rows {
        let mut row = match host {
            Some(h) => vec![plain(h.to_string())],
            None => vec![],
        };
        row.extend([plain(p.id.to_string()), plain(p.name.clone())]);
        if show_ns {
            row.push(plain(p.namespace.clone()));
        }
        let looping = loops.contains_key(&(p.name.clone(), p.instance));
        row.extend([
            plain(p.instance.to_string()),
            plain(dash(p.pid)),
            status_field(p.status, looping),
            plain(dash(p.uptime_ms.map(duration_short))),
            plain(p.restarts.to_string()),
            plain(dash(p.cpu_percent.map(cpu))),
            plain(dash(p.memory_bytes.map(bytes))),
        ]);
        if show_health {
            let h = p.health.clone().unwrap_or_else(|| "-".to_string());
            let c = match h.as_str() {
                "ok" => Some(Color::Green),
                "pending" | "-" => None,
                _ => Some(Color::Red),
            };
            row.push((h, c));
        }
        t.row(row);
    }
    t.draw(color)
}

/// One line per crash-looping app, for under the table: "web is crash-looping (instance 0):
/// 77 exits in 93 s, each after about 1.2 s; `svctl why web` says why".
pub fn loop_lines(loops: &Loops) -> Vec<String> {
    let mut apps: BTreeMap<&str, Vec<(u32, &CrashLoop)>> = BTreeMap::new();
    for ((app, i), l) in loops {
        apps.entry(app).or_default().push((*i, l));
    }
    apps.into_iter()
        .map(|(app, insts)| {
            let numbers: Vec<String> = insts.iter().map(|(i, _)| i.to_string()).collect();
            let which = if numbers.len() == 1 {
                format!("instance {}", numbers[0])
            } else {
                format!("instances {}", numbers.join(", "))
            };
            let loudest = insts
                .iter()
                .map(|(_, l)| *l)
                .max_by_key(|l| (l.exits, l.last_exit_ms))
                .expect("one loop at least");
            format!(
                "{app} is crash-looping ({which}): {}; `svctl why {}` says why",
                loudest.rate(),
                shell_join(std::slice::from_ref(&app.to_string()))
            )
        })
        .collect()
}

pub fn last_exit(e: &LastExit) -> String {
    let mut s = e.cause.to_string();
    if let Some(c) = e.exit_code {
        s.push_str(&format!(", exit code {c}"));
    }
    if let Some(sig) = &e.signal {
        s.push_str(&format!(", {sig}"));
    }
    let ago = (crate::store::now_ms() - e.ended_at_ms).max(0) as u64;
    s.push_str(&format!(", {} ago", duration_short(ago)));
    if let Some(err) = &e.error {
        s.push_str(&format!(" ({err})"));
    }
    s
}

fn ms(v: u64) -> String {
    format!("{v} ms")
}

/// A probe as `describe` shows it: what it checks and its timing.
fn probe_text(p: &crate::config::probe::Probe) -> String {
    use crate::config::probe::ProbeKind;
    let what = match &p.kind {
        ProbeKind::Http(u) => format!("GET {u}"),
        ProbeKind::Tcp(a) => format!("tcp {a}"),
        ProbeKind::Exec(c) => format!("exec `{c}`"),
    };
    format!(
        "{what} every {} (timeout {}, {} failures in a row)",
        ms(p.interval_ms),
        ms(p.timeout_ms),
        p.failures
    )
}

pub fn describe(
    d: &AppDetail,
    memory: &[crate::store::reader::MemoryMinute],
    loops: &Loops,
    color: bool,
) -> String {
    let s = &d.spec;
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    let mut kv = |k: &str, v: String| {
        t.add_row(vec![Cell::new(k), Cell::new(v)]);
    };
    kv("name", s.name.clone());
    kv("namespace", s.namespace.clone());
    kv("command", shell_join(&s.argv()));
    kv("cwd", s.cwd.display().to_string());
    if let Some(src) = &s.source {
        kv("ecosystem file", src.display().to_string());
    }
    kv("instances", s.instances.to_string());
    kv(
        "desired",
        if d.should_run { "running" } else { "stopped" }.into(),
    );
    kv("autorestart", s.autorestart.to_string());
    if !s.stop_exit_codes.is_empty() {
        let codes: Vec<String> = s.stop_exit_codes.iter().map(|c| c.to_string()).collect();
        kv("stop exit codes", codes.join(", "));
    }
    match s.exp_backoff_restart_delay_ms {
        Some(b) if b > 0 => kv(
            "restart delay",
            format!("exponential from {b} ms, ×1.5, ≤ 15 s"),
        ),
        _ => kv("restart delay", ms(s.restart_delay_ms)),
    }
    kv("min uptime", ms(s.min_uptime_ms));
    kv(
        "max restarts",
        format!("{} consecutive unstable", s.max_restarts),
    );
    kv(
        "kill",
        format!("{}, SIGKILL after {} ms", s.kill_signal, s.kill_timeout_ms),
    );
    for (what, probe) in [("ready", &s.ready), ("health", &s.health)] {
        if let Some(p) = probe {
            kv(what, probe_text(p));
        }
    }
    let mut readiness = Vec::new();
    if s.wait_ready {
        readiness.push("READY=1 on the notify socket".to_string());
    }
    if let Some(r) = &s.ready_log_line {
        readiness.push(format!("a line matching `{r}`"));
    }
    if s.ready.is_some() {
        readiness.push("the ready probe".to_string());
    }
    if !readiness.is_empty() {
        let timeout = s.listen_timeout_ms.unwrap_or(3000);
        kv(
            "ready when",
            format!("{} (within {})", readiness.join(" or "), ms(timeout)),
        );
    }
    if let Some(w) = s.watchdog_ms {
        kv("watchdog", format!("WATCHDOG=1 at least every {}", ms(w)));
    }
    if !s.listen.is_empty() {
        let addrs: Vec<String> = s.listen.iter().map(|a| a.display()).collect();
        kv("listen", format!("{} (fd 3 on)", addrs.join(", ")));
    }
    if let Some(sig) = &s.reload_signal {
        kv("reload", format!("in place: {sig} to the main process"));
    }
    let mut limits = Vec::new();
    if let Some(b) = s.memory_max {
        limits.push(format!("memory {}", bytes(b)));
    }
    if let Some(n) = s.pids_max {
        limits.push(format!("{n} processes"));
    }
    if let Some(w) = s.cpu_weight {
        limits.push(format!("cpu weight {w}"));
    }
    if let Some(p) = s.cpu_max_percent {
        limits.push(format!("cpu {p}%"));
    }
    if !limits.is_empty() {
        kv("hard limits", limits.join(" · "));
    }
    if let Some(why) = &d.unenforced {
        kv("not enforced", why.clone());
    }
    if !d.isolation.is_empty() {
        kv("runs kept in", d.isolation.clone());
    }
    let keys: Vec<&str> = s.env.keys().map(String::as_str).collect();
    kv(
        "env (file)",
        if keys.is_empty() {
            "-".into()
        } else {
            keys.join(", ")
        },
    );
    for (i, out) in d.out_log.iter().enumerate() {
        kv(&format!("out log {i}"), out.clone());
    }
    for (i, err) in d.err_log.iter().enumerate() {
        kv(&format!("error log {i}"), err.clone());
    }
    for (i, log) in d.log_file.iter().enumerate() {
        kv(&format!("combined log {i}"), log.clone());
    }
    for (i, pid) in d.pid_file.iter().enumerate() {
        kv(&format!("pid file {i}"), pid.clone());
    }
    for p in &d.instances {
        kv(
            &format!("instance {}", p.instance),
            format!(
                "id {} · {} · pid {} · uptime {} · mem {} · run {}",
                p.id,
                p.status.as_str(),
                dash(p.pid),
                dash(p.uptime_ms.map(duration_short)),
                dash(p.memory_bytes.map(bytes)),
                p.run
            ),
        );
        kv(
            &format!("  restarts {}", p.instance),
            format!(
                "↺ {} ({} automatic, {} manual) · {} unstable in a row",
                p.restarts, p.auto_restarts, p.manual_restarts, p.unstable_restarts
            ),
        );
        let mine: Vec<u64> = memory
            .iter()
            .filter(|m| m.instance == p.instance)
            .map(|m| m.avg_bytes)
            .collect();
        if let (Some(lo), Some(hi)) = (mine.iter().min(), mine.iter().max()) {
            kv(
                &format!("  memory 1h {}", p.instance),
                format!(
                    "{} {}…{} (per minute)",
                    sparkline(&mine),
                    bytes(*lo),
                    bytes(*hi)
                ),
            );
        }
        if let Some(health) = &p.health {
            kv(&format!("  health {}", p.instance), health.clone());
        }
        if let Some(e) = &p.probe_error {
            kv(&format!("  last failed check {}", p.instance), e.clone());
        }
        if let Some(st) = &p.notify_status {
            kv(&format!("  status {}", p.instance), st.clone());
        }
        if let Some(r) = &p.reloading {
            kv(
                &format!("  reloading {}", p.instance),
                format!("new process pid {} · {}", dash(r.pid), r.status.as_str()),
            );
        }
        if let Some(e) = &p.last_exit {
            kv(&format!("  last exit {}", p.instance), last_exit(e));
        }
        if let Some(l) = loops.get(&(p.name.clone(), p.instance)) {
            kv(
                &format!("  crash loop {}", p.instance),
                format!(
                    "{} (`svctl why {}`)",
                    l.describe(),
                    shell_join(std::slice::from_ref(&p.name))
                ),
            );
        }
    }
    if !color {
        t.force_no_tty();
    }
    t.to_string()
}

/// Joins argv for display, quoting what a shell would split.
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A one-line chart of values, scaled to their own range.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (Some(lo), Some(hi)) = (values.iter().min(), values.iter().max()) else {
        return String::new();
    };
    let span = (hi - lo).max(1) as f64;
    values
        .iter()
        .map(|v| BARS[(((v - lo) as f64 / span) * 7.0).round() as usize])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations() {
        assert_eq!(duration_short(0), "0s");
        assert_eq!(duration_short(59_999), "59s");
        assert_eq!(duration_short(60_000), "1m");
        assert_eq!(duration_short(3_600_000), "1h");
        assert_eq!(duration_short(86_400_000 * 3), "3d");
    }

    #[test]
    fn binary_sizes() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(300 * 1024 * 1024), "300.0 MiB");
        assert_eq!(bytes(u64::MAX), "16384.0 PiB");
        assert_eq!(bytes(1024 * 1024 - 1), "1024.0 KiB");
    }

    /// The integer paths give what float formatting gives, ties and unit edges included.
    #[test]
    fn bytes_and_cpu_match_float_formatting() {
        let mut samples: Vec<u64> = (1024..70_000).collect();
        for shift in 10..53 {
            let p = 1u64 << shift;
            for d in [0, 1, 2, 51, 52, 102, 103, 512] {
                samples.extend([p - d, p + d, p / 20 * 3 + d, (p >> 1) * 3 - d]);
            }
        }
        // Exact ties: k/20 of a unit is a tenth and a half for odd k.
        for u in 1..5u32 {
            for k in 20..400u64 {
                samples.push((k << (10 * u)) / 20);
                samples.push(((k << (10 * u)) / 20) | 1);
            }
        }
        samples.push((1 << 53) - 1);
        for n in samples.into_iter().filter(|&n| n >= 1024) {
            assert_eq!(bytes(n), bytes_by_float(n), "{n}");
        }
        for c in [
            0.0f32, 0.4, 0.5, 1.5, 2.5, 2.4999, 99.5, 100.5, 150.49, 399.5, 1e7, -0.0,
        ] {
            assert_eq!(cpu(c), format!("{c:.0}%"), "{c}");
        }
        for i in 0..100_000 {
            let c = i as f32 * 0.0137;
            assert_eq!(cpu(c), format!("{c:.0}%"), "{c}");
        }
    }

    #[test]
    fn quoting_for_display() {
        let argv = vec![
            "bash".to_string(),
            "-c".into(),
            "echo it's".into(),
            "".into(),
        ];
        assert_eq!(shell_join(&argv), r"bash -c 'echo it'\''s' ''");
    }

    #[test]
    fn sparkline_scales_to_its_range() {
        assert_eq!(sparkline(&[]), "");
        assert_eq!(sparkline(&[5, 5]), "▁▁");
        assert_eq!(sparkline(&[0, 7, 14]), "▁▅█");
    }
}
