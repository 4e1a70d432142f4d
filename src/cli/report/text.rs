//! Owns turning recorded text into page text: escaping for HTML and Markdown (app names and
//! stderr come from programs, so `<script>`, a table's `|` or a run of backticks must stay
//! text), text sparklines, and byte sizes.

/// `s` as HTML text or attribute value.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` as Markdown inline text (a heading, a list item or a table cell): every character
/// Markdown or an HTML-accepting renderer could act on is escaped, line breaks become spaces.
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '|' | '[' | ']' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `s` as a Markdown code block: a fence longer than any run of backticks in it, so no line of
/// stderr can close it.
pub fn md_code_block(s: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat((longest + 1).max(3));
    format!("{fence}text\n{}\n{fence}\n", s.trim_end_matches('\n'))
}

/// `s` as Markdown inline code, for a command: a fence of backticks longer than any run in it.
pub fn md_code(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One character per value, scaled to the largest: zero is a space, anything above zero at
/// least the lowest bar (a single exit stays visible beside a thousand).
pub fn sparkline(values: &[u64]) -> String {
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if v == 0 || max == 0 {
                ' '
            } else {
                let i = ((v as u128 * 8).div_ceil(max as u128) as usize).clamp(1, 8);
                BARS[i - 1]
            }
        })
        .collect()
}

/// `512 B`, `3.2 KB`, `87 MB`, `1.5 GB` (powers of 1024).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if v < 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup() {
        assert_eq!(
            html("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(html("flask-app"), "flask-app");
    }

    #[test]
    fn markdown_text_cannot_break_a_table_or_open_markup() {
        assert_eq!(md("a|b"), "a\\|b");
        assert_eq!(md("<script>"), "&lt;script&gt;");
        assert_eq!(
            md("`rm` *x* [l](u)\nnext"),
            "\\`rm\\` \\*x\\* \\[l\\](u) next"
        );
        assert_eq!(md("worker_1"), "worker\\_1");
    }

    #[test]
    fn code_blocks_outlast_the_backticks_inside() {
        assert_eq!(md_code_block("plain\n"), "```text\nplain\n```\n");
        let b = md_code_block("a ```` b");
        assert!(
            b.starts_with("`````text\n") && b.ends_with("\n`````\n"),
            "{b}"
        );
        assert_eq!(md_code("svctl history a"), "`svctl history a`");
        assert_eq!(md_code("x `y` z"), "``x `y` z``");
        assert_eq!(md_code("`y`"), "`` `y` ``");
    }

    #[test]
    fn sparklines_scale_to_the_largest_and_keep_small_values_visible() {
        assert_eq!(sparkline(&[0, 1, 2, 4, 8]), " ▁▂▄█");
        assert_eq!(sparkline(&[1, 1000]), "▁█");
        assert_eq!(sparkline(&[0, 0]), "  ");
        assert_eq!(sparkline(&[]), "");
        assert_eq!(sparkline(&[u64::MAX, u64::MAX / 2]).chars().count(), 2);
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 + 205), "3.2 KB");
        assert_eq!(bytes(300 << 20), "300 MB");
        assert_eq!(bytes(3 << 29), "1.5 GB");
    }
}
