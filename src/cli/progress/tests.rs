use super::*;
use crate::config::AppSpec;

fn p(id: u32, name: &str, instance: u32, run: u64, status: Status) -> ProcessInfo {
    ProcessInfo {
        pid: status.has_process().then_some(100),
        status,
        run,
        ..ProcessInfo::example(id, name, instance)
    }
}

#[test]
fn a_restart_counts_instances_with_a_new_settled_run() {
    let before = vec![
        p(0, "api", 0, 1, Status::Online),
        p(1, "api", 1, 1, Status::Online),
        p(2, "db", 0, 1, Status::Online),
    ];
    let req = Request::Restart {
        target: "api".into(),
        update_env: None,
    };
    let t = Tracker::of(&req, &before).unwrap();
    assert_eq!((t.verb, t.total()), ("restart", 2));
    assert_eq!(t.done(&before), 0);
    let during = vec![
        p(0, "api", 0, 2, Status::Online),
        p(1, "api", 1, 2, Status::Launching),
        p(2, "db", 0, 1, Status::Online),
    ];
    assert_eq!(t.done(&during), 1, "launching is not there yet");
    let after = vec![
        p(0, "api", 0, 2, Status::Online),
        p(1, "api", 1, 2, Status::Errored),
    ];
    assert_eq!(t.done(&after), 2);
}

#[test]
fn stop_delete_and_targets_by_id_instance_and_namespace() {
    let before = vec![
        p(0, "api", 0, 1, Status::Online),
        p(5, "api", 1, 1, Status::Online),
    ];
    let stop = Tracker::of(
        &Request::Stop {
            target: "all".into(),
        },
        &before,
    )
    .unwrap();
    assert_eq!(stop.total(), 2);
    let after = vec![
        p(0, "api", 0, 1, Status::Stopped),
        p(5, "api", 1, 1, Status::Stopping),
    ];
    assert_eq!(stop.done(&after), 1);
    let del = Tracker::of(
        &Request::Delete {
            target: "default".into(),
        },
        &before,
    )
    .unwrap();
    assert_eq!(del.done(&after[..1]), 1);
    assert_eq!(del.done(&[]), 2);
    for (target, n) in [("5", 1), ("api:0", 1), ("nope", 0)] {
        let t = Tracker::of(
            &Request::Stop {
                target: target.into(),
            },
            &before,
        )
        .unwrap();
        assert_eq!(t.total(), n, "{target}");
    }
    assert!(Tracker::of(&Request::List, &before).is_none());
}

#[test]
fn a_start_of_specs_counts_their_instances_new_or_not() {
    let mut spec = AppSpec::with_defaults("web", "sleep", "/".into());
    spec.instances = 3;
    let before = vec![p(0, "web", 0, 4, Status::Online)];
    let req = Request::Start {
        apps: vec![spec],
        meta: None,
    };
    let t = Tracker::of(&req, &before).unwrap();
    assert_eq!((t.verb, t.total()), ("start", 3));
    let after = vec![
        p(0, "web", 0, 5, Status::Online),
        p(1, "web", 1, 1, Status::Online),
    ];
    assert_eq!(t.done(&after), 2);
}
