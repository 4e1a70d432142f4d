//! A slow crash loop is flagged where users look first: an app that exits with code 1 about
//! 1.2 s after each start, just over its `min_uptime` of 1 s, so every run counts as stable and
//! `max_restarts` never stops it. `list` and `describe` say it is crash-looping (read from the
//! database beside the daemon); a steady app beside it is not flagged.

use crate::harness::*;

#[test]
fn list_and_describe_flag_a_slow_crash_loop() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: flaky\n    script: bash\n    args: [\"-c\", \"sleep 1.2; echo 'ImportError: no module named flask' >&2; exit 1\"]\n    min_uptime: 1s\n  - name: steady\n    script: sleep\n    args: \"1000\"\n",
    );
    h.ok(&["start", &file]);
    h.wait_status("steady", 0, "online");

    let mut table = String::new();
    h.wait_until("list flags flaky as crash-looping", || {
        table = h.ok(&["list"]);
        table.contains("flaky is crash-looping")
    });
    let flagged: Vec<&str> = table
        .lines()
        .filter(|l| l.contains("(crash loop)"))
        .collect();
    assert_eq!(flagged.len(), 1, "{table}");
    assert!(flagged[0].contains("flaky"), "{table}");
    let line = table
        .lines()
        .find(|l| l.starts_with("flaky is crash-looping (instance 0): "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        line.contains(" exits in ")
            && line.contains("each after about 1.")
            && line.ends_with("`svctl why flaky` says why"),
        "{line}"
    );
    assert!(!table.contains("steady is crash-looping"), "{table}");

    // Every run lasted more than min_uptime: none of them was unstable.
    let p = h.proc("flaky", 0).unwrap();
    assert_eq!(p["unstable_restarts"], 0, "{p}");
    // The JSON schema is the daemon's, unchanged.
    assert!(p.get("crash_looping").is_none(), "{p}");

    let describe = h.ok(&["describe", "flaky"]);
    assert!(describe.contains("crash loop 0"), "{describe}");
    assert!(
        describe.contains("a crash loop just above min_uptime (1.0 s)"),
        "{describe}"
    );
    let steady = h.ok(&["describe", "steady"]);
    assert!(!steady.contains("crash loop"), "{steady}");

    // Once it is stopped, the loop is over: nothing is flagged.
    h.ok(&["stop", "flaky"]);
    let table = h.ok(&["list"]);
    assert!(!table.contains("crash loop"), "{table}");
}
