//! Owns what the client writes: stdout through a locked handle, where a closed pipe
//! (`svctl list | head -1`) ends the command quietly with success, and `svctl: warning:` lines
//! on stderr. `print!`/`println!` are not used: they panic when the reader has gone.

use super::error::Failure;
use std::fmt::Display;
use std::io::{self, IsTerminal, Write};

/// Whether stdout is a terminal that wants colour.
pub fn color() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// stdout, locked for a batch of lines.
pub struct Out(io::StdoutLock<'static>);

impl Out {
    pub fn lock() -> Out {
        Out(io::stdout().lock())
    }

    /// Writes `text` and a newline.
    pub fn line(&mut self, text: impl Display) -> Result<(), Failure> {
        writeln!(self.0, "{text}").map_err(write_failure)
    }

    /// Writes `text` as it is.
    pub fn text(&mut self, text: &str) -> Result<(), Failure> {
        self.0.write_all(text.as_bytes()).map_err(write_failure)
    }

    pub fn flush(&mut self) -> Result<(), Failure> {
        self.0.flush().map_err(write_failure)
    }
}

/// Writes one line to stdout.
pub fn line(text: impl Display) -> Result<(), Failure> {
    let mut out = Out::lock();
    out.line(text)?;
    out.flush()
}

/// Writes `text` to stdout as it is.
pub fn text(text: &str) -> Result<(), Failure> {
    let mut out = Out::lock();
    out.text(text)?;
    out.flush()
}

/// Writes `v` as pretty JSON and a newline.
pub fn json<T: serde::Serialize>(v: &T) -> Result<(), Failure> {
    let text =
        serde_json::to_string_pretty(v).map_err(|e| Failure::failed_by("encoding JSON", &e))?;
    line(text)
}

/// Writes `v` as JSON on one line and a newline.
pub fn json_line<T: serde::Serialize>(v: &T) -> Result<(), Failure> {
    let text = serde_json::to_string(v).map_err(|e| Failure::failed_by("encoding JSON", &e))?;
    line(text)
}

/// Compact JSON (no whitespace outside strings, as serde_json writes it) indented as
/// [`json`] writes it: serde_json's pretty format, two spaces, `[]` and `{}` when empty. Lets
/// `list --json` print the daemon's text without decoding it; what is not compact JSON comes
/// out garbled, never a panic.
pub fn indent_json(compact: &str) -> String {
    let bytes = compact.as_bytes();
    let mut out = Vec::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.resize(out.len() + 2 * depth, b' ');
    };
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => {
                // A string is copied whole: its brackets, commas and colons are text.
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                out.extend_from_slice(&bytes[start..i]);
                continue;
            }
            b'[' | b'{' => {
                let close = if b == b'[' { b']' } else { b'}' };
                if bytes.get(i + 1) == Some(&close) {
                    out.extend_from_slice(&[b, close]);
                    i += 2;
                    continue;
                }
                out.push(b);
                depth += 1;
                newline(&mut out, depth);
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b',');
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b' ' | b'\n' | b'\t' | b'\r' => {}
            _ => out.push(b),
        }
        i += 1;
    }
    // Only ASCII was inserted, and strings were copied whole between ASCII quotes.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `svctl: warning: …` on stderr. A stderr that cannot be written is not worth failing for.
pub fn warning(text: impl Display) {
    let _ = writeln!(io::stderr().lock(), "svctl: warning: {text}");
}

/// `hint: …` on stderr, for a note that goes with what stdout shows.
pub fn hint(text: impl Display) {
    let _ = writeln!(io::stderr().lock(), "hint: {text}");
}

/// Prints a failure on stderr (nothing for a closed pipe).
pub fn report(f: &Failure) {
    let _ = io::stderr().lock().write_all(f.render().as_bytes());
}

fn write_failure(e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Failure::closed_pipe()
    } else {
        Failure::failed_by("writing to stdout", &e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::{LastExit, ProcessInfo};
    use crate::record::Cause;

    #[test]
    fn indenting_compact_json_matches_serde_jsons_pretty_format() {
        let mut a = ProcessInfo::example(0, "web", 0);
        a.health = Some("failing 1/3: \"GET /\" [500], {x}".to_string());
        a.notify_status = Some("ünï\\códe ✓\n\ttab".to_string());
        a.cpu_percent = Some(12.5);
        let mut b = ProcessInfo::example(1, "worker", 3);
        b.last_exit = Some(LastExit {
            cause: Cause::Signaled,
            exit_code: None,
            signal: Some("SIGKILL".to_string()),
            ended_at_ms: 1_796_207_528_529,
            error: None,
        });
        b.cpu_percent = Some(0.1);
        b.memory_bytes = Some(110_592);
        for v in [
            serde_json::to_value(vec![a.clone(), b.clone()]).unwrap(),
            serde_json::to_value(Vec::<ProcessInfo>::new()).unwrap(),
            serde_json::json!({"a": [], "b": {}, "c": [[1, 2], {"d": null}], "e": "[,:{}]"}),
        ] {
            let compact = serde_json::to_string(&v).unwrap();
            assert_eq!(
                indent_json(&compact),
                serde_json::to_string_pretty(&v).unwrap()
            );
        }
        let procs = vec![a, b];
        assert_eq!(
            indent_json(&serde_json::to_string(&procs).unwrap()),
            serde_json::to_string_pretty(&procs).unwrap()
        );
    }

    #[test]
    fn what_is_not_compact_json_is_no_panic() {
        for text in ["", "[", "]]]", "\"open", "{\"a\":\"\\", "\u{e9}"] {
            let _ = indent_json(text);
        }
    }
}
