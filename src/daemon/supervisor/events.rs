//! Turns the supervisor's transitions into lifecycle events on the bus (`crate::daemon::bus`,
//! which owns them once published). Each transition is published once, here; nothing decides
//! anything: the events describe what `lifecycle::step` already decided.

use super::Supervisor;
use crate::daemon::lifecycle::{Effect, Event, TimerKind, Trigger};
use crate::ipc::{EventKind, LifecycleEvent};
use crate::record::{Cause, Status};

impl Supervisor {
    /// A blank event of `kind` for an instance, filled from what the actor knows of it.
    pub(super) fn event_of(&self, app: &str, index: u32, kind: EventKind) -> LifecycleEvent {
        let a = self.app(app);
        let inst = a.and_then(|a| a.insts.get(&index));
        LifecycleEvent {
            at_ms: crate::store::now_ms(),
            event: kind,
            app: app.to_string(),
            namespace: a.map(|a| a.spec.namespace.clone()).unwrap_or_default(),
            instance: index,
            run: inst.map(|i| i.life.run()).unwrap_or(0),
            pid: inst.and_then(|i| i.run.pid),
            restarts: inst.map(|i| i.life.restarts()).unwrap_or(0),
            cause: None,
            exit_code: None,
            signal: None,
            delay_ms: None,
            message: None,
            stderr_tail: None,
        }
    }

    pub(super) fn publish(&mut self, ev: LifecycleEvent) {
        let hooks = self
            .app(&ev.app)
            .map(|a| a.spec.hooks.clone())
            .unwrap_or_default();
        self.bus.publish(ev, hooks);
    }

    /// The events of one step of an instance: `event` moved it from `before` to its present
    /// status with these effects.
    pub(super) fn publish_step(
        &mut self,
        app: &str,
        index: u32,
        event: &Event,
        before: Status,
        effects: &[Effect],
    ) {
        let Some(after) = self
            .app(app)
            .and_then(|a| a.insts.get(&index))
            .map(|i| i.life.status())
        else {
            return;
        };
        let now = self.now_ms();
        if let Event::Spawned { run } = event {
            let mut ev = self.event_of(app, index, EventKind::Spawn);
            ev.run = *run;
            ev.pid = self
                .app(app)
                .and_then(|a| a.insts.get(&index))
                .and_then(|i| {
                    i.next
                        .as_deref()
                        .filter(|n| n.number == *run)
                        .or(Some(&i.run))
                })
                .and_then(|r| r.pid);
            self.publish(ev);
        }
        if after != before {
            let kind = match (after, event) {
                (Status::Online, _) => Some(EventKind::Online),
                (Status::Errored, _) => Some(EventKind::Errored),
                (Status::Stopped, _) => Some(EventKind::Stop),
                (Status::Stopping, Event::Sample { .. }) => Some(EventKind::MemoryLimit),
                (Status::Stopping, Event::Health { ok: false, .. } | Event::WatchdogDue { .. }) => {
                    Some(EventKind::Unhealthy)
                }
                _ => None,
            };
            if let Some(kind) = kind {
                let mut ev = self.event_of(app, index, kind);
                if let (EventKind::MemoryLimit, Event::Sample { rss_bytes, .. }) = (kind, event) {
                    ev.message = Some(format!("tree RSS {rss_bytes} bytes"));
                    ev.cause = Some(Cause::MemoryLimit);
                }
                if kind == EventKind::Unhealthy {
                    ev.cause = Some(Cause::Unhealthy);
                    ev.message = self
                        .app(app)
                        .and_then(|a| a.insts.get(&index))
                        .and_then(|i| i.last_probe_error.clone());
                }
                self.publish(ev);
            }
        }
        for e in effects {
            let delay_ms = match e {
                Effect::Timer {
                    kind: TimerKind::RestartDue,
                    at_ms,
                    ..
                } => at_ms.saturating_sub(now),
                // A restart without delay (the timer's own spawn is not a new schedule).
                Effect::Spawn {
                    trigger: Trigger::AutoRestart,
                    ..
                } if !matches!(event, Event::RestartDue { .. }) => 0,
                _ => continue,
            };
            let mut ev = self.event_of(app, index, EventKind::RestartScheduled);
            ev.delay_ms = Some(delay_ms);
            self.publish(ev);
        }
    }
}
