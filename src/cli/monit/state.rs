//! Owns what the dashboard knows and how keys and answers change it: pure, no terminal, no
//! socket. The loop in `mod.rs` feeds it lists, log lines, exits and keys, and carries out the
//! [`Action`]s it returns.

use crate::ipc::{ProcessInfo, Request, ScaleTo};
use std::collections::{BTreeMap, VecDeque};

/// Samples kept per instance for the sparklines (one per refresh).
pub const SERIES_LEN: usize = 60;
/// Log lines kept for the tail pane.
pub const LOG_LINES: usize = 200;

/// A key, as the dashboard understands it (the loop maps the terminal's events to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    Enter,
    Esc,
    Backspace,
    CtrlC,
    Char(char),
}

/// What the loop must do after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Quit,
    /// Send this request on its own connection; its answer goes to [`State::acted`].
    Send {
        what: String,
        req: Box<Request>,
    },
}

/// One exit of the selected app, as the exits pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitLine {
    pub when_ms: i64,
    pub instance: u32,
    /// `exited 1`, `signaled SIGSEGV`, `restarted`…
    pub what: String,
    pub uptime_ms: u64,
}

/// The last CPU and memory samples of one instance, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub cpu: VecDeque<u64>,
    pub mem: VecDeque<u64>,
}

fn push(q: &mut VecDeque<u64>, v: u64) {
    if q.len() == SERIES_LEN {
        q.pop_front();
    }
    q.push_back(v);
}

#[derive(Debug, Default)]
pub struct State {
    pub procs: Vec<ProcessInfo>,
    /// Per instance id.
    pub series: BTreeMap<u32, Series>,
    /// The selected instance's id (kept across refreshes while it exists).
    pub selected: Option<u32>,
    /// Only apps whose name contains this are shown.
    pub filter: String,
    /// Typing a filter (after `/`).
    pub editing_filter: bool,
    /// The selected app's log tail, and which app it is of.
    pub log_app: Option<String>,
    pub log: VecDeque<String>,
    pub exits: Vec<ExitLine>,
    /// `why`'s summary of the selected app's last hour: exits by cause, then its findings.
    pub why: Vec<String>,
    /// Why the exits pane is empty when it cannot be read (another host's database).
    pub exits_note: Option<String>,
    /// The outcome of the last action, or the last failure to refresh.
    pub message: Option<String>,
    pub where_: String,
}

impl State {
    pub fn new(where_: impl Into<String>) -> State {
        State {
            where_: where_.into(),
            ..State::default()
        }
    }

    /// The instances the filter lets through, in list order.
    pub fn visible(&self) -> Vec<&ProcessInfo> {
        self.procs
            .iter()
            .filter(|p| self.filter.is_empty() || p.name.contains(&self.filter))
            .collect()
    }

    pub fn selected_proc(&self) -> Option<&ProcessInfo> {
        let visible = self.visible();
        visible
            .iter()
            .find(|p| Some(p.id) == self.selected)
            .or(visible.first())
            .copied()
    }

    /// The app whose log and exits are shown.
    pub fn selected_app(&self) -> Option<String> {
        self.selected_proc().map(|p| p.name.clone())
    }

    /// A new `list`: samples appended, instances that are gone forgotten, the selection kept.
    pub fn listed(&mut self, procs: Vec<ProcessInfo>) {
        for p in &procs {
            let s = self.series.entry(p.id).or_default();
            push(
                &mut s.cpu,
                p.cpu_percent.map_or(0, |c| c.max(0.0).round() as u64),
            );
            push(&mut s.mem, p.memory_bytes.unwrap_or(0));
        }
        self.series
            .retain(|id, _| procs.iter().any(|p| p.id == *id));
        self.procs = procs;
        self.selected = self.selected_proc().map(|p| p.id);
    }

    /// Lines of the selected app's log; lines of another app (a stale stream) are dropped.
    pub fn logged(&mut self, app: &str, lines: impl IntoIterator<Item = String>) {
        if self.log_app.as_deref() != Some(app) {
            return;
        }
        for l in lines {
            if self.log.len() == LOG_LINES {
                self.log.pop_front();
            }
            self.log.push_back(l);
        }
    }

    /// The log pane follows `app` from now on (empty until its lines come).
    pub fn follow(&mut self, app: Option<String>) {
        if self.log_app != app {
            self.log.clear();
            self.log_app = app;
        }
    }

    pub fn acted(&mut self, outcome: Result<String, String>) {
        self.message = Some(match outcome {
            Ok(m) => m,
            Err(e) => format!("error: {e}"),
        });
    }

    fn move_selection(&mut self, down: bool) {
        let ids: Vec<u32> = self.visible().iter().map(|p| p.id).collect();
        if ids.is_empty() {
            return;
        }
        let at = self
            .selected
            .and_then(|s| ids.iter().position(|i| *i == s))
            .unwrap_or(0);
        let next = if down {
            (at + 1).min(ids.len() - 1)
        } else {
            at.saturating_sub(1)
        };
        self.selected = Some(ids[next]);
    }

    /// A key: the selection, the filter, or an action on the selected instance or app.
    pub fn key(&mut self, key: Key) -> Option<Action> {
        if key == Key::CtrlC {
            return Some(Action::Quit);
        }
        if self.editing_filter {
            match key {
                Key::Enter => self.editing_filter = false,
                Key::Esc => {
                    self.editing_filter = false;
                    self.filter.clear();
                }
                Key::Backspace => {
                    self.filter.pop();
                }
                Key::Char(c) if !c.is_control() => self.filter.push(c),
                _ => {}
            }
            self.selected = self.selected_proc().map(|p| p.id);
            return None;
        }
        let (instance, app) = match self.selected_proc() {
            Some(p) => (format!("{}:{}", p.name, p.instance), p.name.clone()),
            None => (String::new(), String::new()),
        };
        let send = |what: String, req: Request| {
            Some(Action::Send {
                what,
                req: Box::new(req),
            })
        };
        match key {
            Key::Char('q') => Some(Action::Quit),
            Key::Up | Key::Char('k') => {
                self.move_selection(false);
                None
            }
            Key::Down | Key::Char('j') => {
                self.move_selection(true);
                None
            }
            Key::Char('/') => {
                self.editing_filter = true;
                None
            }
            Key::Esc => {
                self.filter.clear();
                None
            }
            _ if app.is_empty() => None,
            Key::Char('r') => send(
                format!("restart {instance}"),
                Request::Restart {
                    target: instance.clone(),
                    update_env: None,
                },
            ),
            Key::Char('s') => send(
                format!("stop {instance}"),
                Request::Stop {
                    target: instance.clone(),
                },
            ),
            Key::Char('S') => send(
                format!("start {instance}"),
                Request::StartTarget {
                    target: instance.clone(),
                },
            ),
            Key::Char('l') => send(
                format!("reload {instance}"),
                Request::Reload {
                    target: Some(instance.clone()),
                    apps: Vec::new(),
                    parallel: 1,
                    update_env: None,
                    meta: None,
                },
            ),
            Key::Char('+') => send(
                format!("scale {app} +1"),
                Request::Scale {
                    app: app.clone(),
                    to: ScaleTo::More(1),
                },
            ),
            Key::Char('-') => send(
                format!("scale {app} -1"),
                Request::Scale {
                    app: app.clone(),
                    to: ScaleTo::Fewer(1),
                },
            ),
            Key::Char('f') => {
                self.log.clear();
                send(
                    format!("flush {app}"),
                    Request::Flush {
                        target: Some(app.clone()),
                    },
                )
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn proc(id: u32, name: &str, instance: u32, cpu: f32, mem: u64) -> ProcessInfo {
        ProcessInfo {
            uptime_ms: Some(1000),
            started_at_ms: Some(0),
            processes: Some(1),
            cpu_percent: Some(cpu),
            memory_bytes: Some(mem),
            ..ProcessInfo::example(id, name, instance)
        }
    }

    #[test]
    fn lists_grow_bounded_series_and_forget_gone_instances() {
        let mut s = State::new("local");
        for n in 0..(SERIES_LEN as u64 + 5) {
            s.listed(vec![
                proc(0, "a", 0, n as f32, n * 10),
                proc(1, "b", 0, 0.0, 1),
            ]);
        }
        assert_eq!(s.series[&0].cpu.len(), SERIES_LEN);
        assert_eq!(s.series[&0].cpu.back(), Some(&(SERIES_LEN as u64 + 4)));
        s.listed(vec![proc(1, "b", 0, 0.0, 1)]);
        assert!(!s.series.contains_key(&0));
        assert_eq!(
            s.selected,
            Some(1),
            "the selection moves off a gone instance"
        );
    }

    #[test]
    fn keys_select_and_act_on_the_selected_instance() {
        let mut s = State::new("local");
        s.listed(vec![proc(0, "api", 0, 0.0, 0), proc(1, "api", 1, 0.0, 0)]);
        assert_eq!(s.key(Key::Down), None);
        assert_eq!(s.selected, Some(1));
        match s.key(Key::Char('r')) {
            Some(Action::Send { req, .. }) => match *req {
                Request::Restart { target, .. } => assert_eq!(target, "api:1"),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        match s.key(Key::Char('+')) {
            Some(Action::Send { req, .. }) => match *req {
                Request::Scale { app, to } => {
                    assert_eq!((app.as_str(), to), ("api", ScaleTo::More(1)))
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        assert_eq!(s.key(Key::Char('q')), Some(Action::Quit));
        assert_eq!(s.key(Key::CtrlC), Some(Action::Quit));
    }

    #[test]
    fn the_filter_is_typed_then_applied_and_q_is_a_letter_while_typing() {
        let mut s = State::new("local");
        s.listed(vec![
            proc(0, "api", 0, 0.0, 0),
            proc(1, "worker", 0, 0.0, 0),
        ]);
        s.key(Key::Char('/'));
        for c in "wq".chars() {
            assert_eq!(s.key(Key::Char(c)), None);
        }
        s.key(Key::Backspace);
        s.key(Key::Enter);
        assert_eq!(s.filter, "w");
        let names: Vec<&str> = s.visible().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["worker"]);
        assert_eq!(s.selected_app().as_deref(), Some("worker"));
        s.key(Key::Esc);
        assert_eq!(s.visible().len(), 2);
    }

    #[test]
    fn log_lines_of_another_app_are_dropped_and_the_tail_is_bounded() {
        let mut s = State::new("local");
        s.follow(Some("a".into()));
        s.logged("b", ["x".to_string()]);
        assert!(s.log.is_empty());
        s.logged("a", (0..LOG_LINES + 3).map(|n| n.to_string()));
        assert_eq!(s.log.len(), LOG_LINES);
        assert_eq!(s.log.front().map(String::as_str), Some("3"));
        s.follow(Some("b".into()));
        assert!(s.log.is_empty());
    }

    #[test]
    fn keys_without_a_selection_do_nothing() {
        let mut s = State::new("local");
        assert_eq!(s.key(Key::Char('r')), None);
        assert_eq!(s.key(Key::Down), None);
    }
}
