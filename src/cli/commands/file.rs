//! Owns ecosystem files as targets: reading one (from a path, or standard input for `-`), and
//! `stop FILE`, `delete FILE`, `reset FILE`, which act on the apps the file declares.

use super::{ListFormat, answer_error, print_list};
use crate::cli::error::Failure;
use crate::cli::output;
use crate::config::{self, LoadOptions, Loaded};
use crate::ipc::client::Client;
use crate::ipc::{Request, Response};
use crate::paths::Paths;
use std::io::Read;
use std::path::Path;

/// Names of standard input: read as an ecosystem file, never taken for a program.
pub fn is_stdin(target: &str) -> bool {
    matches!(target, "-" | "/dev/stdin" | "/dev/fd/0" | "/proc/self/fd/0")
}

/// Whether a target is an ecosystem file (by its name) or standard input.
pub fn is_file_target(target: &str) -> bool {
    is_stdin(target) || config::is_ecosystem_path(Path::new(target))
}

/// How a file target is named in messages.
fn shown(target: &str) -> &str {
    if is_stdin(target) {
        "standard input"
    } else {
        target
    }
}

/// Loads the apps of a file target. Apps read from standard input have no file to read again
/// (`restart --env` needs one).
pub fn load(target: &str, opts: &LoadOptions) -> Result<Loaded, Failure> {
    if !is_stdin(target) {
        return config::load_file(Path::new(target), opts).map_err(|e| Failure::config(&e));
    }
    let mut text = String::new();
    std::io::stdin()
        .take(config::MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| Failure::usage_by("reading the ecosystem file from standard input", &e))?;
    if text.len() as u64 > config::MAX_FILE_BYTES {
        return Err(Failure::usage(format!(
            "standard input: ecosystem files are limited to {} bytes",
            config::MAX_FILE_BYTES
        )));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut loaded =
        config::load_str(text, Path::new("<stdin>"), opts).map_err(|e| Failure::config(&e))?;
    for app in &mut loaded.apps {
        app.source = None;
    }
    Ok(loaded)
}

/// What `stop`, `delete` and `reset` do to one app.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    Stop,
    Delete,
    Reset,
}

impl Action {
    fn request(self, target: String) -> Request {
        match self {
            Action::Stop => Request::Stop { target },
            Action::Delete => Request::Delete { target },
            Action::Reset => Request::Reset { target },
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Action::Stop => "stopped",
            Action::Delete => "deleted",
            Action::Reset => "reset",
        }
    }
}

/// `stop|delete|reset FILE`: the action on each app of the file the daemon knows, at once.
pub async fn act_on_file(
    paths: &Paths,
    autostart: bool,
    target: &str,
    action: Action,
) -> Result<(), Failure> {
    let loaded = load(target, &LoadOptions::default())?;
    let target = shown(target);
    let mut client = Client::connect_or_start(paths, autostart).await?;
    let known: Vec<String> = match client.list().await? {
        Response::List { processes, .. } => processes.into_iter().map(|p| p.name).collect(),
        other => return answer_error(other),
    };
    let (names, unknown): (Vec<String>, Vec<String>) = loaded
        .apps
        .into_iter()
        .map(|s| s.name)
        .partition(|n| known.contains(n));
    if names.is_empty() {
        return Err(Failure::failed(format!(
            "none of the apps of {target} is known to the daemon: {}",
            unknown.join(", ")
        ))
        .hint(format!("`svctl start {target}` starts them")));
    }
    // One connection per app, so slow stops overlap instead of adding up.
    let answers = futures_util::future::join_all(names.iter().map(|name| async move {
        let mut c = Client::connect(paths).await?;
        c.request(&action.request(name.clone())).await
    }))
    .await;
    for answer in answers {
        match answer? {
            Response::Done { .. } => {}
            other => return answer_error(other),
        }
    }
    let mut message = format!("[svctl] {} {} ({target})", action.verb(), names.join(", "));
    if !unknown.is_empty() {
        message.push_str(&format!("; not known, left alone: {}", unknown.join(", ")));
    }
    output::line(message)?;
    print_list(&mut client, ListFormat::Table).await
}
