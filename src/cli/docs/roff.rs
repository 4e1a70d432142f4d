//! Owns the little roff svctl writes by hand (the pages clap_mangen does not make): escaping
//! text and turning Markdown's inline markup (`code`, **bold**, [links](…)) into fonts.

/// Text escaped for roff: backslashes, hyphens (so they stay hyphens), a leading `.` or `'`,
/// and the few non-ASCII signs the docs use.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            '—' => out.push_str("\\(em"),
            '–' => out.push_str("\\(en"),
            '×' => out.push_str("\\(mu"),
            '…' => out.push_str("..."),
            '→' => out.push_str("\\(->"),
            c => out.push(c),
        }
    }
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

/// A line of running text: Markdown's `code` and **bold** in bold, links as their text.
pub fn inline(s: &str) -> String {
    let mut plain = String::with_capacity(s.len());
    // Links: [text](target) → text.
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|i| i + open) else {
            break;
        };
        let Some(end) = rest[close..].find(')').map(|i| i + close) else {
            break;
        };
        plain.push_str(&rest[..open]);
        plain.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    plain.push_str(rest);
    let plain = plain.replace("**", "`");
    let mut out = String::new();
    for (i, part) in plain.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("\\fB");
            out.push_str(&esc(part).replace("\\&", ""));
            out.push_str("\\fR");
        } else {
            out.push_str(&esc(part).replace("\\&", ""));
        }
    }
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

/// `.TH` of a page: its name, section and source.
pub fn title(name: &str, section: &str) -> String {
    format!(
        ".TH {} {section} \"\" \"svctl {}\"\n",
        name.to_uppercase().replace('-', "\\-"),
        env!("CARGO_PKG_VERSION")
    )
}

/// A SEE ALSO section naming these pages (`svctl-start(1)`), in bold.
pub fn see_also(pages: &[&str]) -> String {
    let refs: Vec<String> = pages
        .iter()
        .map(|p| {
            let (name, sec) = p.split_once('(').unwrap_or((p, "1)"));
            format!("\\fB{}\\fR({sec}", esc(name))
        })
        .collect();
    format!(".SH \"SEE ALSO\"\n{}\n", refs.join(", "))
}

#[cfg(test)]
/// The pages a roff text refers to, as `svctl-start.1` (fonts and escapes removed).
pub fn references(text: &str) -> Vec<String> {
    let plain = text
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\fP", "")
        .replace("\\-", "-");
    let mut out = Vec::new();
    for (i, _) in plain.match_indices('(') {
        let sec = &plain[i + 1..];
        let Some(sec) = sec.get(..2).filter(|s| s.ends_with(')')) else {
            continue;
        };
        let start = plain[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .map_or(0, |j| j + 1);
        let name = &plain[start..i];
        if name.starts_with("svctl") {
            out.push(format!("{name}.{}", &sec[..1]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_inline_markup_becomes_fonts() {
        assert_eq!(
            inline("see [the guide](x.md): `svctl-start` **now**"),
            "see the guide: \\fBsvctl\\-start\\fR \\fBnow\\fR"
        );
        assert_eq!(esc(".hidden"), "\\&.hidden");
    }

    #[test]
    fn references_are_found_through_fonts_and_escapes() {
        assert_eq!(
            references("\\fBsvctl\\-start\\fR(1), svctl(1) and svctl\\-ecosystem(5); f(x)"),
            ["svctl-start.1", "svctl.1", "svctl-ecosystem.5"]
        );
    }
}
