//! Owns drawing the process table fast: the same box-drawn table as comfy-table's
//! `UTF8_FULL_CONDENSED` preset (no wrapping), written straight into one string. `list` at a
//! thousand rows spent most of its time in the general table engine (a cell, a styled string
//! and a width measure per field); here each field is measured once and copied once.

use unicode_width::UnicodeWidthStr;

/// The colours the process table uses, as the terminal codes comfy-table writes for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    Green,
    Red,
    Grey,
    Yellow,
}

impl Color {
    fn code(self) -> &'static str {
        match self {
            Color::Green => "\x1b[38;5;10m",
            Color::Red => "\x1b[38;5;9m",
            Color::Grey => "\x1b[38;5;7m",
            Color::Yellow => "\x1b[38;5;11m",
        }
    }
}

const RESET: &str = "\x1b[39m";

/// A table being built: a header and rows of fields, some coloured.
#[derive(Debug, Default)]
pub struct Grid {
    header: Vec<String>,
    rows: Vec<Vec<(String, Option<Color>)>>,
}

impl Grid {
    pub fn new(header: Vec<&str>) -> Grid {
        Grid {
            header: header.into_iter().map(str::to_string).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, fields: Vec<(String, Option<Color>)>) {
        self.rows.push(fields);
    }

    /// The table, with colours when `color`; no line ends with a newline after the last.
    pub fn draw(&self, color: bool) -> String {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.header.len()])
            .max()
            .unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for (i, h) in self.header.iter().enumerate() {
            widths[i] = widths[i].max(h.width());
        }
        for r in &self.rows {
            for (i, (f, _)) in r.iter().enumerate() {
                widths[i] = widths[i].max(f.width());
            }
        }
        let line_len: usize = widths.iter().map(|w| w + 3).sum::<usize>() * 3 + 8;
        let mut out = String::with_capacity(line_len * (self.rows.len() + 4));
        let rule = |out: &mut String, left: char, fill: char, cross: char, right: char| {
            out.push(left);
            for (i, w) in widths.iter().enumerate() {
                if i > 0 {
                    out.push(cross);
                }
                out.extend(std::iter::repeat_n(fill, w + 2));
            }
            out.push(right);
            out.push('\n');
        };
        let fields = |out: &mut String, fields: &mut dyn Iterator<Item = (&str, Option<Color>)>| {
            out.push('│');
            let mut fields = fields.fuse();
            for (i, w) in widths.iter().enumerate() {
                if i > 0 {
                    out.push('┆');
                }
                let (text, c) = fields.next().unwrap_or(("", None));
                let c = c.filter(|_| color);
                if let Some(c) = c {
                    out.push_str(c.code());
                }
                out.push(' ');
                out.push_str(text);
                out.extend(std::iter::repeat_n(' ', w - text.width() + 1));
                if c.is_some() {
                    out.push_str(RESET);
                }
            }
            out.push('│');
            out.push('\n');
        };
        rule(&mut out, '┌', '─', '┬', '┐');
        fields(
            &mut out,
            &mut self.header.iter().map(|h| (h.as_str(), None)),
        );
        rule(&mut out, '╞', '═', '╪', '╡');
        for r in &self.rows {
            fields(&mut out, &mut r.iter().map(|(f, c)| (f.as_str(), *c)));
        }
        rule(&mut out, '└', '─', '┴', '┘');
        out.pop();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use comfy_table::{Cell, ContentArrangement, Table, presets};

    /// The same table drawn by comfy-table, which this module replaces for speed.
    fn comfy(header: &[&str], rows: &[Vec<(String, Option<Color>)>], color: bool) -> String {
        let mut t = Table::new();
        t.load_style(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled);
        if color {
            t.enforce_styling();
        } else {
            t.force_no_tty();
        }
        t.set_header(header.to_vec());
        for r in rows {
            t.add_row(r.iter().map(|(f, c)| {
                let cell = Cell::new(f);
                match c {
                    Some(Color::Green) => cell.fg(comfy_table::Color::Green),
                    Some(Color::Red) => cell.fg(comfy_table::Color::Red),
                    Some(Color::Grey) => cell.fg(comfy_table::Color::Grey),
                    Some(Color::Yellow) => cell.fg(comfy_table::Color::Yellow),
                    None => cell,
                }
            }));
        }
        t.to_string()
    }

    #[test]
    fn draws_what_comfy_table_draws_with_and_without_colours() {
        let header = ["id", "name", "inst", "status", "↺", "mem"];
        let colors = [
            None,
            Some(Color::Green),
            Some(Color::Red),
            Some(Color::Grey),
            Some(Color::Yellow),
        ];
        let names = [
            "web",
            "bé_long_name",
            "日本語",
            "x",
            "a-much-longer-name-than-the-header",
        ];
        let rows: Vec<Vec<(String, Option<Color>)>> = (0..12)
            .map(|i| {
                vec![
                    (i.to_string(), None),
                    (names[i % names.len()].to_string(), None),
                    ((i * 37 % 11).to_string(), None),
                    (
                        ["online", "stopped", "errored (crash loop)"][i % 3].to_string(),
                        colors[i % 5],
                    ),
                    ("-".to_string(), None),
                    (format!("{}.5 MiB", i * 123), None),
                ]
            })
            .collect();
        for color in [false, true] {
            let mut g = Grid::new(header.to_vec());
            for r in &rows {
                g.row(r.clone());
            }
            assert_eq!(
                g.draw(color),
                comfy(&header, &rows, color),
                "colour: {color}"
            );
        }
    }
}
