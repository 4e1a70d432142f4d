//! Owns deployments in the daemon: `plan` (what `apply` would do, from the running specs and
//! the file's; nothing is touched) and `apply` (the same plan, recorded as a deployment row, then
//! carried out through the paths a user's requests take: the rolling reload for added and
//! changed apps, delete for the extras with `prune`). Unchanged apps are not touched.

use super::reload::Rollout;
use super::{ReplyTx, RequestError, Supervisor};
use crate::config::AppSpec;
use crate::daemon::lifecycle::Event;
use crate::daemon::lifecycle::desired::AppRequest;
use crate::deploy::{self, Action, DeploymentMeta, Plan, Running};
use crate::ipc::Response;
use crate::store::Write;
use crate::store::model::DeploymentBegun;

impl Supervisor {
    /// The apps as the plan sees them (those being deleted are gone already).
    fn running(&self) -> Vec<Running> {
        self.apps
            .iter()
            .filter(|a| !a.desired.deleting())
            .map(|a| Running {
                spec: a.spec.clone(),
                should_run: a.desired.should_run(),
                stale: a.stale,
            })
            .collect()
    }

    fn checked(apps: &[AppSpec], reply: ReplyTx) -> Option<ReplyTx> {
        if let Some(e) = apps.iter().find_map(|a| a.check().err()) {
            let _ = reply.send(Err(RequestError::BadRequest(e)));
            return None;
        }
        let mut names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            let _ = reply.send(Err(RequestError::BadRequest(format!(
                "two apps are called `{}`",
                w[0]
            ))));
            return None;
        }
        Some(reply)
    }

    pub(super) fn plan_request(&self, apps: &[AppSpec], prune: bool, reply: ReplyTx) {
        let Some(reply) = Self::checked(apps, reply) else {
            return;
        };
        let plan = deploy::plan(&self.running(), apps, prune);
        let _ = reply.send(Ok(Response::Plan { plan }));
    }

    /// Records a deployment's row (its id is given here, before the row is written) with the
    /// plan of `apps` against what runs now; returns its id.
    pub(super) fn begin_deployment(
        &mut self,
        meta: DeploymentMeta,
        apps: &[AppSpec],
        prune: bool,
    ) -> u64 {
        let plan = deploy::plan(&self.running(), apps, prune);
        self.record_deployment(meta, apps, plan)
    }

    fn record_deployment(&mut self, meta: DeploymentMeta, apps: &[AppSpec], plan: Plan) -> u64 {
        let id = self.next_deployment;
        self.next_deployment += 1;
        self.store
            .send(Write::DeploymentBegun(Box::new(DeploymentBegun {
                id,
                started_at_ms: crate::store::now_ms(),
                meta,
                plan,
                specs: apps.to_vec(),
            })));
        id
    }

    /// The next spawns of these apps belong to deployment `id`.
    pub(super) fn mark_deployed(&mut self, id: u64, names: &[String]) {
        for n in names {
            if let Some(a) = self.app_mut(n) {
                a.deployment = Some(id);
            }
        }
    }

    pub(super) fn end_deployment(&mut self, id: u64, ok: bool, message: String) {
        self.publish(crate::ipc::LifecycleEvent {
            message: Some(format!(
                "deployment #{id} {}: {message}",
                if ok { "ok" } else { "failed" }
            )),
            ..self.event_of("", 0, crate::ipc::EventKind::Deployment)
        });
        self.store.send(Write::DeploymentEnded {
            id,
            ended_at_ms: crate::store::now_ms(),
            ok,
            message,
        });
    }

    pub(super) fn apply(
        &mut self,
        apps: Vec<AppSpec>,
        prune: bool,
        parallel: u32,
        meta: DeploymentMeta,
        reply: ReplyTx,
    ) {
        let Some(reply) = Self::checked(&apps, reply) else {
            return;
        };
        let plan = deploy::plan(&self.running(), &apps, prune);
        let summary = plan.summary();
        let id = self.record_deployment(meta, &apps, plan.clone());
        let mut keys = Vec::new();
        let mut deployed = Vec::new();
        for spec in apps {
            if !matches!(
                plan.of(&spec.name),
                Some(Action::Add { .. } | Action::Change { .. })
            ) {
                continue;
            }
            let was_running = self.app(&spec.name).is_some_and(|a| a.desired.should_run());
            let start = spec.autostart || was_running;
            let name = spec.name.clone();
            let instances = self.take_spec(spec);
            deployed.push(name.clone());
            if start {
                keys.extend(instances);
                self.set_desired(&name, AppRequest::Run);
            } else {
                // `autostart: false`: known with its new spec, not started (as `start FILE`).
                let left_running = false;
                self.set_desired(&name, AppRequest::Stop { left_running });
            }
        }
        self.mark_deployed(id, &deployed);
        let mut gone = Vec::new();
        for name in plan.removed() {
            let Some(a) = self.app(name) else { continue };
            let insts: Vec<_> = a.keys().collect();
            self.set_desired(name, AppRequest::Delete);
            for (n, i) in &insts {
                self.dispatch(n, *i, Event::Delete);
            }
            gone.extend(insts);
        }
        let mut rollout = Rollout::new(
            format!("deployment #{id}: {summary}"),
            keys,
            parallel,
            reply,
        );
        rollout.deployment = Some(id);
        rollout.gone = gone;
        rollout.verb = "applied";
        self.rollouts.push(rollout);
    }
}
