//! Owns the `max_memory_restart` rule: how many consecutive samples over the limit make a
//! breach. Pure: samples come in, a breach may come out.

/// An app's memory limit, as the state machine needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit {
    pub limit_bytes: u64,
    /// Consecutive samples over the limit that trigger a restart (`max_memory_samples`).
    pub samples: u32,
}

/// What the guard saw when it decided to restart: the RSS of the process tree and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breach {
    pub rss_bytes: u64,
    pub limit_bytes: u64,
}

/// Counts consecutive samples over the limit for one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryGuard {
    over: u32,
}

impl MemoryGuard {
    /// One sample of the run's tree. A breach restarts the count, so a run that stays over the
    /// limit while it stops is not counted twice.
    pub fn observe(&mut self, rss_bytes: u64, limit: MemoryLimit) -> Option<Breach> {
        if rss_bytes <= limit.limit_bytes {
            self.over = 0;
            return None;
        }
        self.over += 1;
        if self.over < limit.samples.max(1) {
            return None;
        }
        self.over = 0;
        Some(Breach {
            rss_bytes,
            limit_bytes: limit.limit_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_samples_over_the_limit_make_a_breach() {
        let limit = MemoryLimit {
            limit_bytes: 100,
            samples: 3,
        };
        let mut g = MemoryGuard::default();
        // (rss, breach expected)
        let rows = [
            (150, false),
            (150, false),
            (90, false), // back under: the count starts again
            (101, false),
            (101, false),
            (102, true),
            (200, false), // counted afresh after a breach
            (100, false), // equal to the limit is not over it
        ];
        for (i, (rss, want)) in rows.into_iter().enumerate() {
            let got = g.observe(rss, limit);
            assert_eq!(got.is_some(), want, "row {i}: {rss}");
            if let Some(b) = got {
                assert_eq!(
                    b,
                    Breach {
                        rss_bytes: rss,
                        limit_bytes: 100
                    }
                );
            }
        }
    }

    #[test]
    fn zero_samples_means_the_first_one() {
        let limit = MemoryLimit {
            limit_bytes: 10,
            samples: 0,
        };
        assert!(MemoryGuard::default().observe(11, limit).is_some());
    }
}
