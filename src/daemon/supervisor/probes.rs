//! Owns the sources of readiness and liveness of a run, all beside the actor: its `ready:` and
//! `health:` probes (one task each, bounded in time and in how many run at once, ended with
//! the run), its `ready_log_line` watch, and what it says on the notify socket. Each sends its
//! finding to the actor, which hands it to the state machine.

use super::{Internal, Supervisor};
use crate::config::AppSpec;
use crate::config::probe::Probe;
use crate::daemon::lifecycle::Event;
use crate::daemon::notify::{FromRun, NotifyMsg};
use crate::logs::ready::ReadyLine;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Probes running at once, over every app: a thousand apps with health checks cannot open a
/// thousand connections at the same moment.
pub const MAX_CONCURRENT_PROBES: usize = 32;

/// What a probe task reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeRole {
    Ready,
    Health,
}

impl Supervisor {
    /// The `ready_log_line` watch of a run, which tells the actor once.
    pub(super) fn ready_line(&self, spec: &AppSpec, index: u32, run: u64) -> Option<ReadyLine> {
        let pattern = spec.ready_log_line.as_deref()?;
        let tx = self.internal_tx.clone();
        let app = spec.name.clone();
        ReadyLine::new(
            pattern,
            Arc::new(move || {
                let _ = tx.send(Internal::Ready {
                    app: app.clone(),
                    index,
                    run,
                });
            }),
        )
    }

    /// Starts the probes of a run; they end when the returned guard is dropped (with the run).
    pub(super) fn start_probes(
        &self,
        spec: &AppSpec,
        index: u32,
        run: u64,
        env: &std::collections::BTreeMap<String, String>,
    ) -> Option<DropGuard> {
        if spec.ready.is_none() && spec.health.is_none() {
            return None;
        }
        let token = CancellationToken::new();
        for (probe, role) in [
            (spec.ready.clone(), ProbeRole::Ready),
            (spec.health.clone(), ProbeRole::Health),
        ] {
            let Some(probe) = probe else { continue };
            let job = ProbeJob {
                app: spec.name.clone(),
                index,
                run,
                role,
                probe,
                cwd: spec.cwd.clone(),
                env: env.clone(),
                tx: self.internal_tx.clone(),
                slots: self.probe_slots.clone(),
            };
            let token = token.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = token.cancelled() => {}
                    _ = job.run() => {}
                }
            });
        }
        Some(token.drop_guard())
    }

    /// A probe's result: readiness once it passes; health each time; the last failure kept
    /// for the exit row.
    pub(super) fn probed(
        &mut self,
        app: &str,
        index: u32,
        run: u64,
        role: ProbeRole,
        error: Option<String>,
    ) {
        // Kept whichever run failed it (a reload's new process too), for the exit row and a
        // failed reload's message; frozen once the instance stops, so the row keeps the
        // failure that decided it, not what a stopping process answers.
        if let Some(inst) = self.inst_mut(app, index)
            && let Some(e) = &error
            && inst.life.status() != crate::record::Status::Stopping
        {
            inst.last_probe_error = Some(e.clone());
        }
        if role == ProbeRole::Health
            && let Some(facts) = self.inst_mut(app, index).and_then(|i| i.facts(run))
        {
            facts.health_seen = true;
        }
        let event = match role {
            ProbeRole::Ready if error.is_none() => Event::Ready { run },
            ProbeRole::Ready => return,
            ProbeRole::Health => Event::Health {
                run,
                ok: error.is_none(),
            },
        };
        self.dispatch(app, index, event);
    }

    /// What a run said on the notify socket.
    pub(super) fn notified(&mut self, from: FromRun) {
        let FromRun {
            app,
            index,
            run,
            msgs,
        } = from;
        for msg in msgs {
            let event = match msg {
                NotifyMsg::Ready => Event::Ready { run },
                NotifyMsg::Reloading => Event::Reloading { run },
                NotifyMsg::Watchdog => Event::Watchdog { run },
                NotifyMsg::Status(text) => {
                    if let Some(inst) = self.inst_mut(&app, index) {
                        inst.notify_status = Some(text);
                    }
                    continue;
                }
                // The app is on its way down on its own: its exit will say how it ended.
                NotifyMsg::Stopping => continue,
            };
            // Only apps that asked for the notify protocol are ready by it.
            let wants = self.app(&app).is_some_and(|a| match event {
                Event::Ready { .. } | Event::Reloading { .. } => a.spec.wait_ready,
                _ => a.spec.watchdog_ms.is_some(),
            });
            if wants {
                self.dispatch(&app, index, event);
            }
        }
    }
}

/// One probe of one run.
struct ProbeJob {
    app: String,
    index: u32,
    run: u64,
    role: ProbeRole,
    probe: Probe,
    cwd: std::path::PathBuf,
    env: std::collections::BTreeMap<String, String>,
    tx: tokio::sync::mpsc::UnboundedSender<Internal>,
    slots: Arc<Semaphore>,
}

impl ProbeJob {
    async fn run(self) {
        let p = &self.probe;
        tokio::time::sleep(Duration::from_millis(p.initial_delay_ms)).await;
        let timeout = Duration::from_millis(p.timeout_ms);
        loop {
            let result = match self.slots.acquire().await {
                Ok(_permit) => {
                    crate::daemon::probe::check(&p.kind, timeout, &self.cwd, &self.env).await
                }
                Err(_) => return,
            };
            let passed = result.is_ok();
            let sent = self.tx.send(Internal::Probed {
                app: self.app.clone(),
                index: self.index,
                run: self.run,
                role: self.role,
                error: result.err(),
            });
            if sent.is_err() || (passed && self.role == ProbeRole::Ready) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(p.interval_ms)).await;
        }
    }
}
