//! Owns `logs`: the last lines of an app's logs, then (with `--follow`) new lines as they come.

use super::answer_error;
use crate::cli::args::LogsArgs;
use crate::cli::error::Failure;
use crate::cli::output::{self, Out};
use crate::ipc::client::Client;
use crate::ipc::{LogLine, LogStreams, Request, Response};
use crate::paths::Paths;
use std::io::IsTerminal;

/// `logs`: only reads, so it never starts a daemon.
pub async fn logs(paths: &Paths, a: &LogsArgs) -> Result<(), Failure> {
    let follow = a.follow || (!a.no_follow && std::io::stdout().is_terminal());
    let streams = if a.err {
        LogStreams::Err
    } else if a.out {
        LogStreams::Out
    } else {
        LogStreams::Both
    };
    let mut client: Client = super::connect_reading(paths).await?;
    let req = Request::Logs {
        target: a.target.clone(),
        lines: a.lines,
        follow,
        streams,
    };
    let colored = output::color();
    let first = client.request(&req).await?;
    let Response::LogLines { lines, .. } = first else {
        return answer_error(first);
    };
    print_lines(&lines, a, colored)?;
    if !follow {
        return Ok(());
    }
    let mut reader_gone = stdout_reader_gone();
    loop {
        tokio::select! {
            next = client.next() => match next? {
                Some(Response::LogLines { lines, .. }) => print_lines(&lines, a, colored)?,
                Some(other) => return answer_error(other),
                None => return Ok(()),
            },
            // `svctl logs -f | head -1`: end when head does, not at the next line.
            Ok(()) = &mut reader_gone => return Ok(()),
        }
    }
}

/// Resolves when stdout can no longer be read: a pipe whose read end closed (POLLERR) or a
/// terminal that hung up (POLLHUP). A file never resolves it. The watching thread ends with the
/// process.
pub(super) fn stdout_reader_gone() -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut fd = libc::pollfd {
            fd: libc::STDOUT_FILENO,
            events: 0,
            revents: 0,
        };
        loop {
            // SAFETY: `fd` is one valid pollfd that lives across the call.
            let n = unsafe { libc::poll(&mut fd, 1, -1) };
            if n > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                let _ = tx.send(());
                return;
            }
            if n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return;
            }
        }
    });
    rx
}

/// Writes a batch of lines; a closed pipe ends `logs` (and a follow) quietly.
fn print_lines(lines: &[LogLine], a: &LogsArgs, colored: bool) -> Result<(), Failure> {
    let mut out = Out::lock();
    for l in lines {
        let stamp = if a.timestamp {
            format!("{} ", chrono::Local::now().format("%Y-%m-%d %H:%M:%S%.3f"))
        } else {
            String::new()
        };
        if a.raw {
            out.line(format_args!("{stamp}{}", l.text))?;
        } else if a.json {
            let text =
                serde_json::to_string(l).map_err(|e| Failure::failed_by("encoding JSON", &e))?;
            out.line(text)?;
        } else if colored && l.stream == crate::logs::Stream::Err {
            out.line(format_args!(
                "{stamp}\x1b[31m{}:{} |\x1b[0m {}",
                l.app, l.instance, l.text
            ))?;
        } else {
            out.line(format_args!("{stamp}{}:{} | {}", l.app, l.instance, l.text))?;
        }
    }
    out.flush()
}
