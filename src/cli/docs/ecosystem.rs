//! Owns `svctl-ecosystem(5)`, the file format, generated from the loader's own tables:
//! [`FIELDS`](crate::config::fields::FIELDS) (keys and aliases), its `DOCS` (type, default and
//! meaning of each key) and `IGNORED` (PM2 keys accepted with a warning).

use super::roff::{esc, inline, see_also, title};
use crate::config::fields::{DOCS, FIELDS, IGNORED};

/// Keys PM2 does not have (every other key of FIELDS is PM2's, with PM2's meaning).
const SVCTL_OWN: &[&str] = &[
    "kill_signal",
    "env_file",
    "memory_check_interval",
    "max_memory_samples",
    "log_max_size",
    "log_retain",
    "ready_log_line",
    "ready",
    "health",
    "watchdog",
    "listen",
    "reload_signal",
];

const INTRO: &str = r#".SH NAME
svctl\-ecosystem \- the ecosystem file: the apps svctl runs and how
.SH SYNOPSIS
\fBecosystem.yaml\fR, \fBecosystem.json\fR, \fBecosystem.config.js\fR (\fB.cjs\fR, \fB.mjs\fR, \fB.json5\fR)
.SH DESCRIPTION
An ecosystem file declares apps with PM2's field names; a PM2 file works unchanged, apart from
Node\-only options, which are reported in one warning and ignored.
\fBsvctl check FILE\fR validates one without starting anything; \fBsvctl start FILE\fR and
\fBsvctl apply FILE\fR run it. A file with problems gets every problem at once, each with its
file, line, column and field (and a suggestion for a misspelled key); nothing starts and the
command exits 2.
.SH "FILE SHAPES"
.TP
YAML or JSON
A mapping with \fBapps\fR (or PM2's other name for it, \fBpm2\fR): a list of apps or one app;
or a bare list of apps; or a single app. YAML anchors and \fB<<:\fR merges work; other top\-level
keys are taken as anchors. \fBdeploy\fR (PM2's deployment tool) is ignored with a warning.
A file is at most 4 MiB.
.TP
JavaScript (.js, .cjs, .mjs, .json5)
When \fBnode\fR is on PATH, the command you type evaluates the file as PM2 does
(\fBrequire\fR, or \fBimport()\fR for ES modules; \fBmodule.exports\fR or \fBexport default\fR of
an object with \fBapps\fR or a list of apps), with your environment and the file's folder as
working directory, within 10 s (\fBSVCTL_JS_TIMEOUT_MS\fR) and 16 MiB of output.
Without node, a file that is a plain literal (\fBmodule.exports = { apps: [...] }\fR, comments,
single quotes and trailing commas allowed) is read directly; one that needs evaluation says why.
.TP
\- (standard input)
\fBsvctl start \-\fR, \fBapply \-\fR and \fBcheck \-\fR read YAML or JSON from standard input.
.SH UNITS
.TP
duration
Milliseconds (\fB1500\fR), or a number with \fBms\fR, \fBs\fR, \fBm\fR or \fBh\fR
(\fB500ms\fR, \fB30s\fR, \fB5m\fR, \fB1h\fR).
.TP
size
Bytes, or a number with \fBK\fR, \fBM\fR or \fBG\fR, binary units (\fB300M\fR = 300 MiB).
Write \fB300M\fR, not \fB300MB\fR.
.TP
boolean
\fBtrue\fR or \fBfalse\fR (also as strings).
.SH KEYS
Keys are PM2's, with PM2's meaning, unless marked \fI(svctl)\fR. Each key may also be
written in camelCase (\fBmaxRestarts\fR), as PM2 accepts.
"#;

const ENV_BLOCKS: &str = r#".SH "ENV BLOCKS"
An app's \fBenv_NAME\fR mapping (\fBenv_production\fR) is merged over its \fBenv\fR when a command
is given \fB\-\-env NAME\fR (\fBstart\fR, \fBapply\fR, \fBcheck\fR, \fBrestart\fR, \fBreload\fR).
\fB\-\-env NAME\fR when no app of the file has an \fBenv_NAME\fR block is refused (exit 2).
With \fBappend_env_to_name: true\fR, the app is named \fBAPP\-NAME\fR.
Every app also gets the environment of the \fBsvctl\fR command that started it; then
\fBenv_file\fR, then \fBenv\fR, then the \fBenv_NAME\fR block.
"#;

const OUTRO: &str = r#".SH EXAMPLE
.nf
.RS
apps:
  \- name: api
    script: server.py
    instances: 2
    increment_var: PORT
    env:
      PORT: 8000
    env_production:
      DB_URL: postgres://db/prod
    max_memory_restart: 300M
    ready:
      http: http://127.0.0.1:$PORT/health
.RE
.fi
.SH FILES
\fBecosystem.example.yaml\fR in svctl's source shows every key with a comment.
"#;

/// The whole page.
pub fn page() -> Vec<u8> {
    let mut out = title("svctl-ecosystem", "5");
    out.push_str(INTRO);
    for (key, aliases) in FIELDS {
        let Some((_, ty, default, meaning)) = DOCS.iter().find(|(k, ..)| k == key) else {
            continue;
        };
        out.push_str(&format!(".TP\n\\fB{}\\fR", esc(key)));
        if !aliases.is_empty() {
            let names: Vec<String> = aliases
                .iter()
                .map(|a| format!("\\fB{}\\fR", esc(a)))
                .collect();
            out.push_str(&format!(" (alias: {})", names.join(", ")));
        }
        if SVCTL_OWN.contains(key) {
            out.push_str(" \\fI(svctl)\\fR");
        }
        out.push('\n');
        out.push_str(&inline(meaning));
        out.push_str(&format!(
            "\n.br\nType: {}.\n.br\nDefault: {}.\n",
            inline(ty),
            inline(default)
        ));
    }
    out.push_str(ENV_BLOCKS);
    out.push_str(".SH \"IGNORED KEYS\"\nThese PM2 keys are accepted and ignored, named in one warning per file:\n");
    for (key, why) in IGNORED {
        out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", esc(key), inline(why)));
    }
    out.push_str("Any other key is an error, with a suggestion when it is close to a known one.\n");
    out.push_str(OUTRO);
    out.push_str(&see_also(&[
        "svctl(1)",
        "svctl-start(1)",
        "svctl-check(1)",
        "svctl-apply(1)",
        "svctl-reload(1)",
    ]));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_field_has_its_doc_and_every_doc_a_field() {
        let fields: BTreeSet<&str> = FIELDS.iter().map(|(k, _)| *k).collect();
        let docs: BTreeSet<&str> = DOCS.iter().map(|(k, ..)| *k).collect();
        let undocumented: Vec<_> = fields.difference(&docs).collect();
        let unknown: Vec<_> = docs.difference(&fields).collect();
        assert!(
            undocumented.is_empty(),
            "keys without a row in config::fields::DOCS: {undocumented:?}"
        );
        assert!(
            unknown.is_empty(),
            "DOCS rows for keys FIELDS does not have: {unknown:?}"
        );
        assert_eq!(DOCS.len(), docs.len(), "a key is documented twice");
        for key in SVCTL_OWN {
            assert!(
                fields.contains(key),
                "SVCTL_OWN names {key}, which FIELDS does not have"
            );
        }
    }

    #[test]
    fn the_page_names_every_key_alias_and_ignored_key() {
        let page = String::from_utf8(page()).unwrap().replace("\\-", "-");
        for (key, aliases) in FIELDS {
            for k in std::iter::once(key).chain(aliases.iter()) {
                assert!(
                    page.contains(&format!("\\fB{k}\\fR")),
                    "{k} is not on the page"
                );
            }
        }
        for (key, _) in IGNORED {
            assert!(
                page.contains(&format!("\\fB{key}\\fR")),
                "{key} is not on the page"
            );
        }
    }
}
