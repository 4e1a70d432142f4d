//! Owns the choice of delay before an automatic restart. Pure: no clock, no I/O.
//!
//! PM2's rules: with `exp_backoff_restart_delay` the first delay is the configured value, each
//! further one ×1.5 (rounded down) capped at 15 s, and the sequence starts again once a run has
//! stayed up 30 s. Without it, `restart_delay` is used as it is.

/// Cap of the exponential sequence (PM2's 15 s).
pub const MAX_BACKOFF_MS: u64 = 15_000;
/// A run that lasts this long resets the exponential sequence (PM2's 30 s).
pub const STABLE_RESET_MS: u64 = 30_000;

/// The restart-delay settings of one app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelayPolicy {
    pub restart_delay_ms: u64,
    pub exp_backoff_ms: Option<u64>,
}

/// Returns `(delay, new_backoff_state)`. `prev` is the last exponential delay used (0 = none
/// yet); `uptime_ms` is how long the run that just ended lasted.
pub fn next_delay(policy: DelayPolicy, prev: u64, uptime_ms: u64) -> (u64, u64) {
    match policy.exp_backoff_ms {
        None | Some(0) => (policy.restart_delay_ms, 0),
        Some(base) => {
            let prev = if uptime_ms >= STABLE_RESET_MS {
                0
            } else {
                prev
            };
            let next = if prev == 0 {
                base
            } else {
                // Integer ×1.5 rounded down, as PM2's Math.floor(prev * 1.5).
                MAX_BACKOFF_MS.min(prev.saturating_add(prev / 2))
            };
            (next, next)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXED: DelayPolicy = DelayPolicy {
        restart_delay_ms: 250,
        exp_backoff_ms: None,
    };
    const EXP: DelayPolicy = DelayPolicy {
        restart_delay_ms: 250,
        exp_backoff_ms: Some(100),
    };

    #[test]
    fn fixed_delay_is_constant_and_keeps_no_state() {
        for (prev, up) in [(0, 0), (5000, 10), (0, 100_000)] {
            assert_eq!(next_delay(FIXED, prev, up), (250, 0));
        }
    }

    #[test]
    fn zero_backoff_means_fixed_delay() {
        let p = DelayPolicy {
            restart_delay_ms: 7,
            exp_backoff_ms: Some(0),
        };
        assert_eq!(next_delay(p, 0, 0), (7, 0));
    }

    #[test]
    fn exponential_sequence_matches_pm2() {
        // 100, 150, 225, 337, 505, 757, 1135, 1702, 2553, 3829, 5743, 8614, 12921, 15000, 15000
        let expected = [
            100, 150, 225, 337, 505, 757, 1135, 1702, 2553, 3829, 5743, 8614, 12921, 15000, 15000,
        ];
        let mut state = 0;
        for want in expected {
            let (d, s) = next_delay(EXP, state, 10);
            assert_eq!(d, want);
            state = s;
        }
    }

    #[test]
    fn a_stable_run_restarts_the_sequence() {
        let (d, s) = next_delay(EXP, 12921, STABLE_RESET_MS - 1);
        assert_eq!((d, s), (15000, 15000));
        assert_eq!(next_delay(EXP, s, STABLE_RESET_MS), (100, 100));
    }

    #[test]
    fn base_above_cap_is_used_once_then_capped() {
        let p = DelayPolicy {
            restart_delay_ms: 0,
            exp_backoff_ms: Some(20_000),
        };
        let (d, s) = next_delay(p, 0, 0);
        assert_eq!(d, 20_000);
        assert_eq!(next_delay(p, s, 0).0, MAX_BACKOFF_MS);
    }

    #[test]
    fn huge_state_does_not_overflow() {
        assert_eq!(next_delay(EXP, u64::MAX, 0).0, MAX_BACKOFF_MS);
    }
}
