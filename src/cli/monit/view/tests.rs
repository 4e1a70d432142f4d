//! Snapshots of the drawing on ratatui's `TestBackend`: what a user would read on the screen.

use super::*;
use crate::cli::monit::state::{ExitLine, Key, State};
use crate::ipc::ProcessInfo;
use crate::record::Status;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn proc(id: u32, name: &str, status: Status, cpu: f32, mem: u64) -> ProcessInfo {
    ProcessInfo {
        pid: Some(4000 + id as i32),
        status,
        restarts: 3,
        auto_restarts: 3,
        uptime_ms: Some(5000),
        started_at_ms: Some(0),
        processes: Some(1),
        cpu_percent: Some(cpu),
        memory_bytes: Some(mem),
        health: Some("ok".into()),
        ..ProcessInfo::example(id, name, 0)
    }
}

/// The screen as text, one string per row.
fn screen(s: &State, w: u16, h: u16) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, s, false)).unwrap();
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect())
        .collect()
}

fn sample_state() -> State {
    let mut s = State::new("local daemon");
    for n in 0..10u64 {
        s.listed(vec![
            proc(0, "api", Status::Online, n as f32 * 10.0, (n + 1) << 20),
            proc(1, "worker", Status::Errored, 0.0, 0),
        ]);
    }
    s.follow(Some("api".into()));
    s.logged(
        "api",
        [
            "listening on 3000".to_string(),
            "GET /health 200".to_string(),
        ],
    );
    s.exits = vec![ExitLine {
        when_ms: 0,
        instance: 0,
        what: "exited 1".into(),
        uptime_ms: 1200,
    }];
    s
}

#[test]
fn the_dashboard_shows_table_sparklines_logs_exits_and_help() {
    let rows = screen(&sample_state(), 100, 30);
    let all = rows.join("\n");
    assert!(all.contains("svctl monit · 2 instance(s)"), "{all}");
    let api = rows
        .iter()
        .find(|r| r.contains("api") && r.contains("online"))
        .expect(&all);
    assert!(api.contains("90%"), "{api}");
    assert!(api.contains("10.0 MiB"), "{api}");
    // The CPU rose 10% a refresh: the newest 8 samples (20% to 90%) climb to a full bar.
    assert!(api.contains("▃▃▄▅▆▆▇█"), "{api}");
    assert!(
        rows.iter()
            .any(|r| r.contains("worker") && r.contains("errored"))
    );
    assert!(all.contains("api logs"), "{all}");
    assert!(all.contains("GET /health 200"), "{all}");
    assert!(all.contains("#0 exited 1 after 1s"), "{all}");
    assert!(all.contains("r restart"), "{all}");
    assert!(all.contains("q quit"), "{all}");
    assert!(all.contains("local daemon"), "{all}");
}

#[test]
fn at_80_by_24_everything_still_fits() {
    let rows = screen(&sample_state(), 80, 24);
    let all = rows.join("\n");
    let worker = rows.iter().find(|r| r.contains("worker")).expect(&all);
    assert!(
        worker.contains("errored") && worker.contains("0 B"),
        "{worker}"
    );
    assert!(all.contains("q quit"), "{all}");
    assert!(all.contains("GET /health 200"), "{all}");
}

#[test]
fn a_terminal_too_small_is_told_so_instead_of_drawn() {
    let all = screen(&sample_state(), 60, 20).join("\n");
    assert!(all.contains("needs at least 80×24"), "{all}");
    assert!(all.contains("60×20"), "{all}");
    assert!(!all.contains("worker"), "{all}");
}

#[test]
fn the_filter_prompt_and_action_outcomes_show_on_the_status_line() {
    let mut s = sample_state();
    s.key(Key::Char('/'));
    s.key(Key::Char('w'));
    let all = screen(&s, 100, 30).join("\n");
    assert!(all.contains("filter: w"), "{all}");
    assert!(
        !all.contains("GET /health"),
        "the log pane follows the selection: {all}"
    );
    s.key(Key::Enter);
    s.acted(Err("no app `x`".into()));
    let all = screen(&s, 100, 30).join("\n");
    assert!(all.contains("filter `w`"), "{all}");
    assert!(all.contains("error: no app `x`"), "{all}");
}

#[test]
fn sparklines_scale_to_their_largest_sample_and_keep_the_newest() {
    assert_eq!(sparkline([0u64, 7, 14].iter(), 3), "▁▅█");
    assert_eq!(sparkline([5u64, 0, 0, 0].iter(), 2), "▁▁");
    assert_eq!(sparkline([].iter(), 4), "");
}
