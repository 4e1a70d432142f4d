//! Owns noticing that the daemon itself did not run for a while (SIGSTOP, a frozen VM, a host
//! so loaded that its threads were not scheduled). While it does not run it cannot see its
//! children end: an exit it reaps just after such a pause may have happened at any moment of
//! the pause. The kernel keeps no time of death for a zombie (neither `waitid`, `/proc/PID/stat`
//! nor a pidfd gives one), so the end of such a run is recorded as the last moment the daemon
//! was known to run, and flagged as approximate (`runs.end_approx`).
//!
//! A thread wakes every [`BEAT`] and notes the wall clock; a gap longer than [`PAUSE`] between
//! two beats is a pause.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// How often the heartbeat notes the time: each wake-up costs a switch in and out of the
/// thread (about 25 µs on the 2-core test VM, a fifth of an idle daemon's CPU at four a
/// second), and half a second is as close as an approximate end needs to be. Beats stay well
/// inside [`PAUSE_MS`], so a host's scheduling delay is not taken for a pause.
pub const BEAT: Duration = Duration::from_millis(500);
/// A gap between beats longer than this is a pause of the daemon.
pub const PAUSE_MS: i64 = 1000;
/// Exits reaped this soon after a pause ended are taken to have happened during it: after
/// SIGCONT the kernel delivers the pending SIGCHLDs at once.
pub const CATCH_UP_MS: i64 = 500;

static LAST_BEAT: AtomicI64 = AtomicI64::new(0);
static PAUSE_FROM: AtomicI64 = AtomicI64::new(0);
static PAUSE_TO: AtomicI64 = AtomicI64::new(0);

/// Starts the heartbeat thread (once per daemon).
pub fn start() -> std::io::Result<()> {
    LAST_BEAT.store(crate::store::now_ms(), Ordering::Relaxed);
    std::thread::Builder::new()
        .name("svctl-heartbeat".into())
        .spawn(|| {
            loop {
                std::thread::sleep(BEAT);
                beat(crate::store::now_ms());
            }
        })?;
    Ok(())
}

fn beat(now: i64) {
    let last = LAST_BEAT.swap(now, Ordering::Relaxed);
    if last > 0 && now - last > PAUSE_MS {
        PAUSE_FROM.store(last, Ordering::Relaxed);
        PAUSE_TO.store(now, Ordering::Relaxed);
        // Short ones are common on a starved host: only a long pause is worth a line.
        if now - last > 5 * PAUSE_MS {
            tracing::warn!(
                "the daemon did not run for {} ms (stopped or starved): exits it reaps now get an approximate end",
                now - last
            );
        }
    }
}

/// How long before `reaped_ms` a run that was just reaped may already have ended unseen: 0
/// when the daemon ran all along.
pub fn unseen_ms(reaped_ms: i64) -> u64 {
    unseen(
        reaped_ms,
        LAST_BEAT.load(Ordering::Relaxed),
        PAUSE_FROM.load(Ordering::Relaxed),
        PAUSE_TO.load(Ordering::Relaxed),
    )
}

/// The rule of [`unseen_ms`]: the heartbeat has not caught up yet (the pause is still being
/// noticed), or the pause ended just before the reap.
fn unseen(reaped: i64, last_beat: i64, from: i64, to: i64) -> u64 {
    if last_beat > 0 && reaped - last_beat > PAUSE_MS {
        return (reaped - last_beat) as u64;
    }
    if to > 0 && reaped >= to - PAUSE_MS && reaped - to <= CATCH_UP_MS {
        return (reaped - from).max(0) as u64;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::unseen;

    #[test]
    fn exits_reaped_right_after_a_pause_may_have_ended_during_it() {
        // (reaped, last beat, pause from, pause to) → unseen
        let table = [
            // running normally, never paused
            (10_000, 9_950, 0, 0, 0),
            // the heartbeat has not run since the pause: the exit is reaped first
            (50_000, 20_000, 0, 0, 30_000),
            // the heartbeat noticed a 30 s pause that ended 100 ms before the reap
            (50_100, 50_050, 20_000, 50_000, 30_100),
            // an exit long after the pause is exact
            (60_000, 59_950, 20_000, 50_000, 0),
        ];
        for (reaped, beat, from, to, want) in table {
            assert_eq!(
                unseen(reaped, beat, from, to),
                want,
                "{reaped} {beat} {from} {to}"
            );
        }
    }
}
