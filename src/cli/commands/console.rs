//! Owns the operator commands beside the dashboard: `scale`, `signal`, `env`, and `bridge` (the
//! remote end of `-H`: standard input and output copied to this user's daemon socket).

use super::{act, answer_error, connect_reading};
use crate::cli::args::{EnvArgs, ScaleArgs, SignalArgs};
use crate::cli::error::Failure;
use crate::cli::output;
use crate::ipc::{Request, Response, RunEnv, ScaleTo};
use crate::paths::Paths;

/// What a masked value shows.
const MASK: &str = "***";

pub async fn scale(paths: &Paths, autostart: bool, a: &ScaleArgs) -> Result<(), Failure> {
    let to = ScaleTo::parse(&a.count).map_err(Failure::usage)?;
    let app = a.app.clone();
    act(paths, autostart, Request::Scale { app, to }).await
}

pub async fn signal(paths: &Paths, a: &SignalArgs) -> Result<(), Failure> {
    if crate::record::parse_signal(&a.signal).is_none() {
        return Err(
            Failure::usage(format!("`{}` is not a signal name or number", a.signal))
                .hint("e.g. SIGUSR2, USR2, HUP, 15; `kill -l` lists them"),
        );
    }
    let req = Request::Signal {
        signal: a.signal.clone(),
        target: a.target.clone(),
        group: a.group,
    };
    // Signalling never starts a daemon: there would be nothing to signal.
    act(paths, false, req).await
}

pub async fn env(paths: &Paths, a: &EnvArgs) -> Result<(), Failure> {
    let mut client = connect_reading(paths).await?;
    let runs = match client
        .request(&Request::Env {
            target: a.target.clone(),
        })
        .await?
    {
        Response::Env { runs } => runs,
        other => return answer_error(other),
    };
    let runs: Vec<RunEnv> = runs.into_iter().map(|r| mask(r, a.show_secrets)).collect();
    if a.json {
        return output::json(&runs);
    }
    if runs.is_empty() {
        return Err(Failure::failed(format!(
            "no instance of `{}` has been started yet",
            a.target
        )));
    }
    let mut out = output::Out::lock();
    for (n, r) in runs.iter().enumerate() {
        if n > 0 {
            out.line("")?;
        }
        let pid = r
            .pid
            .map_or("not running".to_string(), |p| format!("pid {p}"));
        out.line(format_args!(
            "# {}:{} (run {}, {pid})",
            r.name, r.instance, r.run
        ))?;
        for (k, v) in &r.env {
            out.line(format_args!("{k}={v}"))?;
        }
    }
    out.flush()
}

/// Masks the values of keys that look secret, unless `show` (`--show-secrets`).
fn mask(mut run: RunEnv, show: bool) -> RunEnv {
    if !show {
        for (k, v) in run.env.iter_mut() {
            if crate::deploy::is_secret(k) {
                *v = MASK.to_string();
            }
        }
    }
    run
}

/// `svctl bridge`: the frames of the ssh client that ran it go to this user's socket and back;
/// the daemon checks this process's uid as for any local client.
pub async fn bridge(paths: &Paths) -> Result<(), Failure> {
    let mut socket = match tokio::net::UnixStream::connect(&paths.socket).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(Failure::failed(format!(
                "the svctl daemon is not running on this host (socket {})",
                paths.socket.display()
            )));
        }
        Err(e) => return Err(Failure::failed_by("connecting to the daemon", &e)),
    };
    let mut stdio = tokio::io::join(tokio::io::stdin(), tokio::io::stdout());
    match tokio::io::copy_bidirectional(&mut stdio, &mut socket).await {
        Ok(_) => Ok(()),
        // The client went away mid-answer: nothing is left to tell anyone.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::failed_by("bridging to the daemon", &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_keys_are_masked_unless_asked() {
        let env = [
            ("API_TOKEN", "t"),
            ("db_password", "p"),
            ("SECRET_X", "s"),
            ("SSH_KEY", "k"),
            ("PORT", "3000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let run = RunEnv {
            name: "a".into(),
            instance: 0,
            run: 1,
            pid: None,
            env,
        };
        let masked = mask(run.clone(), false);
        assert_eq!(masked.env["PORT"], "3000");
        for k in ["API_TOKEN", "db_password", "SECRET_X", "SSH_KEY"] {
            assert_eq!(masked.env[k], MASK, "{k}");
        }
        assert_eq!(mask(run, true).env["API_TOKEN"], "t");
    }
}
