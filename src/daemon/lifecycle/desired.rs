//! Owns what the user wants of an app as a whole: whether it should run (what a restarted
//! daemon brings back) and whether it is being deleted. Pure, like the instance machine.

use crate::record::Status;

/// The desired state of one app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Desired {
    should_run: bool,
    deleting: bool,
}

/// A request about a whole app, as it changes the desired state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppRequest {
    /// `start NAME`, `restart`: it should run.
    Run,
    /// `stop`, with the statuses of the app's instances once the stop was dispatched. The
    /// desired state is per app: it is "stopped" once none of its instances is left running
    /// (stopping one instance of three is not).
    Stop { left_running: bool },
    /// `delete`: removed once its last instance is gone; never started again meanwhile.
    Delete,
    /// `start FILE` gave it a spec: new apps run unless `autostart: false`; an app that existed
    /// runs with its new spec (and is no longer being deleted).
    Apply { autostart: bool, existed: bool },
}

impl Desired {
    pub fn new(should_run: bool) -> Desired {
        Desired {
            should_run,
            deleting: false,
        }
    }

    pub fn should_run(self) -> bool {
        self.should_run
    }

    pub fn deleting(self) -> bool {
        self.deleting
    }

    pub fn on(self, req: AppRequest) -> Desired {
        match req {
            AppRequest::Run => Desired {
                should_run: !self.deleting,
                ..self
            },
            AppRequest::Stop { left_running } => Desired {
                should_run: self.should_run && left_running,
                ..self
            },
            AppRequest::Delete => Desired {
                should_run: false,
                deleting: true,
            },
            AppRequest::Apply { autostart, existed } => Desired {
                should_run: autostart || existed,
                deleting: false,
            },
        }
    }
}

/// Whether an instance in this status still counts as running for the desired state.
pub fn left_running(statuses: impl IntoIterator<Item = Status>) -> bool {
    statuses
        .into_iter()
        .any(|s| !matches!(s, Status::Stopping | Status::Stopped | Status::Errored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let run = Desired::new(true);
        let stopped = Desired::new(false);
        let deleting = run.on(AppRequest::Delete);
        let rows: Vec<(Desired, AppRequest, bool, bool)> = vec![
            // (before, request, should_run after, deleting after)
            (stopped, AppRequest::Run, true, false),
            (
                run,
                AppRequest::Stop {
                    left_running: false,
                },
                false,
                false,
            ),
            (run, AppRequest::Stop { left_running: true }, true, false),
            (
                stopped,
                AppRequest::Stop { left_running: true },
                false,
                false,
            ),
            (run, AppRequest::Delete, false, true),
            (deleting, AppRequest::Run, false, true),
            (
                deleting,
                AppRequest::Apply {
                    autostart: true,
                    existed: true,
                },
                true,
                false,
            ),
            (
                stopped,
                AppRequest::Apply {
                    autostart: false,
                    existed: false,
                },
                false,
                false,
            ),
            (
                stopped,
                AppRequest::Apply {
                    autostart: false,
                    existed: true,
                },
                true,
                false,
            ),
        ];
        for (i, (before, req, run_after, del_after)) in rows.into_iter().enumerate() {
            let after = before.on(req);
            assert_eq!(after.should_run(), run_after, "row {i}: {req:?}");
            assert_eq!(after.deleting(), del_after, "row {i}: {req:?}");
        }
    }

    #[test]
    fn left_running_counts_anything_not_on_its_way_down() {
        use Status::*;
        assert!(!left_running([Stopping, Stopped, Errored]));
        assert!(left_running([Stopped, Online]));
        assert!(left_running([WaitingRestart]));
        assert!(!left_running([]));
    }
}
