//! JavaScript and JSON5 ecosystem files: the plain-literal reading (no node), the reasons a
//! file needs node, problems pointed back at the JS lines, and node's evaluation when node is
//! installed.

use super::*;
use crate::config::js::{literal, load_json};
use crate::config::js_text::{self, Role, Seg};

const FILE: &str = "/tmp/eco/ecosystem.config.js";

/// Loads a JS file's text as svctl does without node.
fn literal_load(js: &str) -> Result<Loaded, ConfigError> {
    let path = Path::new(FILE);
    let json = literal(path, js, true)?;
    load_json(path, js, &json, &LoadOptions::default())
}

fn literal_err(js: &str) -> String {
    match literal_load(js) {
        Ok(l) => panic!("expected problems, got {:?}", l.apps),
        Err(e) => e.to_string(),
    }
}

fn node_installed() -> bool {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

const LITERAL: &str = "// made by pm2 init
'use strict';
module.exports = {
  apps: [
    {
      name: 'IPMI fan controller',   // spaces are fine
      script: \"sleep\",
      args: '100',
      env: { PORT: 3000, DEBUG: false, },
      env_production: { PORT: +8080 },
    },
    {
      name: `api.vtbs.moe/hawk`,
      script: 'sleep',
    },
  ],
};
";

#[test]
fn a_plain_literal_loads_without_node() {
    // Template strings without `${}` need node too: keep the literal JSON5.
    let js = LITERAL.replace('`', "'");
    let l = literal_load(&js).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&l), ["IPMI fan controller", "api.vtbs.moe/hawk"]);
    assert_eq!(l.apps[0].env["PORT"], "3000");
    assert_eq!(l.apps[0].env["DEBUG"], "false");
    assert_eq!(l.file, PathBuf::from(FILE));
    let path = Path::new(FILE);
    let json = literal(path, &js, true).unwrap();
    let opts = LoadOptions {
        env_name: Some("production".into()),
    };
    let prod = load_json(path, &js, &json, &opts).unwrap();
    assert_eq!(prod.apps[0].env["PORT"], "8080");
    // `export default` and JSON5 files read the same way.
    let esm = js.replace("module.exports =", "export default");
    assert_eq!(names(&literal_load(&esm).unwrap()), names(&l));
    let json5 = "{apps: [{script: 'sleep', name: 'x',},],}";
    let json = literal(Path::new("/tmp/eco/e.json5"), json5, false).unwrap();
    let plain = LoadOptions::default();
    assert!(load_json(Path::new("/tmp/eco/e.json5"), json5, &json, &plain).is_ok());
}

#[test]
fn a_typo_names_the_field_the_suggestion_and_the_js_line() {
    let js = "module.exports = {\n  apps: [\n    { name: 'a', script: 'sleep', max_restart: 3 },\n    {\n      name: 'b',\n      script: 'sleep',\n      \"max_restart\": 3,\n      instances: 'x',\n    },\n  ],\n};\n";
    let e = literal_err(js);
    let want = format!(
        "{FILE}:3:35: apps[0].max_restart: unknown field
  hint: did you mean `max_restarts`?
{FILE}:7:7: apps[1].max_restart: unknown field
  hint: did you mean `max_restarts`?
{FILE}:8:18: apps[1].instances: expected a whole number, found \"x\"
3 problems in {FILE}; nothing was started"
    );
    assert_eq!(e, want);
}

#[test]
fn files_that_need_evaluation_say_why() {
    for (js, why) in [
        (
            "const path = require('path');\nmodule.exports = { apps: [] };\n",
            "it uses require at line 1",
        ),
        (
            "module.exports = {\n  apps: [{\n    script: 'x',\n    env: { PORT: process.env.PORT },\n  }],\n};\n",
            "it uses process.env at line 4",
        ),
        (
            "module.exports = { apps: [{ script: `${__dirname}/x` }] };",
            "it uses a template string with `${}` at line 1",
        ),
        (
            "const base = { script: 'x' };\nmodule.exports = { apps: [{ ...base }] };",
            "it uses a spread (`...`) at line 2",
        ),
        (
            "const apps = [];\nmodule.exports = { apps };",
            "it uses variables (`const`) at line 1",
        ),
        (
            "module.exports = { apps: [{ script: 'x', cwd: __dirname }] };",
            "it uses __dirname at line 1",
        ),
        (
            "module.exports = { apps: [{ script: 'a' + 'b' }] };",
            "it uses an expression (`+`) at line 1",
        ),
    ] {
        let e = literal_load(js).unwrap_err();
        assert!(matches!(e, ConfigError::NeedsNode { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "{FILE} needs node to be evaluated ({why}); install node or convert it to YAML"
            ),
            "for {js}"
        );
    }
    let e = literal_load("{ apps: [] }").unwrap_err().to_string();
    assert!(e.contains("no `module.exports =`"), "{e}");
}

#[test]
fn literal_syntax_errors_point_at_the_js_line() {
    let e =
        literal_err("module.exports = {\n  apps: [\n    { name: 'a' script: 'x' },\n  ],\n};\n");
    assert!(e.starts_with(&format!("{FILE}:3:")), "{e}");
    assert!(e.contains("not a valid object literal"), "{e}");
    let deep = format!("module.exports = {}{};", "[".repeat(100), "]".repeat(100));
    assert!(literal_err(&deep).contains("nested deeper than"));
}

#[test]
fn places_follow_paths_through_literals_and_restart_in_code() {
    let text = "const p = require('p');\nmodule.exports = {\n  apps: [{ a: 1 }, {\n    'b': [1, fn({ c: 2 })],\n  }],\n};\n";
    let places = js_text::places(&js_text::lex(text));
    let key = |path: &[Seg]| {
        places
            .iter()
            .find(|p| p.path == path && p.role == Role::Key)
            .map(|p| (p.line, p.column))
    };
    let k = |s: &str| Seg::Key(s.into());
    assert_eq!(key(&[k("apps"), Seg::Index(0), k("a")]), Some((3, 12)));
    assert_eq!(key(&[k("apps"), Seg::Index(1), k("b")]), Some((4, 5)));
    // Inside a call, paths start again.
    assert_eq!(key(&[k("c")]), Some((4, 19)));
    let value = places
        .iter()
        .find(|p| p.path == [k("apps"), Seg::Index(1), k("b"), Seg::Index(1)])
        .map(|p| (p.line, p.column, p.role));
    assert_eq!(value, Some((4, 14, Role::Value)));
}

#[test]
fn node_evaluates_code_and_points_at_the_key_it_finds() {
    if !node_installed() {
        eprintln!("skipped: node not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ecosystem.config.js");
    std::fs::write(
        &f,
        "const path = require('path');\nconst app = (name) => ({\n  name,\n  script: path.join(__dirname, 'run.sh'),\n  max_restart: 2,\n});\nmodule.exports = { apps: [app('one'), app('two')] };\n",
    )
    .unwrap();
    let e = load_file(&f, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    // Built in code: the key is found by its name, at the line where it is written.
    let want = format!("{}:5:3: apps[0].max_restart: unknown field", f.display());
    assert!(e.contains(&want), "{e}");
    std::fs::write(
        &f,
        "module.exports = { apps: [{ name: 'x', script: 'sleep', cwd: __dirname }] };\n",
    )
    .unwrap();
    let l = load_file(&f, &LoadOptions::default()).unwrap();
    assert_eq!(l.apps[0].cwd, dir.path());
    let m = dir.path().join("ecosystem.config.mjs");
    std::fs::write(
        &m,
        "export default { apps: [{ name: 'm', script: 'sleep' }] };\n",
    )
    .unwrap();
    assert_eq!(
        names(&load_file(&m, &LoadOptions::default()).unwrap()),
        ["m"]
    );
    std::fs::write(&f, "module.exports = { a: 1, b: [] };\n").unwrap();
    let e = load_file(&f, &LoadOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("module.exports is an object with keys a, b but no `apps`"),
        "{e}"
    );
    std::fs::write(&f, "module.exports = () => ({ apps: [] });\n").unwrap();
    let e = load_file(&f, &LoadOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("module.exports is a function"),
        "{e}"
    );
    std::fs::write(
        &f,
        "module.exports = { pm2: [{ name: 'old', script: 'sleep' }] };\n",
    )
    .unwrap();
    assert_eq!(
        names(&load_file(&f, &LoadOptions::default()).unwrap()),
        ["old"]
    );
}
