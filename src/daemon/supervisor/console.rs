//! Owns the operator requests of the console: `scale` (an app's instance count, through the same
//! spec-and-desired-state path as `start FILE`), `signal` (a signal to running instances) and
//! `env` (the environment each instance's run was started with).

use super::targets::{WaitFor, Waiter};
use super::{ReplyTx, RequestError, Supervisor};
use crate::daemon::lifecycle::Event;
use crate::daemon::lifecycle::desired::AppRequest;
use crate::ipc::{Response, RunEnv, ScaleTo};

impl Supervisor {
    /// `scale APP N|+N|-N`: the spec takes the new count through [`Supervisor::put_spec`] (stored,
    /// extra instances deleted); new instances start when the app should run. Answers once
    /// every instance added or removed has settled or is gone.
    pub(super) fn scale(&mut self, name: &str, to: ScaleTo, reply: ReplyTx) {
        let Some(app) = self.app(name).filter(|a| !a.desired.deleting()) else {
            let known = self.apps.iter().map(|a| a.spec.name.clone()).collect();
            let _ = reply.send(Err(RequestError::NotFound {
                message: format!("no app is called `{name}` (scale takes an app's name)"),
                known,
            }));
            return;
        };
        let current = app.spec.instances;
        let wanted = match to.apply(current) {
            Ok(n) => n,
            Err(why) => {
                let _ = reply.send(Err(RequestError::BadRequest(format!(
                    "cannot scale `{name}` from {current}: {why}"
                ))));
                return;
            }
        };
        let should_run = app.desired.should_run();
        let mut spec = app.spec.clone();
        spec.instances = wanted;
        let keys: Vec<(String, u32)> = (current.min(wanted)..current.max(wanted))
            .map(|i| (name.to_string(), i))
            .collect();
        // `Run` keeps the desired state as it is for an app that runs, and a stopped app
        // stays stopped: only its count changes.
        let req = if should_run {
            AppRequest::Run
        } else {
            AppRequest::Stop {
                left_running: false,
            }
        };
        self.put_spec(spec, req);
        if should_run {
            for i in current..wanted {
                self.dispatch(name, i, Event::Start);
            }
        }
        tracing::info!(app = name, from = current, to = wanted, "scaled");
        self.waiters.push(Waiter::new(
            keys,
            WaitFor::Settled,
            format!("scaled {name} from {current} to {wanted} instances"),
            reply,
            None,
        ));
    }

    /// `signal SIG TARGET`: sent at once to each running instance's main process (or group).
    pub(super) fn send_signal(&mut self, signal: &str, target: &str, group: bool, reply: ReplyTx) {
        let Some(sig) = crate::record::parse_signal(signal) else {
            let _ = reply.send(Err(RequestError::BadRequest(format!(
                "`{signal}` is not a signal name or number (e.g. SIGUSR2, HUP, 15)"
            ))));
            return;
        };
        let keys = match self.resolve(target) {
            Ok(k) => k,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let pids: Vec<i32> = keys
            .iter()
            .filter_map(|(n, i)| self.app(n)?.insts.get(i)?.run.pid)
            .collect();
        if pids.is_empty() {
            let _ = reply.send(Err(RequestError::Refused(format!(
                "`{target}` has no running process to signal"
            ))));
            return;
        }
        let mut failed = Vec::new();
        for pid in &pids {
            if let Err(e) = self.spawner.send(*pid, sig, group) {
                failed.push(format!("pid {pid}: {e}"));
            }
        }
        if !failed.is_empty() {
            let _ = reply.send(Err(RequestError::Refused(format!(
                "sending {sig} failed: {}",
                failed.join("; ")
            ))));
            return;
        }
        let whom = if group { "process group" } else { "process" };
        let processes = self.processes_of(&keys);
        let _ = reply.send(Ok(Response::Done {
            message: format!(
                "sent {sig} to the {whom} of {} instance(s) of {target}",
                pids.len()
            ),
            processes,
        }));
    }

    /// `env TARGET`: per instance, the environment of its current run, or of its last one.
    pub(super) fn env(&self, target: &str) -> Result<Response, RequestError> {
        let keys = self.resolve(target)?;
        let runs = keys
            .iter()
            .filter_map(|(n, i)| {
                let inst = self.app(n)?.insts.get(i)?;
                let (run, pid, env) = match (&inst.run.env, &inst.last_env) {
                    (Some(env), _) => (inst.run.number, inst.run.pid, env),
                    (None, Some((run, env))) => (*run, None, env),
                    (None, None) => return None,
                };
                Some(RunEnv {
                    name: n.clone(),
                    instance: *i,
                    run,
                    pid,
                    env: env.full(),
                })
            })
            .collect();
        Ok(Response::Env { runs })
    }
}
