//! Owns `reload-logs` (PM2's `reloadLogs`): the daemon reopens every log file at its path, for
//! logrotate's `postrotate`. It never starts a daemon: with none running no file is open, and
//! starting one would bring back every app that was running.

use crate::cli::error::Failure;
use crate::cli::output;
use crate::ipc::client::{Client, ClientError};
use crate::ipc::{Request, Response};
use crate::paths::Paths;

pub async fn reload_logs(paths: &Paths) -> Result<(), Failure> {
    let mut client = match Client::connect(paths).await {
        Ok(c) => c,
        Err(ClientError::NotRunning(_)) => {
            return output::line("[svctl] the daemon is not running: no log file is open");
        }
        Err(e) => return Err(e.into()),
    };
    match client.request(&Request::ReloadLogs).await? {
        Response::Done { message, .. } => output::line(format_args!("[svctl] {message}")),
        other => super::answer_error(other),
    }
}
