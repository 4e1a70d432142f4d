//! Owns the event bus: every lifecycle event of every instance is published here once, by the
//! supervisor actor, and every subscriber (`events --follow` streams, hooks) reads it from here.
//!
//! Publishing never waits: the bus is a bounded `tokio::sync::broadcast` channel, so a
//! subscriber that falls behind loses the oldest events it had not read and is told how many
//! (`Lagged(n)`), while the actor goes on. The bus also keeps the last [`RECENT`] events, so
//! `svctl events` without `--follow` has something to show.

use crate::config::hooks::Hooks;
use crate::ipc::LifecycleEvent;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events a subscriber may be behind before it starts losing them.
pub const CAPACITY: usize = 1024;
/// Events kept for readers that come later.
pub const RECENT: usize = 200;

/// An event as subscribers receive it, with the hooks its app had when it happened (the app may
/// be gone or changed by the time a hook runs).
#[derive(Debug)]
pub struct Published {
    pub event: LifecycleEvent,
    pub hooks: Hooks,
}

pub type Received = Arc<Published>;

pub struct Bus {
    tx: broadcast::Sender<Received>,
    recent: VecDeque<Received>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus {
            tx: broadcast::channel(CAPACITY).0,
            recent: VecDeque::with_capacity(RECENT),
        }
    }
}

impl Bus {
    /// Publishes one event to every subscriber; never blocks, whoever listens or not.
    pub fn publish(&mut self, event: LifecycleEvent, hooks: Hooks) {
        let ev = Arc::new(Published { event, hooks });
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(ev.clone());
        // An error only means nobody subscribes right now.
        let _ = self.tx.send(ev);
    }

    /// The recent events (oldest first) and a receiver of every later one, with no gap.
    pub fn subscribe(&self) -> (Vec<Received>, broadcast::Receiver<Received>) {
        (self.recent.iter().cloned().collect(), self.tx.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::EventKind;
    use tokio::sync::broadcast::error::TryRecvError;

    fn ev(run: u64) -> LifecycleEvent {
        LifecycleEvent {
            at_ms: 0,
            event: EventKind::Spawn,
            app: "a".into(),
            namespace: "default".into(),
            instance: 0,
            run,
            pid: None,
            restarts: 0,
            cause: None,
            exit_code: None,
            signal: None,
            delay_ms: None,
            message: None,
            stderr_tail: None,
        }
    }

    #[test]
    fn a_slow_subscriber_loses_the_oldest_and_is_told_how_many() {
        let mut bus = Bus::default();
        let (_, mut rx) = bus.subscribe();
        let extra = 10;
        for run in 0..(CAPACITY as u64 + extra) {
            bus.publish(ev(run), Hooks::default());
        }
        assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Lagged(extra));
        assert_eq!(rx.try_recv().unwrap().event.run, extra);
    }

    #[test]
    fn recent_events_are_bounded_and_oldest_first() {
        let mut bus = Bus::default();
        for run in 0..(RECENT as u64 + 5) {
            bus.publish(ev(run), Hooks::default());
        }
        let (recent, _) = bus.subscribe();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0].event.run, 5);
    }
}
