//! Owns what a request's target names, and when a request that changes processes may answer.
//! Pure over the app table: `all`, an app, `NAME:INSTANCE`, an instance id or a namespace
//! resolve to instance keys; a waiter answers once every instance it names has reached the wanted state.

use super::RequestError;
use crate::record::Status;

/// One instance: its app's name and its index.
pub type Key = (String, u32);

/// What resolution needs to know of an app.
pub trait Target {
    fn name(&self) -> &str;
    fn namespace(&self) -> &str;
    fn indexes(&self) -> Vec<u32>;
    /// `(index, id)` of each instance: ids name instances as targets (PM2's `pm_id`).
    fn ids(&self) -> Vec<(u32, u32)> {
        Vec::new()
    }
}

fn keys_of<T: Target>(a: &T) -> Vec<Key> {
    a.indexes()
        .into_iter()
        .map(|i| (a.name().to_string(), i))
        .collect()
}

/// `all`, an app name, `NAME:INSTANCE`, an instance id, or a namespace → the instances it
/// names. An exact app name wins over an id (a name may be all digits). `apps` are the
/// apps that exist (those being deleted are not targets any more).
pub fn resolve<'a, T: Target + 'a>(
    apps: impl Iterator<Item = &'a T> + Clone,
    target: &str,
) -> Result<Vec<Key>, RequestError> {
    if target == "all" {
        return Ok(apps.flat_map(keys_of).collect());
    }
    if let Some(a) = apps.clone().find(|a| a.name() == target) {
        return Ok(keys_of(a));
    }
    if let Ok(id) = target.parse::<u32>() {
        let found = apps.clone().find_map(|a| {
            let (index, _) = a.ids().into_iter().find(|(_, i)| *i == id)?;
            Some((a.name().to_string(), index))
        });
        if let Some(key) = found {
            return Ok(vec![key]);
        }
    }
    if let Some((name, idx)) = target.rsplit_once(':')
        && let Some(a) = apps.clone().find(|a| a.name() == name)
    {
        let indexes = a.indexes();
        return match idx.parse::<u32>() {
            Ok(i) if indexes.contains(&i) => Ok(vec![(name.to_string(), i)]),
            _ => Err(RequestError::NotFound {
                message: format!(
                    "app `{name}` has no instance `{idx}` (it has {})",
                    indexes.len()
                ),
                known: indexes.iter().map(|i| format!("{name}:{i}")).collect(),
            }),
        };
    }
    let in_ns: Vec<Key> = apps
        .clone()
        .filter(|a| a.namespace() == target)
        .flat_map(keys_of)
        .collect();
    if !in_ns.is_empty() {
        return Ok(in_ns);
    }
    let known: Vec<String> = apps.map(|a| a.name().to_string()).collect();
    Err(RequestError::NotFound {
        message: if known.is_empty() {
            format!("no app, instance or namespace is called `{target}`: no app is known yet")
        } else {
            format!("no app, instance or namespace is called `{target}`")
        },
        known,
    })
}

/// The state a request waits for before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// No process left and no restart pending (stopped, errored, or gone).
    Down,
    /// Not in a transition (launching or stopping).
    Settled,
    /// The instance no longer exists.
    Gone,
}

impl WaitFor {
    /// Whether an instance (or its absence, `None`) satisfies the wait.
    pub fn reached(self, status: Option<Status>) -> bool {
        match (self, status) {
            (_, None) => true,
            (WaitFor::Gone, Some(_)) => false,
            (WaitFor::Down, Some(s)) => !s.has_process() && s != Status::WaitingRestart,
            (WaitFor::Settled, Some(s)) => !matches!(s, Status::Launching | Status::Stopping),
        }
    }
}

/// A reply held until the instances it names reach a state.
pub struct Waiter {
    pub keys: Vec<Key>,
    pub want: WaitFor,
    pub message: String,
    pub reply: super::ReplyTx,
    /// The deployment this answer ends (`start FILE`), recorded as ok when it is sent.
    pub deployment: Option<u64>,
    /// The keys that have not reached the state since the request. Reaching it is sticky: a
    /// crash loop is launching again soon after it was online (the spawn runs off the actor),
    /// and `start` has done its part once each instance got there.
    pub pending: std::collections::HashSet<Key>,
    /// Whether every pending key was looked at once; after that only the instances that
    /// received an event are (see `Supervisor::settle_waiters`).
    pub checked: bool,
}

impl Waiter {
    pub fn new(
        keys: Vec<Key>,
        want: WaitFor,
        message: String,
        reply: super::ReplyTx,
        deployment: Option<u64>,
    ) -> Waiter {
        Waiter {
            pending: keys.iter().cloned().collect(),
            keys,
            want,
            message,
            reply,
            deployment,
            checked: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct A(&'static str, &'static str, u32);

    impl Target for A {
        fn name(&self) -> &str {
            self.0
        }
        fn namespace(&self) -> &str {
            self.1
        }
        fn indexes(&self) -> Vec<u32> {
            (0..self.2).collect()
        }
        /// Ids 10 × the app's instance count + index, distinct in the tests below.
        fn ids(&self) -> Vec<(u32, u32)> {
            (0..self.2).map(|i| (i, 10 * self.2 + i)).collect()
        }
    }

    fn keys(v: &[(&str, u32)]) -> Vec<Key> {
        v.iter().map(|(n, i)| (n.to_string(), *i)).collect()
    }

    #[test]
    fn targets_resolve_to_instances() {
        let apps = [
            A("web", "front", 2),
            A("api", "back", 1),
            A("front", "x", 1),
        ];
        let r = |t: &str| resolve(apps.iter(), t);
        assert_eq!(
            r("all").ok(),
            Some(keys(&[("web", 0), ("web", 1), ("api", 0), ("front", 0)]))
        );
        assert_eq!(r("web").ok(), Some(keys(&[("web", 0), ("web", 1)])));
        assert_eq!(r("web:1").ok(), Some(keys(&[("web", 1)])));
        // An app name wins over a namespace of the same name.
        assert_eq!(r("front").ok(), Some(keys(&[("front", 0)])));
        assert_eq!(r("back").ok(), Some(keys(&[("api", 0)])));
        match r("web:7") {
            Err(RequestError::NotFound { message, known }) => {
                assert_eq!(message, "app `web` has no instance `7` (it has 2)");
                assert_eq!(known, vec!["web:0", "web:1"]);
            }
            other => panic!("{other:?}"),
        }
        match r("nope") {
            Err(RequestError::NotFound { message, known }) => {
                assert_eq!(message, "no app, instance or namespace is called `nope`");
                assert_eq!(known, vec!["web", "api", "front"]);
            }
            other => panic!("{other:?}"),
        }
        let none: [A; 0] = [];
        match resolve(none.iter(), "x") {
            Err(RequestError::NotFound { message, .. }) => {
                assert!(message.ends_with("no app is known yet"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(resolve(none.iter(), "all").ok(), Some(vec![]));
    }

    #[test]
    fn ids_name_instances_after_exact_names() {
        // web has ids 20 and 21, api 10; an app called "21" wins over web's id 21.
        let apps = [A("web", "default", 2), A("api", "default", 1)];
        let r = |t: &str| resolve(apps.iter(), t);
        assert_eq!(r("21").ok(), Some(keys(&[("web", 1)])));
        assert_eq!(r("10").ok(), Some(keys(&[("api", 0)])));
        assert!(matches!(r("99"), Err(RequestError::NotFound { .. })));
        let named = [A("web", "default", 2), A("21", "default", 1)];
        assert_eq!(resolve(named.iter(), "21").ok(), Some(keys(&[("21", 0)])));
    }

    #[test]
    fn waits_end_in_the_wanted_state() {
        use Status::*;
        let all = [
            Stopped,
            Launching,
            Online,
            Stopping,
            WaitingRestart,
            Errored,
        ];
        let reached = |w: WaitFor| -> Vec<Status> {
            all.iter()
                .copied()
                .filter(|s| w.reached(Some(*s)))
                .collect()
        };
        assert_eq!(reached(WaitFor::Down), vec![Stopped, Errored]);
        assert_eq!(
            reached(WaitFor::Settled),
            vec![Stopped, Online, WaitingRestart, Errored]
        );
        assert_eq!(reached(WaitFor::Gone), vec![]);
        for w in [WaitFor::Down, WaitFor::Settled, WaitFor::Gone] {
            assert!(w.reached(None), "a gone instance ends every wait");
        }
    }
}
