//! Owns `svctl-database(5)`: `docs/SCHEMA.md` turned into roff by a converter that knows what
//! that file uses (headings, paragraphs, lists, tables, code blocks), so the page and the
//! document (whose example queries a store test runs) say the same thing.

use super::roff::{esc, inline, see_also, title};

const SCHEMA_MD: &str = include_str!("../../../docs/SCHEMA.md");

/// The whole page.
pub fn page() -> Vec<u8> {
    let mut out = title("svctl-database", "5");
    out.push_str(".SH NAME\nsvctl\\-database \\- the SQLite database of svctl: tables, columns, causes, example queries\n");
    out.push_str(".SH DESCRIPTION\n");
    out.push_str(&markdown(SCHEMA_MD));
    out.push_str(&see_also(&[
        "svctl(1)",
        "svctl-history(1)",
        "svctl-why(1)",
        "svctl-deployments(1)",
        "sqlite3(1)",
    ]));
    out.into_bytes()
}

/// Markdown → roff: `#` is dropped (the NAME says it), `##` is a section, `###` a subsection,
/// table rows are tagged paragraphs (the first cell the tag), fenced code is kept as is.
pub fn markdown(md: &str) -> String {
    let mut out = String::new();
    let mut code = false;
    let mut para = false;
    for line in md.lines() {
        if line.starts_with("```") {
            if code {
                out.push_str(".fi\n.RE\n");
            } else {
                out.push_str(".PP\n.RS\n.nf\n");
            }
            code = !code;
            para = false;
            continue;
        }
        if code {
            out.push_str(&esc(line));
            out.push('\n');
            continue;
        }
        let t = line.trim();
        if t.is_empty() {
            para = false;
        } else if t.starts_with("# ") {
            continue;
        } else if let Some(h) = t.strip_prefix("### ") {
            out.push_str(&format!(".SS \"{}\"\n", inline(h).replace('"', "")));
            para = true;
        } else if let Some(h) = t.strip_prefix("## ") {
            out.push_str(&format!(
                ".SH \"{}\"\n",
                inline(h)
                    .to_uppercase()
                    .replace('"', "")
                    .replace("\\FB", "\\fB")
                    .replace("\\FR", "\\fR")
            ));
            para = true;
        } else if t.starts_with('|') {
            let cells: Vec<&str> = t.trim_matches('|').split('|').map(str::trim).collect();
            let separator = cells
                .iter()
                .all(|c| c.chars().all(|ch| ch == '-' || ch == ':'));
            let header = cells.first().is_some_and(|c| !c.contains('`'));
            if separator || header {
                continue;
            }
            out.push_str(&format!(
                ".TP\n{}\n{}\n",
                inline(cells[0]),
                inline(&cells[1..].join(" | "))
            ));
            para = true;
        } else if let Some(item) = t.strip_prefix("- ") {
            out.push_str(&format!(".IP \\(bu 2\n{}\n", inline(item)));
            para = true;
        } else {
            if !para {
                out.push_str(".PP\n");
                para = true;
            }
            out.push_str(&inline(t));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_view_and_column_of_a_fresh_store_is_on_the_page() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let page = String::from_utf8(page()).unwrap().replace("\\-", "-");
        let mut stmt = conn
            .prepare("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'")
            .unwrap();
        let objects: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(objects.len() >= 4, "{objects:?}");
        for (name, kind) in objects {
            assert!(
                page.contains(&format!("\\fB{name}\\fR")),
                "{kind} {name} is not on svctl-database(5)"
            );
            if kind == "view" {
                continue;
            }
            let mut cols = conn.prepare(&format!("PRAGMA table_info({name})")).unwrap();
            let cols: Vec<String> = cols
                .query_map([], |r| r.get(1))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for col in cols {
                assert!(
                    page.contains(&format!("\\fB{col}\\fR")),
                    "column {name}.{col} is not in docs/SCHEMA.md (svctl-database(5))"
                );
            }
        }
    }
}
