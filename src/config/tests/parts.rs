//! The loader's building blocks on their own: `.env` files, argument splitting, suggestions.

use super::*;

#[test]
fn env_file_parser() {
    let m = load::parse_env_file("A=1\n\n# c\nexport B='q'\nC=\n").unwrap();
    assert_eq!(m["A"], "1");
    assert_eq!(m["B"], "q");
    assert_eq!(m["C"], "");
    assert!(load::parse_env_file("just words\n").is_err());
    assert!(load::parse_env_file("BAD KEY=1\n").is_err());
}

#[test]
fn shell_like_splitting() {
    assert_eq!(
        load::split_args("a 'b c' \"d \\\" e\" f\\ g").unwrap(),
        ["a", "b c", "d \" e", "f g"]
    );
    assert_eq!(load::split_args("  ").unwrap(), Vec::<String>::new());
    assert_eq!(load::split_args("''").unwrap(), [""]);
    assert!(load::split_args("'open").is_err());
    // As in a POSIX shell: inside double quotes a backslash only escapes `"`, `\`, `$`, `` ` ``.
    assert_eq!(
        load::split_args(r#"-e "C:\dir" "a\"b""#).unwrap(),
        ["-e", r"C:\dir", r#"a"b"#]
    );
    assert!(load::split_args("trailing\\").is_err());
}

#[test]
fn suggestions_only_for_close_names() {
    assert_eq!(
        load::suggest("max_restart", ["max_restarts", "script"]),
        Some("max_restarts")
    );
    assert_eq!(load::suggest("xyzzy", ["max_restarts", "script"]), None);
    assert_eq!(load::suggest("SCRIPT", ["script"]), Some("script"));
}

#[test]
fn the_default_backoff_holds_until_a_delay_is_given() {
    let load = |extra: &str| {
        let yaml = format!("apps:\n  - name: a\n    script: sleep\n{extra}");
        crate::config::load_str(
            &yaml,
            std::path::Path::new("/tmp/eco.yaml"),
            &Default::default(),
        )
        .expect("valid")
        .apps
        .remove(0)
    };
    assert!(load("").default_backoff);
    assert!(
        !load("    restart_delay: 0\n").default_backoff,
        "an explicit 0 is PM2's rule"
    );
    assert!(!load("    exp_backoff_restart_delay: 100\n").default_backoff);
}
