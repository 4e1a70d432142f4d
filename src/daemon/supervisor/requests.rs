//! Owns the protocol's requests that change apps: each is turned into lifecycle events for the
//! instances its target names and a change of the app's desired state, and answered once the
//! instances reach the wanted state (a waiter). Failures are [`RequestError`]s.

use super::app::{App, Inst, policy_of};
use super::targets::{self, Key, WaitFor, Waiter};
use super::{ReplyTx, RequestError, Supervisor};
use crate::config::AppSpec;
use crate::daemon::lifecycle::desired::{self, AppRequest};
use crate::daemon::lifecycle::{Event, Instance};
use crate::ipc::{Request, Response};
use crate::record::Cause;
use crate::store::Write;
use std::collections::BTreeMap;
use std::sync::Arc;

impl Supervisor {
    pub(super) fn request(&mut self, req: Request, reply: ReplyTx) {
        let refuse_when_stopping = matches!(
            req,
            Request::Start { .. }
                | Request::StartTarget { .. }
                | Request::Restart { .. }
                | Request::Reload { .. }
                | Request::Apply { .. }
                | Request::Scale { .. }
        );
        if self.shutting_down && refuse_when_stopping {
            let _ = reply.send(Err(RequestError::Refused(
                "the daemon is shutting down".into(),
            )));
            return;
        }
        match req {
            Request::Hello { .. } => {
                let _ = reply.send(Err(RequestError::BadRequest(
                    "hello is only valid once".into(),
                )));
            }
            Request::Ping => {
                let _ = reply.send(Ok(Response::Pong {
                    version: crate::VERSION.to_string(),
                    pid: std::process::id(),
                    uptime_ms: (crate::store::now_ms() - self.started_wall_ms).max(0) as u64,
                    home: self.paths.home.display().to_string(),
                    isolation: self.resources.isolation.describe(),
                    health: self.health(),
                }));
            }
            Request::List | Request::Describe { .. } => self.view(req, reply),
            Request::Start { apps, meta } => {
                if let Some(e) = apps.iter().find_map(|a| a.check().err()) {
                    let _ = reply.send(Err(RequestError::BadRequest(e)));
                    return;
                }
                let deployment = meta.map(|m| self.begin_deployment(m, &apps, false));
                self.start_specs(apps, reply, deployment)
            }
            Request::Plan { apps, prune } => self.plan_request(&apps, prune, reply),
            Request::Apply {
                apps,
                prune,
                parallel,
                meta,
            } => self.apply(apps, prune, parallel, meta, reply),
            Request::StartTarget { target } => {
                self.on_targets(&target, reply, WaitFor::Settled, "started", |s, n, i| {
                    s.set_desired(n, AppRequest::Run);
                    s.dispatch(n, i, Event::Start);
                })
            }
            Request::Stop { target } => {
                self.on_targets(&target, reply, WaitFor::Down, "stopped", |s, n, i| {
                    s.dispatch(n, i, Event::Stop(Cause::Stopped));
                    s.hold_stopped(n, i, true);
                    let left_running = s.app(n).is_some_and(|a| {
                        desired::left_running(a.insts.values().map(|x| x.life.status()))
                    });
                    s.set_desired(n, AppRequest::Stop { left_running });
                })
            }
            Request::Restart { target, update_env } => {
                self.on_targets(&target, reply, WaitFor::Settled, "restarted", |s, n, i| {
                    if let Some(env) = &update_env {
                        s.set_base_env(n, env);
                    }
                    s.set_desired(n, AppRequest::Run);
                    s.dispatch(n, i, Event::Restart(Cause::Restarted));
                })
            }
            Request::Delete { target } => {
                if target.contains(':') {
                    let _ = reply.send(Err(RequestError::BadRequest(
                        "delete removes whole apps: name an app, a namespace or `all`, not an instance".into(),
                    )));
                    return;
                }
                self.on_targets(&target, reply, WaitFor::Gone, "deleted", |s, n, i| {
                    s.set_desired(n, AppRequest::Delete);
                    s.dispatch(n, i, Event::Delete);
                })
            }
            Request::Reset { target } => {
                self.on_targets(&target, reply, WaitFor::Settled, "reset", |s, n, i| {
                    s.dispatch(n, i, Event::Reset);
                    // The store resets the whole app; once per instance is harmless.
                    let name = n.to_string();
                    s.store.send(Write::ResetCounters { name });
                })
            }
            Request::Logs {
                target,
                lines,
                streams,
                ..
            } => self.logs(target.as_deref(), lines, streams, reply),
            Request::Flush { target } => self.flush(target.as_deref(), reply),
            Request::ReloadLogs => self.reload_logs(reply),
            Request::Kill => self.begin_shutdown(Some(reply)),
            Request::Scale { app, to } => self.scale(&app, to, reply),
            Request::Signal {
                signal,
                target,
                group,
            } => self.send_signal(&signal, &target, group, reply),
            Request::Env { target } => {
                let _ = reply.send(self.env(&target));
            }
            // The socket server answers these itself (a stream, and an encoding off the actor).
            Request::Events { .. } | Request::Metrics => {
                let msg = "events and metrics are served by the connection, not the supervisor";
                let _ = reply.send(Err(RequestError::Internal(msg.into())));
            }
            Request::Reload {
                target,
                apps,
                parallel,
                update_env,
                meta,
            } => {
                let deployment = meta.map(|m| self.begin_deployment(m, &apps, false));
                let names: Vec<String> = apps.iter().map(|a| a.name.clone()).collect();
                let before = self.rollouts.len();
                self.reload(target, apps, parallel, update_env, reply);
                if let Some(id) = deployment {
                    self.mark_deployed(id, &names);
                    match self.rollouts.get_mut(before) {
                        Some(r) => r.deployment = Some(id),
                        None => self.end_deployment(id, false, "refused".into()),
                    }
                }
            }
        }
    }

    /// The instances a target names among the apps that are not being deleted.
    pub(super) fn resolve(&self, target: &str) -> Result<Vec<Key>, RequestError> {
        let live = self.apps.iter().filter(|a| !a.desired.deleting());
        targets::resolve(live, target)
    }

    /// Changes an app's desired state through the pure rule, and stores it when it changed.
    pub(super) fn set_desired(&mut self, name: &str, req: AppRequest) {
        let Some(a) = self.app_mut(name) else { return };
        let before = a.desired;
        a.desired = before.on(req);
        if a.desired.should_run() != before.should_run() && !a.desired.deleting() {
            let should_run = a.desired.should_run();
            let name = name.to_string();
            self.store.send(Write::SetShouldRun { name, should_run });
        }
    }

    /// The one copy of `env` the daemon keeps: a start sends every app its caller's
    /// environment, one equal copy each, and a thousand copies of a shell's environment were
    /// about 4 MiB.
    pub(super) fn share_env(
        &mut self,
        env: Arc<BTreeMap<String, String>>,
    ) -> Arc<BTreeMap<String, String>> {
        if self.shared_env != env {
            self.shared_env = env;
        }
        self.shared_env.clone()
    }

    /// `restart --update-env`: the next runs get the caller's environment; stored at once.
    pub(super) fn set_base_env(&mut self, name: &str, env: &BTreeMap<String, String>) {
        let Some(a) = self.app_mut(name) else { return };
        if *a.spec.base_env == *env {
            return;
        }
        let env = self.share_env(Arc::new(env.clone()));
        let Some(a) = self.app_mut(name) else { return };
        a.spec.base_env = env;
        let (spec, should_run) = (a.spec.clone(), a.desired.should_run());
        self.store.send(Write::UpsertApp {
            spec: Box::new(spec),
            should_run,
        });
    }

    /// Applies `act` to every instance the target names, then answers once they reach `want`.
    fn on_targets(
        &mut self,
        target: &str,
        reply: ReplyTx,
        want: WaitFor,
        verb: &str,
        act: impl Fn(&mut Supervisor, &str, u32),
    ) {
        let keys = match self.resolve(target) {
            // PM2: "Process or Namespace all not found": acting on nothing is not a success.
            Ok(k) if k.is_empty() => Err(RequestError::NotFound {
                message: format!("`{target}` names no app: no app is known yet"),
                known: Vec::new(),
            }),
            other => other,
        };
        let keys = match keys {
            Ok(k) => k,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        for (name, index) in &keys {
            act(self, name, *index);
        }
        self.waiters.push(Waiter::new(
            keys,
            want,
            format!("{verb} {target}"),
            reply,
            None,
        ));
    }

    /// `start FILE`: new apps are added and started (unless `autostart: false`); apps that
    /// exist take the new spec and are restarted (or started); never duplicated.
    fn start_specs(&mut self, specs: Vec<AppSpec>, reply: ReplyTx, deployment: Option<u64>) {
        let mut keys = Vec::new();
        for spec in specs {
            let name = spec.name.clone();
            let count = spec.instances;
            let req = AppRequest::Apply {
                autostart: spec.autostart,
                existed: self.app(&name).is_some(),
            };
            let should_run = self.put_spec(spec, req);
            if deployment.is_some()
                && let Some(a) = self.app_mut(&name)
            {
                a.deployment = deployment;
            }
            self.arm_triggers(&name);
            if !should_run {
                continue;
            }
            for i in 0..count {
                let running = self
                    .app(&name)
                    .and_then(|a| a.insts.get(&i))
                    .is_some_and(|inst| inst.life.status().has_process());
                let ev = if running {
                    Event::Restart(Cause::Restarted)
                } else {
                    Event::Start
                };
                self.dispatch(&name, i, ev);
                keys.push((name.clone(), i));
            }
        }
        self.waiters.push(Waiter::new(
            keys,
            WaitFor::Settled,
            "started".to_string(),
            reply,
            deployment,
        ));
        // A start request can be megabytes of specs: the memory freed is given back once the
        // daemon is quiet (see `TRIM_QUIET_MS`).
    }

    /// An app takes `spec` (added, stopped, when it is new): its instances follow the spec's
    /// count (extra ones are deleted), its desired state changes by `req`, the store and its
    /// triggers follow. Nothing is started or restarted here. Returns whether it should run.
    pub(super) fn put_spec(&mut self, mut spec: AppSpec, req: AppRequest) -> bool {
        spec.base_env = self.share_env(spec.base_env);
        let name = spec.name.clone();
        let count = spec.instances;
        if let Some(a) = self.app_mut(&name) {
            a.policy = policy_of(&spec);
            a.spec = spec.clone();
            let old: Vec<u32> = a.insts.keys().copied().collect();
            for i in 0..count {
                a.insts
                    .entry(i)
                    .or_insert_with(|| Box::new(Inst::new(Instance::new())));
            }
            for i in old.into_iter().filter(|i| *i >= count) {
                self.dispatch(&name, i, Event::Delete);
            }
        } else {
            let insts = (0..count)
                .map(|i| (i, Box::new(Inst::new(Instance::new()))))
                .collect();
            self.apps.push(App::new(spec.clone(), false, insts));
        }
        let should_run = match self.app_mut(&name) {
            Some(a) => {
                a.desired = a.desired.on(req);
                a.desired.should_run()
            }
            None => false,
        };
        self.store.send(Write::UpsertApp {
            spec: Box::new(spec),
            should_run,
        });
        self.arm_triggers(&name);
        should_run
    }

    pub(super) fn begin_shutdown(&mut self, reply: Option<ReplyTx>) {
        if let Some(r) = reply {
            self.kill_replies.push(r);
        }
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        // The desired state is left as it is: the next daemon brings back what was running.
        let keys: Vec<Key> = self.apps.iter().flat_map(App::keys).collect();
        for (name, i) in keys {
            self.dispatch(&name, i, Event::Stop(Cause::Stopped));
        }
    }

    /// Answers the waiters whose instances have all reached their state. A waiter's keys are
    /// looked at once when it is new, then only those that received an event since the last
    /// call ([`Supervisor::dispatch`] notes them): a status changes only there, and a start of
    /// 1,000 apps would otherwise look at 1,000 instances after every event.
    pub(super) fn settle_waiters(&mut self) {
        let touched = std::mem::take(&mut self.touched);
        if self.waiters.is_empty() {
            return;
        }
        for mut w in std::mem::take(&mut self.waiters) {
            let look: Vec<Key> = if w.checked {
                touched
                    .iter()
                    .filter(|k| w.pending.contains(*k))
                    .cloned()
                    .collect()
            } else {
                w.pending.iter().cloned().collect()
            };
            w.checked = true;
            for key in look {
                let inst = self.app(&key.0).and_then(|a| a.insts.get(&key.1));
                if w.want.reached(inst.map(|x| x.life.status())) {
                    w.pending.remove(&key);
                }
            }
            if w.pending.is_empty() {
                if let Some(id) = w.deployment {
                    self.end_deployment(id, true, "started".to_string());
                }
                let processes = self.processes_of(&w.keys);
                let _ = w.reply.send(Ok(Response::Done {
                    message: w.message,
                    processes,
                }));
            } else {
                self.waiters.push(w);
            }
        }
    }
}
