//! Owns JavaScript ecosystem files (`.js`, `.cjs`, `.mjs`) and `.json5` files: evaluating them
//! with node as PM2 does, or reading a plain literal when node is not installed, then loading
//! the resulting JSON through the same loader as YAML, with each problem pointed back at the
//! line of the JS file where its key is written.
//!
//! Evaluation runs `node` as a child process, so only the CLI calls this (the daemon never
//! loads files): with the caller's environment, the file's folder as working directory, under a
//! time limit (`SVCTL_JS_TIMEOUT_MS`, default 10 s; node is killed by pid when it passes) and an
//! output cap of 16 MiB (reading stops there and node is killed).

use super::js_literal::{self, NotLiteral};
use super::js_text::{self, Place, Role, Seg};
use super::{ConfigError, LoadOptions, Loaded, Problem};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The time limit when `SVCTL_JS_TIMEOUT_MS` does not set one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What node may print (on stdout or on stderr) before it is stopped.
pub const MAX_OUTPUT: usize = 16 * 1024 * 1024;

/// How much of node's stderr is kept to show.
const STDERR_TAIL: usize = 64 * 1024;

/// Separates what the file printed itself from the result on node's stdout.
const MARK: &str = "\u{1}svctl-ecosystem-result\u{1}";

/// The script node runs: load the file as PM2 does (require, then import() for ES modules),
/// await a promise, take `export default`, map PM2's old `pm2:` key to `apps`, and print a
/// header (how it was exported, what it is, its keys) and the value as JSON after the mark.
const SCRIPT: &str = r#"'use strict';
const file = process.argv[1], mark = process.argv[2];
const url = require('url');
const kind = (v) => v === null ? 'null' : Array.isArray(v) ? 'an array' : ({
  string: 'a string', number: 'a number', boolean: 'a boolean', function: 'a function',
  undefined: 'undefined', bigint: 'a number', symbol: 'a symbol', object: 'an object' })[typeof v];
(async () => {
  let how = 'module.exports', m;
  const esm = async () => { how = 'export default'; return import(url.pathToFileURL(file).href); };
  if (file.endsWith('.mjs')) m = await esm();
  else {
    try { m = require(file); }
    catch (e) {
      if (!e || (e.code !== 'ERR_REQUIRE_ESM' && e.code !== 'ERR_REQUIRE_ASYNC_MODULE')) throw e;
      m = await esm();
    }
  }
  if (m && Object.prototype.toString.call(m) === '[object Module]') {
    how = 'export default';
    m = 'default' in m ? m.default : Object.assign({}, m);
  }
  if (m && typeof m.then === 'function') m = await m;
  if (kind(m) === 'an object' && !('apps' in m) && Array.isArray(m.pm2)) m = { apps: m.pm2 };
  const head = { how, kind: kind(m), keys: kind(m) === 'an object' ? Object.keys(m) : [] };
  const body = m === undefined ? 'null' : JSON.stringify(m, null, 2);
  process.stdout.write('\n' + mark + JSON.stringify(head) + '\n' + body + '\n', () => process.exit(0));
})();
"#;

/// Whether `path` is a file for this module (by its extension).
pub(crate) fn handles(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("js" | "cjs" | "mjs" | "json5")
    )
}

/// Loads a JS or JSON5 ecosystem file whose text is `text`.
pub(crate) fn load(path: &Path, text: &str, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    let is_json5 = path.extension().is_some_and(|e| e == "json5");
    let json = if is_json5 {
        literal(path, text, false)?
    } else {
        match evaluate(path) {
            Ok(json) => json,
            Err(Eval::NoNode) => literal(path, text, true)?,
            Err(Eval::Failed(why)) => {
                return Err(ConfigError::Evaluation {
                    path: path.to_path_buf(),
                    why,
                });
            }
        }
    };
    load_json(path, text, &json, opts)
}

/// Loads `json`, the value of the JS file `path` whose text is `text`, through the YAML
/// loader; its problems and warnings point at the JS file's lines.
pub(super) fn load_json(
    path: &Path,
    text: &str,
    json: &str,
    opts: &LoadOptions,
) -> Result<Loaded, ConfigError> {
    let result = super::load_str(json, path, opts);
    let js = Locator::new(text);
    let evaluated = Locator::new(json);
    match result {
        Ok(mut loaded) => {
            for w in &mut loaded.warnings {
                *w = remap_warning(w, path, &evaluated, &js);
            }
            Ok(loaded)
        }
        Err(ConfigError::Invalid { file, mut problems }) => {
            for p in &mut problems {
                let (line, column) = js.find(&evaluated, p).unwrap_or((0, 0));
                (p.line, p.column) = (line, column);
            }
            problems.sort_by_key(|p| (p.line, p.column));
            Err(ConfigError::Invalid { file, problems })
        }
        Err(other) => Err(other),
    }
}

/// The JSON of a file read as a plain literal (node absent, or a `.json5` file).
pub(super) fn literal(path: &Path, text: &str, framed: bool) -> Result<String, ConfigError> {
    let tokens = js_text::lex(text);
    let invalid = |line: u64, column: u64, message: String| ConfigError::Invalid {
        file: path.to_path_buf(),
        problems: vec![Problem {
            line,
            column,
            field: None,
            message,
            hint: None,
        }],
    };
    if let Some(line) = js_literal::too_deep(&tokens) {
        return Err(invalid(
            line,
            1,
            format!(
                "nested deeper than {} levels; svctl reads no such file",
                js_literal::MAX_DEPTH
            ),
        ));
    }
    let source = match js_literal::literal_text(text, &tokens, framed) {
        Ok(source) => source,
        Err(NotLiteral::NeedsNode(n)) => {
            return Err(ConfigError::NeedsNode {
                path: path.to_path_buf(),
                why: format!("it uses {} at line {}", n.what, n.line),
            });
        }
        Err(NotLiteral::NoExport) => {
            return Err(ConfigError::Evaluation {
                path: path.to_path_buf(),
                why: "it has no `module.exports =` or `export default`, so it gives no apps".into(),
            });
        }
    };
    match json5::from_str::<js_literal::Value>(&source) {
        Ok(v) => Ok(v.to_json_text()),
        Err(e) => {
            let (line, column) = e
                .position()
                .map_or((1, 1), |p| (p.line as u64 + 1, p.column as u64 + 1));
            let what = e.code().map_or_else(|| e.to_string(), |c| c.to_string());
            Err(invalid(
                line,
                column,
                format!("not a valid object literal: {what}"),
            ))
        }
    }
}

enum Eval {
    /// `node` is not on PATH.
    NoNode,
    /// Why node gave no usable value.
    Failed(String),
}

/// The time limit: `SVCTL_JS_TIMEOUT_MS`, else [`DEFAULT_TIMEOUT`].
fn time_limit() -> Duration {
    std::env::var("SVCTL_JS_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

enum Event {
    Closed,
    Capped(Stream),
}

/// Runs node on the file; the JSON of its value.
fn evaluate(path: &Path) -> Result<String, Eval> {
    let file = crate::paths::absolute(path);
    let dir = file
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let mut child = match Command::new("node")
        .arg("-e")
        .arg(SCRIPT)
        .arg("--")
        .arg(&file)
        .arg(MARK)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Eval::NoNode),
        Err(e) => return Err(Eval::Failed(format!("cannot run node: {e}"))),
    };
    let limit = time_limit();
    let deadline = Instant::now() + limit;
    let (tx, rx) = mpsc::channel();
    let out = Arc::new(Mutex::new(Vec::new()));
    let err = Arc::new(Mutex::new(Vec::new()));
    if let Some(pipe) = child.stdout.take() {
        read_capped(pipe, Stream::Out, out.clone(), tx.clone());
    }
    if let Some(pipe) = child.stderr.take() {
        read_capped(pipe, Stream::Err, err.clone(), tx);
    }
    let pid = child.id();
    let stderr = || node_stderr(&err.lock().unwrap_or_else(|e| e.into_inner()));
    let mut open = 2;
    let status = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Event::Closed) => {
                open -= 1;
                if open == 0 {
                    break wait_until(&mut child, deadline);
                }
            }
            Ok(Event::Capped(stream)) => {
                end(&mut child);
                let which = if stream == Stream::Out {
                    "stdout"
                } else {
                    "stderr"
                };
                return Err(Eval::Failed(format!(
                    "node printed more than {} MiB on its {which} while evaluating it; svctl \
                     stopped reading and ended node (pid {pid}). An ecosystem file should \
                     only build its apps, not print{}",
                    MAX_OUTPUT >> 20,
                    shown(&stderr())
                )));
            }
            Err(_) => break None,
        }
    };
    let Some(status) = status.or_else(|| child.try_wait().ok().flatten()) else {
        end(&mut child);
        return Err(Eval::Failed(format!(
            "node did not finish evaluating it within {} (the limit; set SVCTL_JS_TIMEOUT_MS \
             to change it), so svctl ended node (pid {pid}). Does the file loop, or wait for \
             a server, a timer or input?{}",
            seconds(limit),
            shown(&stderr())
        )));
    };
    if open > 0 {
        return Err(Eval::Failed(format!(
            "node exited ({}) but a process it started kept its output open past the time \
             limit ({})",
            describe(status),
            seconds(limit)
        )));
    }
    if !status.success() {
        return Err(Eval::Failed(format!(
            "node could not evaluate it ({}){}",
            describe(status),
            shown(&stderr())
        )));
    }
    let out = String::from_utf8_lossy(&out.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    let Some((_, result)) = out.rsplit_once(MARK) else {
        return Err(Eval::Failed(format!(
            "node exited without giving the file's value (does the file call process.exit?){}",
            shown(&stderr())
        )));
    };
    let (head, body) = result.split_once('\n').unwrap_or((result, "null"));
    check_shape(head)?;
    Ok(body.to_string())
}

/// Refuses a value that cannot hold apps, saying what it is.
fn check_shape(head: &str) -> Result<(), Eval> {
    #[derive(serde::Deserialize)]
    struct Head {
        how: String,
        kind: String,
        keys: Vec<String>,
    }
    let head: Head = serde_json::from_str(head)
        .map_err(|e| Eval::Failed(format!("svctl could not read node's answer: {e}")))?;
    let has = |k: &str| head.keys.iter().any(|x| x == k);
    let how = head.how;
    match head.kind.as_str() {
        "an array" => Ok(()),
        "an object" if has("apps") || has("script") || has("exec") || has("name") => Ok(()),
        "an object" if head.keys.is_empty() => Err(Eval::Failed(format!(
            "{how} is an empty object; it needs an `apps` list"
        ))),
        "an object" => {
            let mut keys: Vec<&str> = head.keys.iter().map(String::as_str).take(10).collect();
            if head.keys.len() > 10 {
                keys.push("…");
            }
            Err(Eval::Failed(format!(
                "{how} is an object with keys {} but no `apps`",
                keys.join(", ")
            )))
        }
        other => Err(Eval::Failed(format!(
            "{how} is {other}; it needs to be an object with an `apps` list, or a list of apps"
        ))),
    }
}

/// Reads a pipe into `into` until it closes or passes [`MAX_OUTPUT`]; stderr keeps only its
/// last [`STDERR_TAIL`] bytes.
fn read_capped(
    mut pipe: impl Read + Send + 'static,
    stream: Stream,
    into: Arc<Mutex<Vec<u8>>>,
    tx: mpsc::Sender<Event>,
) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Event::Closed);
                    return;
                }
                Ok(n) => {
                    total += n;
                    if total > MAX_OUTPUT {
                        let _ = tx.send(Event::Capped(stream));
                        return;
                    }
                    let mut v = into.lock().unwrap_or_else(|e| e.into_inner());
                    v.extend_from_slice(&buf[..n]);
                    if stream == Stream::Err && v.len() > STDERR_TAIL {
                        let cut = v.len() - STDERR_TAIL;
                        v.drain(..cut);
                    }
                }
            }
        }
    });
}

/// Waits for the child's exit until `deadline`; `None` when it is still running then.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Kills node (by its pid, SIGKILL) and reaps it.
fn end(child: &mut Child) {
    // An error means it has exited already; wait reaps it either way.
    let _ = child.kill();
    let _ = child.wait();
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    }
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Node's stderr as shown to the user: node's own internal stack frames left out.
fn node_stderr(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("at ") && (t.contains("node:internal") || t.contains("[eval]")))
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// `:\n` and node's stderr, indented; nothing when it printed nothing.
fn shown(stderr: &str) -> String {
    if stderr.is_empty() {
        return String::new();
    }
    let body: Vec<String> = stderr
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else {
                format!("  {l}")
            }
        })
        .collect();
    format!("; node said:\n{}", body.join("\n"))
}

/// Where keys and values are written in one text (the JS file, or the JSON evaluated from it).
struct Locator {
    places: Vec<Place>,
}

impl Locator {
    fn new(text: &str) -> Locator {
        Locator {
            places: js_text::places(&js_text::lex(text)),
        }
    }

    /// The place written at `line`:`column`.
    fn at(&self, line: u64, column: u64) -> Option<&Place> {
        self.places
            .iter()
            .find(|p| p.line == line && p.column == column)
    }

    /// The line and column in this (JS) text of a problem found in the evaluated JSON: the
    /// same path and role when the JS writes it literally; else the key by its name (the
    /// occurrence whose path ends most like the problem's, the first of equals).
    fn find(&self, evaluated: &Locator, p: &Problem) -> Option<(u64, u64)> {
        let place = evaluated.at(p.line, p.column)?;
        let exact = |path: &[Seg], role: Role| {
            self.places
                .iter()
                .rfind(|q| q.path == path && q.role == role)
        };
        let mut paths = vec![place.path.clone()];
        if let Some(Seg::Key(k)) = place.path.first()
            && k == "apps"
        {
            let mut old = place.path.clone();
            old[0] = Seg::Key("pm2".into());
            paths.push(old);
        }
        for path in &paths {
            if let Some(q) = exact(path, place.role).or_else(|| exact(path, Role::Key)) {
                return Some((q.line, q.column));
            }
        }
        // By name: the last key of the path.
        let cut = place.path.iter().rposition(|s| matches!(s, Seg::Key(_)))?;
        let wanted = &place.path[..=cut];
        let Seg::Key(name) = &wanted[cut] else {
            return None;
        };
        let score = |q: &Place| {
            q.path
                .iter()
                .rev()
                .zip(wanted.iter().rev())
                .take_while(|(a, b)| a == b)
                .count()
        };
        self.places
            .iter()
            .filter(|q| q.role == Role::Key && q.path.last() == Some(&Seg::Key(name.clone())))
            .fold(None, |best: Option<(&Place, usize)>, q| match best {
                Some((_, s)) if s >= score(q) => best,
                _ => Some((q, score(q))),
            })
            .map(|(q, _)| (q.line, q.column))
    }
}

/// A warning of the form `FILE:LINE:COLUMN: …` with its place moved to the JS file (or
/// without one when the JS does not write it literally).
fn remap_warning(w: &str, file: &Path, evaluated: &Locator, js: &Locator) -> String {
    let prefix = format!("{}:", file.display());
    let Some(rest) = w.strip_prefix(&prefix) else {
        return w.to_string();
    };
    let mut parts = rest.splitn(3, ':');
    let (Some(l), Some(c), Some(msg)) = (parts.next(), parts.next(), parts.next()) else {
        return w.to_string();
    };
    let (Ok(line), Ok(column)) = (l.parse::<u64>(), c.parse::<u64>()) else {
        return w.to_string();
    };
    let probe = Problem {
        line,
        column,
        field: None,
        message: String::new(),
        hint: None,
    };
    match js.find(evaluated, &probe) {
        Some((l, c)) => format!("{}:{l}:{c}:{msg}", file.display()),
        None => format!("{}:{msg}", file.display()),
    }
}
