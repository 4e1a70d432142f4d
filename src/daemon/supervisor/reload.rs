//! Owns `reload` across instances: a rollout takes the target's instances `parallel` at a
//! time, hands each a `Reload` event (the state machine decides how: a new process beside
//! the old one, stop-first, or in place), starts the next once one is done, and stops at the
//! first failure, answering with the instance, the cause and its stderr tail. With specs from a
//! file, they replace the running ones first and new apps start as part of the rollout.

use super::targets::Key;
use super::{ReplyTx, RequestError, Supervisor};
use crate::config::AppSpec;
use crate::daemon::lifecycle::Event;
use crate::daemon::lifecycle::desired::AppRequest;
use crate::ipc::Response;
use std::collections::{BTreeMap, VecDeque};

/// One `reload` request in progress.
pub struct Rollout {
    label: String,
    queue: VecDeque<Key>,
    active: Vec<Key>,
    done: Vec<Key>,
    parallel: usize,
    pub reply: ReplyTx,
    /// The deployment this rollout carries out: its result is recorded when it ends.
    pub deployment: Option<u64>,
    /// Apps deleted by the deployment (`--prune`): the answer waits until they are gone.
    pub gone: Vec<Key>,
    /// `reloaded`, or `applied` for a deployment.
    pub verb: &'static str,
}

impl Rollout {
    pub(super) fn new(label: String, keys: Vec<Key>, parallel: u32, reply: ReplyTx) -> Rollout {
        Rollout {
            label,
            queue: keys.into(),
            active: Vec::new(),
            done: Vec::new(),
            parallel: parallel.max(1) as usize,
            reply,
            deployment: None,
            gone: Vec::new(),
            verb: "reloaded",
        }
    }
}

impl Supervisor {
    pub(super) fn reload(
        &mut self,
        target: Option<String>,
        apps: Vec<AppSpec>,
        parallel: u32,
        update_env: Option<BTreeMap<String, String>>,
        reply: ReplyTx,
    ) {
        if let Some(e) = apps.iter().find_map(|a| a.check().err()) {
            let _ = reply.send(Err(RequestError::BadRequest(e)));
            return;
        }
        let mut keys = match &target {
            Some(t) => match self.resolve(t) {
                Ok(k) => k,
                Err(e) => {
                    let _ = reply.send(Err(e));
                    return;
                }
            },
            None => Vec::new(),
        };
        let label = target.clone().unwrap_or_else(|| {
            let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
            names.join(", ")
        });
        for spec in apps {
            keys.extend(self.take_spec(spec));
        }
        if let Some(env) = &update_env {
            let mut names: Vec<String> = keys.iter().map(|(n, _)| n.clone()).collect();
            names.dedup();
            for n in names {
                self.set_base_env(&n, env);
            }
        }
        for (name, _) in &keys {
            self.set_desired(name, AppRequest::Run);
        }
        self.rollouts
            .push(Rollout::new(label, keys, parallel, reply));
    }

    /// A spec from a file replaces the running one (without restarting anything: the rollout
    /// does that); a new app is added stopped. Returns the instances to reload.
    pub(super) fn take_spec(&mut self, spec: AppSpec) -> Vec<Key> {
        let name = spec.name.clone();
        let count = spec.instances;
        let req = AppRequest::Apply {
            autostart: true,
            existed: true,
        };
        self.put_spec(spec, req);
        if let Some(a) = self.app_mut(&name) {
            a.stale = false;
        }
        (0..count).map(|i| (name.clone(), i)).collect()
    }

    /// Moves every rollout on after an event: finished instances make room for the next ones.
    pub(super) fn advance_rollouts(&mut self) {
        if self.rollouts.is_empty() {
            return;
        }
        for mut r in std::mem::take(&mut self.rollouts) {
            match self.advance(&mut r) {
                None => self.rollouts.push(r),
                Some(answer) => {
                    if let Some(id) = r.deployment {
                        let (ok, message) = match &answer {
                            Ok(Response::Done { message, .. }) => (true, message.clone()),
                            Ok(_) => (true, String::new()),
                            Err(e) => (false, e.to_string()),
                        };
                        self.end_deployment(id, ok, message);
                    }
                    let _ = r.reply.send(answer);
                }
            }
        }
    }

    /// `Some(answer)` once the rollout is over.
    fn advance(&mut self, r: &mut Rollout) -> Option<Result<Response, RequestError>> {
        loop {
            let mut failed = None;
            let mut finished = Vec::new();
            r.active.retain(|key| {
                let inst = self.app(&key.0).and_then(|a| a.insts.get(&key.1));
                match inst.map(|i| i.life.reload_outcome()) {
                    None | Some(Some(Ok(()))) => {
                        finished.push(key.clone());
                        false
                    }
                    Some(None) => true,
                    Some(Some(Err((run, cause)))) => {
                        failed.get_or_insert((key.clone(), run, cause));
                        false
                    }
                }
            });
            r.done.extend(finished);
            if let Some((key, run, cause)) = failed {
                // Apps with instances not replaced keep the new spec beside older processes.
                let left = r.queue.iter().chain(&r.active).chain(std::iter::once(&key));
                let names: Vec<String> = left.map(|(n, _)| n.clone()).collect();
                for n in names {
                    if let Some(a) = self.app_mut(&n) {
                        a.stale = true;
                    }
                }
                return Some(Err(RequestError::Refused(
                    self.reload_failure(&key, run, cause),
                )));
            }
            if r.active.len() >= r.parallel || r.queue.is_empty() {
                break;
            }
            while r.active.len() < r.parallel
                && let Some(key) = r.queue.pop_front()
            {
                self.dispatch(&key.0, key.1, Event::Reload);
                r.active.push(key);
            }
        }
        let gone = r.gone.iter().all(|(n, i)| {
            let inst = self.app(n).and_then(|a| a.insts.get(i));
            super::targets::WaitFor::Gone.reached(inst.map(|x| x.life.status()))
        });
        if r.queue.is_empty() && r.active.is_empty() && gone {
            return Some(Ok(Response::Done {
                message: format!("{} {}", r.verb, r.label),
                processes: self.processes_of(&r.done),
            }));
        }
        None
    }

    /// What a failed reload says: the instance, the cause, the probe's or the OS error, and
    /// the stderr tail of the new process.
    fn reload_failure(&self, key: &Key, run: u64, cause: crate::record::Cause) -> String {
        let inst = self.app(&key.0).and_then(|a| a.insts.get(&key.1));
        let mut msg = format!(
            "reload stopped at {}:{}: its new process (run {run}) ended as {cause}; what ran before keeps running",
            key.0, key.1
        );
        if let Some(inst) = inst {
            let detail = inst.last_exit.as_ref().and_then(|e| e.error.clone());
            if let Some(d) = detail.or_else(|| inst.last_probe_error.clone()) {
                msg.push_str(&format!(" ({d})"));
            }
            if let Some(tail) = inst.last_stderr.as_deref().filter(|t| !t.trim().is_empty()) {
                msg.push_str("\nstderr:\n");
                msg.push_str(tail.trim_end());
            }
        }
        msg
    }
}
