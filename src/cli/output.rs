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
