//! Owns the daemon's open log files: one shared writer per path (streams of several instances
//! or apps may write to the same file), opened on first use and closed when the last stream
//! writing to it ends; the list of open files for `reload-logs`; and the wiring of an
//! instance's two streams to their files.

use super::format::{DateFormat, LineFormat};
use super::ready::ReadyLine;
use super::{Counters, LiveFeed, LogFile, Stream, StreamOutput, Tail};
use crate::config::AppSpec;
use crate::paths::Paths;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

pub struct Registry {
    paths: Paths,
    /// Rotation of apps that do not set theirs.
    max_size: u64,
    retain: u32,
    live: LiveFeed,
    open: HashMap<PathBuf, Weak<Mutex<LogFile>>>,
    /// The size of `open` at which its dead entries are swept next.
    sweep_at: usize,
}

impl Registry {
    pub fn new(paths: Paths, max_size: u64, retain: u32, live: LiveFeed) -> Registry {
        Registry {
            paths,
            max_size,
            retain,
            live,
            open: HashMap::new(),
            sweep_at: 64,
        }
    }

    /// The log files of instance `index` that no stream has open, to be created before its
    /// process starts (see [`super::file::create_missing`]): the writers made here do not
    /// create them.
    pub fn unopened(&self, spec: &AppSpec, index: u32) -> Vec<PathBuf> {
        super::files(&self.paths, spec, index)
            .into_iter()
            .flatten()
            .filter(|p| self.get(p).is_none())
            .collect()
    }

    /// The writer of `path` if a stream has it open.
    pub fn get(&self, path: &Path) -> Option<Arc<Mutex<LogFile>>> {
        self.open.get(path).and_then(Weak::upgrade)
    }

    /// Every file a stream has open (for `reload-logs`).
    pub fn open_files(&mut self) -> Vec<Arc<Mutex<LogFile>>> {
        self.open.retain(|_, w| w.strong_count() > 0);
        self.open.values().filter_map(Weak::upgrade).collect()
    }

    /// The shared writer of a log file, opened on first use.
    fn file(&mut self, path: &Path, spec: &AppSpec) -> Arc<Mutex<LogFile>> {
        if let Some(f) = self.get(path) {
            return f;
        }
        // Writers of stopped streams are forgotten now and then, not at every call: a start
        // of a thousand apps would walk every open file once per file.
        if self.open.len() >= self.sweep_at {
            self.open.retain(|_, w| w.strong_count() > 0);
            self.sweep_at = (self.open.len() * 2).max(64);
        }
        let max_size = match spec.log_max_size {
            Some(0) => None,
            Some(n) => Some(n),
            None => Some(self.max_size),
        };
        let file = LogFile::new(
            path.to_path_buf(),
            max_size,
            spec.log_retain.unwrap_or(self.retain),
        );
        let f = Arc::new(Mutex::new(file));
        self.open.insert(path.to_path_buf(), Arc::downgrade(&f));
        f
    }

    /// Where each stream of instance `index` goes, and how.
    pub fn outputs(
        &mut self,
        spec: &AppSpec,
        index: u32,
        counters: (Arc<Counters>, Arc<Counters>),
        tail: Arc<Mutex<Tail>>,
        ready: Option<ReadyLine>,
    ) -> (StreamOutput, StreamOutput) {
        let [out, err, combined] = super::files(&self.paths, spec, index);
        let shared = combined.is_some()
            || (!super::split_per_instance(spec) && spec.instances > 1)
            || (out.is_some() && out == err);
        let app: Arc<str> = Arc::from(spec.name.as_str());
        let mut make = |stream: Stream, own: Option<PathBuf>, counters: Arc<Counters>| {
            let targets: Vec<Arc<Mutex<LogFile>>> = own
                .iter()
                .chain(combined.iter())
                .map(|p| self.file(p, spec))
                .collect();
            let format = if spec.log_json {
                LineFormat::Json {
                    app: spec.name.clone(),
                    instance: index,
                    stream: stream.as_str(),
                    date: spec.log_date_format.as_deref().map(DateFormat::parse),
                }
            } else if let Some(f) = &spec.log_date_format {
                LineFormat::Timestamped(DateFormat::parse(f))
            } else {
                LineFormat::Raw
            };
            StreamOutput {
                whole_lines: shared || format != LineFormat::Raw,
                targets,
                format,
                counters,
                tail: (stream == Stream::Err).then(|| tail.clone()),
                live: self.live.clone(),
                app: app.clone(),
                instance: index,
                stream,
                ready: ready.as_ref().map(ReadyLine::watcher),
            }
        };
        (
            make(Stream::Out, out, counters.0),
            make(Stream::Err, err, counters.1),
        )
    }
}
