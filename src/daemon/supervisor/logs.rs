//! Owns the protocol's log requests: `logs` (the last lines of the target's files), `flush`
//! (emptying them while the apps keep writing) and `reload_logs` (reopening every open file
//! after logrotate moved it). The files are read, truncated and reopened on the blocking pool;
//! the actor only names them.

use super::{ReplyTx, RequestError, Supervisor};
use crate::ipc::{LogLine, LogSource, LogStreams, Response};
use crate::logs::{self, Stream};
use std::path::PathBuf;

impl Supervisor {
    /// The log files of the target's instances (every app when `None`), with their identity.
    fn log_sources(
        &self,
        target: Option<&str>,
        streams: LogStreams,
    ) -> Result<Vec<(LogSource, PathBuf)>, RequestError> {
        let keys = self.resolve(target.unwrap_or("all"))?;
        let mut out = Vec::new();
        for (name, index) in keys {
            let Some(a) = self.app(&name) else { continue };
            let [o, e, _] = logs::files(&self.paths, &a.spec, index);
            for (stream, path) in [(Stream::Out, o), (Stream::Err, e)] {
                if let Some(p) = path
                    && streams.includes(stream)
                {
                    let source = LogSource {
                        app: name.clone(),
                        instance: index,
                        stream,
                    };
                    out.push((source, p));
                }
            }
        }
        Ok(out)
    }

    /// Answers with the last lines of each file, read off the actor's thread.
    pub(super) fn logs(
        &mut self,
        target: Option<&str>,
        lines: u32,
        streams: LogStreams,
        reply: ReplyTx,
    ) {
        let sources = match self.log_sources(target, streams) {
            Ok(s) => s,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut named = Vec::with_capacity(sources.len());
            for (source, path) in sources {
                let line = |text: String| LogLine {
                    app: source.app.clone(),
                    instance: source.instance,
                    stream: source.stream,
                    text,
                };
                match logs::tail::last_lines(&path, lines as usize) {
                    Ok(ls) => out.extend(
                        ls.into_iter()
                            .map(|l| line(String::from_utf8_lossy(&l).into_owned())),
                    ),
                    Err(e) => {
                        out.push(line(format!("[svctl] cannot read {}: {e}", path.display())))
                    }
                }
                named.push(source);
            }
            let _ = reply.send(Ok(Response::LogLines {
                lines: out,
                sources: named,
            }));
        });
    }

    /// Empties the target's log files and their rotated files while the apps keep writing.
    pub(super) fn flush(&mut self, target: Option<&str>, reply: ReplyTx) {
        let keys = match self.resolve(target.unwrap_or("all")) {
            Ok(k) => k,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let mut paths: Vec<PathBuf> = Vec::new();
        for (name, index) in &keys {
            if let Some(a) = self.app(name) {
                let files = logs::files(&self.paths, &a.spec, *index);
                paths.extend(files.into_iter().flatten());
            }
        }
        if target.is_none() {
            paths.push(self.paths.daemon_log.clone());
        }
        paths.sort();
        paths.dedup();
        // Open files are flushed through their writer (so appends go on at the new end).
        let files: Vec<_> = paths
            .iter()
            .map(|p| (p.clone(), self.logs.get(p)))
            .collect();
        let processes = self.processes_of(&keys);
        tokio::task::spawn_blocking(move || {
            let mut errors = Vec::new();
            for (p, open) in &files {
                let result = match open.as_ref().map(|f| f.lock()) {
                    Some(Ok(mut f)) => f.flush(),
                    _ => logs::file::flush_path(p),
                };
                if let Err(e) = result {
                    errors.push(format!("{}: {e}", p.display()));
                }
            }
            let answer = if errors.is_empty() {
                Ok(Response::Done {
                    message: format!("flushed {} log file(s)", files.len()),
                    processes,
                })
            } else {
                Err(RequestError::Internal(format!(
                    "flush failed for {}",
                    errors.join("; ")
                )))
            };
            let _ = reply.send(answer);
        });
    }

    /// Reopens every open log file at its path (logrotate's create mode). A path that cannot
    /// be opened is reported; its writer retries at each write and counts what it loses.
    pub(super) fn reload_logs(&mut self, reply: ReplyTx) {
        let files = self.logs.open_files();
        tokio::task::spawn_blocking(move || {
            let mut failed = Vec::new();
            for f in &files {
                let Ok(mut f) = f.lock() else { continue };
                if let Err(e) = f.reopen() {
                    failed.push(format!("{}: {e}", f.path().display()));
                }
            }
            let mut message = format!("reopened {} log file(s)", files.len() - failed.len());
            if !failed.is_empty() {
                message.push_str(&format!(
                    "; {} could not be opened (the apps keep running; their output is counted as lost until the path can be written): {}",
                    failed.len(),
                    failed.join("; ")
                ));
            }
            let _ = reply.send(Ok(Response::Done {
                message,
                processes: Vec::new(),
            }));
        });
    }
}
