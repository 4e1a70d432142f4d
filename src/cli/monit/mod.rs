//! Owns `svctl monit`, the full-screen dashboard: the terminal (raw mode and the alternate
//! screen, restored on every way out, a panic included), the loop that polls `list` once a
//! second, follows the selected app's log on a second connection, reads its exits from the
//! database (no cost to the daemon), and sends the requests keys ask for on connections of
//! their own so a slow restart never freezes the screen.
//!
//! Layout: `state` (pure: what is known, keys → actions), `view` (pure drawing), this file
//! (the terminal and the I/O).

pub mod state;
pub mod view;

use crate::cli::commands::connect_reading;
use crate::cli::error::Failure;
use crate::ipc::client::{Client, remote};
use crate::ipc::{LogStreams, Request, Response};
use crate::paths::Paths;
use crate::store::{HistoryFilter, Reader};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal};
use state::{Action, ExitLine, Key, State};
use std::io::IsTerminal;
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind};
use tokio::sync::mpsc;

/// How often the list is asked for.
const REFRESH: Duration = Duration::from_secs(1);
/// Exits shown for the selected app.
const EXITS: u32 = 8;
/// The window of the `why` summary, and the most exits it reads (a crash loop has many).
const WHY_WINDOW_MS: i64 = 3_600_000;
const WHY_EXITS: u32 = 2_000;
/// Lines of the selected app's log asked for when it is selected.
const LOG_TAIL: u32 = 50;

/// What reaches the loop besides its own tick.
enum Input {
    Key(Key),
    /// The terminal changed size: draw again.
    Resize,
    Log(String, Vec<String>),
    Acted(Result<String, String>),
}

/// Puts the terminal back as it was: cooked mode, the main screen, the cursor shown.
fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
}

/// Holds the terminal in raw mode on the alternate screen; dropping it (returning, an error)
/// or a panic (through the hook) restores it.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> std::io::Result<TerminalGuard> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        terminal::enable_raw_mode()?;
        let guard = TerminalGuard;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

pub async fn run(paths: &Paths) -> Result<(), Failure> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(
            Failure::failed("monit draws on a terminal, and this is not one")
                .hint("`svctl list` (or `svctl list --json`) prints the processes once"),
        );
    }
    // Before the screen is taken: a daemon that does not answer is said plainly.
    let client = connect_reading(paths).await?;
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let where_ = match remote() {
        Some(h) => format!("host {}", h.url),
        None => format!("home {}", paths.home.display()),
    };
    let guard =
        TerminalGuard::enter().map_err(|e| Failure::failed_by("taking the terminal", &e))?;
    let result = dashboard(paths, client, State::new(where_), color).await;
    drop(guard);
    result
}

async fn dashboard(
    paths: &Paths,
    client: Client,
    mut state: State,
    color: bool,
) -> Result<(), Failure> {
    let mut term = Terminal::new(CrosstermBackend::new(std::io::stdout()))
        .map_err(|e| Failure::failed_by("drawing", &e))?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    read_keys(tx.clone());
    let reader = if remote().is_none() {
        Reader::open(&paths.db).ok()
    } else {
        state.exits_note = Some("exits: `svctl -H HOST why APP` reads that host's history".into());
        None
    };
    let mut client = Some(client);
    let mut follower: Option<tokio::task::JoinHandle<()>> = None;
    let mut tick = tokio::time::interval(REFRESH);
    // A hang-up or a `kill` ends the dashboard as `q` does, so the terminal is restored.
    let mut hangup = unix_signal(SignalKind::hangup());
    let mut term_signal = unix_signal(SignalKind::terminate());
    loop {
        tokio::select! {
            () = recv(&mut hangup) => break,
            () = recv(&mut term_signal) => break,
            _ = tick.tick() => {
                refresh(paths, &mut client, &mut state).await;
                if let (Some(r), Some(app)) = (&reader, state.selected_app()) {
                    (state.why, state.exits) = exits(r, &app);
                }
            }
            input = rx.recv() => match input {
                None => break,
                Some(Input::Key(k)) => match state.key(k) {
                    Some(Action::Quit) => break,
                    Some(Action::Send { what, req }) => {
                        state.message = Some(format!("{what}…"));
                        act(paths.clone(), what, *req, tx.clone());
                    }
                    None => {}
                },
                Some(Input::Resize) => {}
                Some(Input::Log(app, lines)) => state.logged(&app, lines),
                Some(Input::Acted(outcome)) => state.acted(outcome),
            },
        }
        let app = state.selected_app();
        if app != state.log_app {
            if let Some(f) = follower.take() {
                f.abort();
            }
            state.follow(app.clone());
            if let Some(app) = app {
                if let Some(r) = &reader {
                    (state.why, state.exits) = exits(r, &app);
                }
                follower = Some(tokio::spawn(follow(paths.clone(), app, tx.clone())));
            }
        }
        term.draw(|f| view::draw(f, &state, color))
            .map_err(|e| Failure::failed_by("drawing", &e))?;
    }
    if let Some(f) = follower {
        f.abort();
    }
    Ok(())
}

fn unix_signal(kind: SignalKind) -> Option<Signal> {
    tokio::signal::unix::signal(kind).ok()
}

/// The next delivery of a signal; never, when it could not be listened for.
async fn recv(s: &mut Option<Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// One `list`; a connection that failed is made again at the next refresh.
async fn refresh(paths: &Paths, client: &mut Option<Client>, state: &mut State) {
    if client.is_none() {
        *client = Client::connect(paths).await.ok();
    }
    let Some(c) = client.as_mut() else {
        state.message = Some("error: the daemon does not answer; trying again".into());
        return;
    };
    match c.list().await {
        Ok(Response::List { processes, .. }) => state.listed(processes),
        Ok(other) => state.message = Some(format!("error: a `{}` answer", other.type_name())),
        Err(e) => {
            state.message = Some(format!("error: {e}"));
            *client = None;
        }
    }
}

/// The terminal's events, read on a thread of their own (crossterm's reads block).
fn read_keys(tx: mpsc::UnboundedSender<Input>) {
    std::thread::spawn(move || {
        while !tx.is_closed() {
            match event::poll(Duration::from_millis(200)) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(_) => break,
            }
            let input = match event::read() {
                Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => {
                    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
                    match k.code {
                        KeyCode::Char('c') if ctrl => Input::Key(Key::CtrlC),
                        KeyCode::Char(c) => Input::Key(Key::Char(c)),
                        KeyCode::Up => Input::Key(Key::Up),
                        KeyCode::Down => Input::Key(Key::Down),
                        KeyCode::Enter => Input::Key(Key::Enter),
                        KeyCode::Esc => Input::Key(Key::Esc),
                        KeyCode::Backspace => Input::Key(Key::Backspace),
                        _ => continue,
                    }
                }
                Ok(Event::Resize(..)) => Input::Resize,
                Ok(_) => continue,
                Err(_) => break,
            };
            if tx.send(input).is_err() {
                break;
            }
        }
    });
}

/// Sends a key's request on a connection of its own; the outcome comes back as an input.
fn act(paths: Paths, what: String, req: Request, tx: mpsc::UnboundedSender<Input>) {
    tokio::spawn(async move {
        let outcome = match Client::connect(&paths).await {
            Ok(mut c) => match c.request(&req).await {
                Ok(Response::Done { message, .. }) => Ok(message),
                Ok(Response::Error { message, .. }) => Err(format!("{what}: {message}")),
                Ok(other) => Err(format!("{what}: a `{}` answer", other.type_name())),
                Err(e) => Err(format!("{what}: {e}")),
            },
            Err(e) => Err(format!("{what}: {e}")),
        };
        let _ = tx.send(Input::Acted(outcome));
    });
}

/// Follows `app`'s log: its last lines, then each new one, until the task is aborted.
async fn follow(paths: Paths, app: String, tx: mpsc::UnboundedSender<Input>) {
    let Ok(mut c) = Client::connect(&paths).await else {
        return;
    };
    let req = Request::Logs {
        target: Some(app.clone()),
        lines: LOG_TAIL,
        follow: true,
        streams: LogStreams::Both,
    };
    let mut answer = c.request(&req).await;
    while let Ok(Response::LogLines { lines, .. }) = answer {
        let text = lines
            .into_iter()
            .map(|l| format!("{}| {}", l.instance, l.text.trim_end()))
            .collect();
        if tx.send(Input::Log(app.clone(), text)).is_err() {
            return;
        }
        answer = match c.next().await {
            Ok(Some(r)) => Ok(r),
            _ => return,
        };
    }
}

/// `why`'s summary of `app`'s last hour (exits by cause, findings) and its newest exits, from
/// the database.
fn exits(reader: &Reader, app: &str) -> (Vec<String>, Vec<ExitLine>) {
    let since_ms = crate::store::now_ms() - WHY_WINDOW_MS;
    let filter = HistoryFilter {
        apps: vec![app.to_string()],
        instance: None,
        since_ms: Some(since_ms),
        cause: None,
        limit: Some(WHY_EXITS),
    };
    let rows: Vec<_> = reader
        .history(&filter)
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.exit)
        .collect();
    let report = crate::forensics::analyse(
        app,
        since_ms,
        &rows,
        &[],
        &crate::forensics::Settings::of(None),
    );
    let mut why = Vec::new();
    if report.exits > 0 {
        let causes: Vec<String> = report
            .by_cause
            .iter()
            .map(|c| format!("{}×{}", c.cause.as_str(), c.count))
            .collect();
        why.push(format!("last hour: {}", causes.join(", ")));
    }
    why.extend(report.findings.into_iter().take(2));
    let lines = rows
        .into_iter()
        .take(EXITS as usize)
        .map(|e| {
            let detail = match (&e.signal, e.exit_code) {
                (Some(sig), _) => format!(" {sig}"),
                (None, Some(code)) => format!(" {code}"),
                (None, None) => String::new(),
            };
            ExitLine {
                when_ms: e.ended_at_ms,
                instance: e.instance,
                what: format!("{}{detail}", e.cause.as_str()),
                uptime_ms: (e.ended_at_ms - e.started_at_ms).max(0) as u64,
            }
        })
        .collect();
    (why, lines)
}
