//! Owns how a failure reaches the user and which exit code it maps to: one first line
//! `svctl: error: CONTEXT: CAUSE` (the whole cause chain, joined with `: `), then a report
//! printed as is (a configuration file's problems), then an optional `hint: …` line.
//!
//! Exit codes: 0 ok (and a closed stdout pipe), 1 refused or failed, 2 usage or configuration.

use crate::config::ConfigError;
use std::error::Error;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Refused or failed: exit 1.
    Failed,
    /// A usage or configuration error: exit 2.
    Usage,
    /// stdout was closed (`| head`): nothing more to say, exit 0.
    ClosedPipe,
}

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    kind: Kind,
    /// `CONTEXT: CAUSE` on one line.
    message: String,
    /// Lines printed as is after the first (a configuration report).
    report: Option<String>,
    hint: Option<String>,
}

impl Failure {
    fn new(kind: Kind, message: String) -> Failure {
        // The first line is one line; anything after it is a report.
        let (message, report) = match message.split_once('\n') {
            Some((first, rest)) => (first.to_string(), Some(rest.to_string())),
            None => (message, None),
        };
        Failure {
            kind,
            message,
            report,
            hint: None,
        }
    }

    /// Refused or failed (exit 1).
    pub fn failed(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Failed, message.into())
    }

    /// A usage or configuration error (exit 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Usage, message.into())
    }

    /// Failed while doing `context`, because of `err` and its sources.
    pub fn failed_by(context: impl std::fmt::Display, err: &(dyn Error + 'static)) -> Failure {
        Failure::failed(format!("{context}: {}", chain(err)))
    }

    /// A usage error while doing `context`, because of `err` and its sources.
    pub fn usage_by(context: impl std::fmt::Display, err: &(dyn Error + 'static)) -> Failure {
        Failure::usage(format!("{context}: {}", chain(err)))
    }

    /// stdout was closed by its reader: a quiet, successful end.
    pub fn closed_pipe() -> Failure {
        Failure::new(Kind::ClosedPipe, String::new())
    }

    /// An ecosystem file that cannot be used (exit 2): a file with problems gets one line, then
    /// its file:line:column report as the loader wrote it.
    pub fn config(err: &ConfigError) -> Failure {
        match err {
            ConfigError::Invalid { file, .. } => {
                let mut f = Failure::usage(format!("{}: invalid ecosystem file", file.display()));
                f.report = Some(err.to_string());
                f
            }
            other => Failure::usage(chain(other)),
        }
    }

    /// Adds a `hint: …` line.
    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_closed_pipe(&self) -> bool {
        self.kind == Kind::ClosedPipe
    }

    pub fn exit_code(&self) -> ExitCode {
        match self.kind {
            Kind::ClosedPipe => ExitCode::SUCCESS,
            Kind::Failed => ExitCode::from(1),
            Kind::Usage => ExitCode::from(2),
        }
    }

    /// What goes to stderr, each line ended; empty for a closed pipe.
    pub fn render(&self) -> String {
        if self.is_closed_pipe() {
            return String::new();
        }
        let mut out = format!("svctl: error: {}\n", self.message);
        if let Some(report) = &self.report {
            out.push_str(report.trim_end_matches('\n'));
            out.push('\n');
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("hint: {hint}\n"));
        }
        out
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<crate::ipc::client::ClientError> for Failure {
    fn from(e: crate::ipc::client::ClientError) -> Failure {
        Failure::failed(chain(&e))
    }
}

/// An error and its sources joined with `: `. A source whose text the message already shows
/// (`{source}` in a thiserror message, or a transparent wrapper) is not repeated.
pub fn chain(err: &(dyn Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[derive(Debug, thiserror::Error)]
    #[error("opening the store")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("reading svctl.db")]
    struct Middle(#[source] io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read it: {0}")]
    struct Inline(#[source] io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error(transparent)]
    struct Transparent(#[from] Inline);

    fn denied() -> io::Error {
        io::Error::new(io::ErrorKind::PermissionDenied, "permission denied")
    }

    #[test]
    fn the_chain_is_joined_with_colons() {
        let e = Outer(Middle(denied()));
        assert_eq!(
            chain(&e),
            "opening the store: reading svctl.db: permission denied"
        );
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        assert_eq!(
            chain(&Inline(denied())),
            "cannot read it: permission denied"
        );
        let t = Transparent(Inline(denied()));
        assert_eq!(chain(&t), "cannot read it: permission denied");
    }

    #[test]
    fn a_failure_is_one_error_line_then_the_report_then_the_hint() {
        let f = Failure::failed_by("stop", &Outer(Middle(denied()))).hint("try again");
        assert_eq!(
            f.render(),
            "svctl: error: stop: opening the store: reading svctl.db: permission denied\nhint: try again\n"
        );
        let f = Failure::usage("a.yaml: invalid ecosystem file\na.yaml:1:1: bad\n1 problem");
        assert_eq!(
            f.render(),
            "svctl: error: a.yaml: invalid ecosystem file\na.yaml:1:1: bad\n1 problem\n"
        );
        assert_eq!(f.exit_code(), ExitCode::from(2));
    }

    #[test]
    fn a_closed_pipe_is_a_quiet_success() {
        let f = Failure::closed_pipe();
        assert_eq!(f.render(), "");
        assert_eq!(f.exit_code(), ExitCode::SUCCESS);
    }

    #[test]
    fn an_invalid_file_keeps_its_report() {
        let err = crate::config::load_str(
            "apps:\n  - name: a\n    script: sleep\n    instance: 2\n",
            std::path::Path::new("eco.yaml"),
            &crate::config::LoadOptions::default(),
        )
        .expect_err("invalid");
        let text = Failure::config(&err).render();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("svctl: error: eco.yaml: invalid ecosystem file")
        );
        assert!(
            lines
                .next()
                .is_some_and(|l| l.starts_with("eco.yaml:4:5: ")),
            "{text}"
        );
    }
}
