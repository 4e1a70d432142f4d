//! Which way the arrows between svctl's modules point, read from the source under `src/`: the
//! pure parts (configuration, protocol, records, paths, the lifecycle decider and its backoff)
//! know nothing of the CLI or the daemon, the CLI knows nothing of the daemon, and no file
//! grows past what one can read in a sitting.

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

/// A file under `src/`, with the module path it defines (`src/daemon/lifecycle.rs` →
/// `["daemon", "lifecycle"]`; `src/lib.rs` → `[]`).
struct Source {
    rel: String,
    module: Vec<String>,
    text: String,
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    assert!(!files.is_empty(), "no .rs file under {}", src.display());
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            Source {
                module: module_of(&rel),
                rel,
                text,
            }
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Every module path the text names through `crate::` (braced groups included) or `super::`
/// (resolved against the module the line is in, inline `mod x {` blocks included), with the
/// line number.
fn references(module: &[String], text: &str) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    // Inline modules open so far: (indentation of their closing brace, name).
    let mut inline: Vec<(String, String)> = Vec::new();
    for (n, line) in logical_lines(text) {
        let line = line.as_str();
        if inline
            .last()
            .is_some_and(|(indent, _)| line == format!("{indent}}}"))
        {
            inline.pop();
            continue;
        }
        let here: Vec<String> = module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(_, m)| m.clone()))
            .collect();
        let trimmed = line.trim_start();
        let head = trimmed
            .strip_prefix("pub ")
            .or_else(|| trimmed.strip_prefix("pub(crate) "))
            .unwrap_or(trimmed);
        if let Some(rest) = head.strip_prefix("mod ")
            && let Some(name) = rest.strip_suffix(" {")
        {
            let indent = &line[..line.len() - trimmed.len()];
            inline.push((indent.to_string(), name.trim().to_string()));
            continue;
        }
        for path in paths_in(line) {
            let resolved = match path.first().map(String::as_str) {
                Some("crate") => Some(path[1..].to_vec()),
                Some("super") => {
                    let ups = path.iter().take_while(|p| *p == "super").count();
                    (ups <= here.len()).then(|| {
                        let mut p = here[..here.len() - ups].to_vec();
                        p.extend(path[ups..].iter().cloned());
                        p
                    })
                }
                _ => None,
            };
            if let Some(p) = resolved {
                found.push((n, p));
            }
        }
    }
    found
}

/// The lines of `text` with each brace group of a path (`use crate::{…};` over several lines)
/// joined onto the line it starts on, with that line's number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let (start, acc) = match pending.take() {
            Some((start, acc)) => (start, format!("{acc} {}", line.trim())),
            None => (n + 1, line.to_string()),
        };
        if open_path_groups(&acc) > 0 {
            pending = Some((start, acc));
        } else {
            out.push((start, acc));
        }
    }
    out.extend(pending);
    out
}

/// How many `::{` groups are still open at the end of `s`.
fn open_path_groups(s: &str) -> usize {
    let mut depth = 0usize;
    let mut prev = ['\0', '\0'];
    for c in s.chars() {
        match c {
            '{' if depth > 0 || prev == [':', ':'] => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ => {}
        }
        prev = [prev[1], c];
    }
    depth
}

/// The `crate::…` and `super::…` paths on one (logical) line, brace groups expanded
/// (`crate::{a, b::{c, d}}` → `crate::a`, `crate::b::c`, `crate::b::d`).
fn paths_in(line: &str) -> Vec<Vec<String>> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = line[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            // `foo_crate::x` is not `crate::x`, and the second `super` of `super::super` is
            // part of the first's path.
            let before = &line[..at];
            if before.chars().next_back().is_some_and(is_ident) || before.ends_with("::") {
                continue;
            }
            let (segs, rest) = segments(&line[at..]);
            match rest.strip_prefix('{') {
                Some(group) => out.extend(expand(&segs, &group[..closing(group)])),
                None => out.push(segs),
            }
        }
    }
    out
}

/// The leading `a::b::c` of `s` as segments, and what follows the last `::` (or the last
/// segment).
fn segments(s: &str) -> (Vec<String>, &str) {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut segs = Vec::new();
    let mut rest = s.trim_start();
    loop {
        let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        segs.push(rest[..end].to_string());
        rest = &rest[end..];
        match rest.strip_prefix("::") {
            Some(r) => rest = r.trim_start(),
            None => break,
        }
    }
    (segs, rest)
}

/// The index of the `}` that closes a group whose `{` came just before `s`.
fn closing(s: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

/// The paths of the items of a brace group (its text between the braces) under `prefix`.
fn expand(prefix: &[String], group: &str) -> Vec<Vec<String>> {
    let mut items = Vec::new();
    let (mut depth, mut from) = (0usize, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&group[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[from..]);
    let mut out = Vec::new();
    for item in items.into_iter().map(str::trim).filter(|i| !i.is_empty()) {
        let (segs, rest) = segments(item);
        let mut path = prefix.to_vec();
        path.extend(segs);
        match rest.strip_prefix('{') {
            Some(inner) => out.extend(expand(&path, &inner[..closing(inner)])),
            None => out.push(path),
        }
    }
    out
}

/// A rule: the files it covers must not name any module under `forbidden`, except their own
/// module and the `allowed` ones.
struct Rule {
    what: &'static str,
    covers: fn(&str) -> bool,
    forbidden: &'static [&'static str],
    allowed: &'static [&'static [&'static str]],
}

fn is_lifecycle(rel: &str) -> bool {
    rel.starts_with("daemon/lifecycle")
}

const RULES: &[Rule] = &[
    Rule {
        what: "src/config/",
        covers: |r| r.starts_with("config/"),
        forbidden: &["cli", "daemon"],
        allowed: &[],
    },
    Rule {
        what: "src/ipc/",
        covers: |r| r.starts_with("ipc/"),
        forbidden: &["cli", "daemon"],
        allowed: &[],
    },
    Rule {
        what: "src/deploy/",
        covers: |r| r.starts_with("deploy/"),
        forbidden: &["cli", "daemon", "store"],
        allowed: &[],
    },
    Rule {
        what: "src/record.rs",
        covers: |r| r == "record.rs",
        forbidden: &["cli", "daemon"],
        allowed: &[],
    },
    Rule {
        what: "src/paths.rs",
        covers: |r| r == "paths.rs",
        forbidden: &["cli", "daemon"],
        allowed: &[],
    },
    Rule {
        what: "src/daemon/lifecycle*",
        covers: is_lifecycle,
        forbidden: &["cli", "daemon"],
        // The decider and its parts (backoff, classification, guard, desired state) are one
        // pure module.
        allowed: &[&["daemon", "lifecycle"]],
    },
    Rule {
        what: "src/cli/",
        covers: |r| r.starts_with("cli/"),
        forbidden: &["daemon"],
        allowed: &[],
    },
];

/// The wrong-way arrows in `sources`, one message each; also a rule that covers no file (the
/// tree moved and the test must follow it).
fn wrong_arrows(sources: &[Source]) -> Vec<String> {
    let mut bad = Vec::new();
    for rule in RULES {
        let covered: Vec<&Source> = sources.iter().filter(|s| (rule.covers)(&s.rel)).collect();
        if covered.is_empty() {
            bad.push(format!(
                "{}: no such file any more; update tests/it/arrows.rs",
                rule.what
            ));
        }
        for s in covered {
            for (line, path) in references(&s.module, &s.text) {
                let forbidden = path
                    .first()
                    .is_some_and(|m| rule.forbidden.contains(&m.as_str()));
                let own = path.starts_with(&s.module) && !s.module.is_empty();
                let allowed = rule.allowed.iter().any(|a| {
                    path.len() >= a.len() && path.iter().zip(a.iter()).all(|(p, a)| p == a)
                });
                if forbidden && !own && !allowed {
                    bad.push(format!(
                        "src/{}:{line}: names crate::{} ({} may not use crate::{})",
                        s.rel,
                        path.join("::"),
                        rule.what,
                        rule.forbidden.join(" or crate::")
                    ));
                }
            }
        }
    }
    bad
}

#[test]
fn pure_modules_and_the_cli_do_not_use_the_daemon() {
    let bad = wrong_arrows(&sources());
    assert!(
        bad.is_empty(),
        "arrows pointing the wrong way:\n{}",
        bad.join("\n")
    );
}

#[test]
fn no_source_file_is_over_600_lines() {
    let long: Vec<String> = sources()
        .iter()
        .map(|s| (s.rel.clone(), s.text.lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(rel, n)| format!("src/{rel}: {n} lines"))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them by what they own):\n{}",
        long.join("\n")
    );
}

/// The checker itself can fail: each way of naming a module is seen, and each rule bites.
#[test]
fn the_arrow_check_sees_every_way_of_naming_a_module() {
    let src = |rel: &str, text: &str| Source {
        rel: rel.to_string(),
        module: module_of(rel),
        text: text.to_string(),
    };
    let mut tree: Vec<Source> = [
        "config/mod.rs",
        "ipc/mod.rs",
        "record.rs",
        "paths.rs",
        "daemon/lifecycle.rs",
        "daemon/lifecycle/backoff.rs",
        "cli/mod.rs",
        "deploy/mod.rs",
    ]
    .iter()
    .map(|r| src(r, "use crate::record::Cause;\n"))
    .collect();
    assert_eq!(wrong_arrows(&tree), Vec::<String>::new());

    tree.extend([
        src("config/load.rs", "use crate::{paths, cli::args};\n"),
        src("ipc/codec.rs", "fn f() { crate::daemon::run(); }\n"),
        src("record.rs", "use super::daemon::Thing;\n"),
        src("daemon/lifecycle.rs", "use super::supervisor::X;\nuse crate::daemon::backoff;\n"),
        src("daemon/lifecycle/table.rs", "use super::super::server;\nuse super::Event;\n"),
        src("daemon/lifecycle/backoff.rs", "use super::guard;\n"),
        src(
            "cli/render.rs",
            "use crate::{\n    ipc::{Request, Response},\n    daemon::{self, x},\n};\nuse crate::daemon;\n",
        ),
        src(
            "daemon/lifecycle.rs",
            "#[cfg(test)]\nmod tests {\n    use super::*;\n}\nuse super::*;\n",
        ),
    ]);
    let bad = wrong_arrows(&tree);
    let want = [
        "src/config/load.rs:1: names crate::cli::args",
        "src/ipc/codec.rs:1: names crate::daemon::run",
        "src/record.rs:1: names crate::daemon::Thing",
        "src/daemon/lifecycle.rs:1: names crate::daemon::supervisor::X",
        "src/daemon/lifecycle/table.rs:1: names crate::daemon::server",
        "src/daemon/lifecycle.rs:2: names crate::daemon::backoff",
        "src/cli/render.rs:1: names crate::daemon::self",
        "src/cli/render.rs:1: names crate::daemon::x",
        "src/cli/render.rs:5: names crate::daemon",
        "src/daemon/lifecycle.rs:5: names crate::daemon",
    ];
    for w in want {
        assert!(
            bad.iter().any(|b| b.starts_with(w)),
            "missing {w:?} in\n{}",
            bad.join("\n")
        );
    }
    // Allowed: lifecycle's parts naming each other, a module naming itself, `super::*` inside
    // `mod tests`.
    assert_eq!(bad.len(), want.len(), "{}", bad.join("\n"));
}
