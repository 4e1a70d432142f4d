//! Owns how the dashboard looks: the process table with its sparklines, the log tail, the
//! exits, and the help line, drawn from a [`State`] into a ratatui frame. Nothing here reads
//! or writes anything but the frame, so the drawing is tested on ratatui's `TestBackend`.

use super::state::{ExitLine, State};
use crate::cli::render::{bytes, duration_short};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};

/// The smallest terminal the dashboard draws in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

const HELP: &str = "↑↓ select r restart s stop S start l reload +/- scale f flush / filter q quit";

/// The last `width` samples as bars (`▁▂▃▄▅▆▇█`), scaled to the largest; empty samples as
/// the lowest bar.
pub fn sparkline<'a>(values: impl DoubleEndedIterator<Item = &'a u64>, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let mut last: Vec<u64> = values.rev().take(width).copied().collect();
    last.reverse();
    let max = last.iter().copied().max().unwrap_or(0).max(1);
    last.iter()
        .map(|v| BARS[((v * 7 + max / 2) / max).min(7) as usize])
        .collect()
}

fn exit_text(e: &ExitLine) -> String {
    let when = chrono::DateTime::from_timestamp_millis(e.when_ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    format!(
        "{when} #{} {} after {}",
        e.instance,
        e.what,
        duration_short(e.uptime_ms)
    )
}

pub fn draw(f: &mut Frame, s: &State, color: bool) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "svctl monit needs at least {MIN_WIDTH}×{MIN_HEIGHT}; this terminal is {}×{}. Enlarge it, or press q.",
            area.width, area.height
        );
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let style = |c: Color| {
        if color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    };
    let [top, bottom, help] = Layout::vertical([
        Constraint::Percentage(50),
        Constraint::Fill(1),
        Constraint::Length(2),
    ])
    .areas(area);
    draw_table(f, s, top, &style);
    let [logs, exits] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Fill(1)]).areas(bottom);
    let app = s.selected_app().unwrap_or_default();
    let inner_rows = logs.height.saturating_sub(2) as usize;
    // Lines of the app selected before are not shown while the new app's stream starts.
    let shown = s.log_app.as_deref() == Some(app.as_str());
    let lines: Vec<Line> = s
        .log
        .iter()
        .filter(|_| shown)
        .skip(s.log.len().saturating_sub(inner_rows))
        .map(|l| Line::raw(l.as_str()))
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {app} logs ")),
        ),
        logs,
    );
    let mut exit_lines: Vec<Line> = s
        .why
        .iter()
        .map(|w| Line::styled(w.as_str(), style(Color::Yellow)))
        .chain(s.exits.iter().map(|e| Line::raw(exit_text(e))))
        .collect();
    if let Some(note) = &s.exits_note {
        exit_lines.push(Line::styled(note.as_str(), style(Color::DarkGray)));
    } else if s.exits.is_empty() {
        exit_lines.push(Line::raw("no exits recorded"));
    }
    f.render_widget(
        Paragraph::new(exit_lines).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {app} exits ")),
        ),
        exits,
    );
    let status = if s.editing_filter {
        format!("filter: {}▏ (Enter applies, Esc clears)", s.filter)
    } else {
        let filter = if s.filter.is_empty() {
            String::new()
        } else {
            format!("filter `{}` · ", s.filter)
        };
        format!(
            "{}{filter}{}",
            s.where_,
            s.message
                .as_deref()
                .map(|m| format!(" · {m}"))
                .unwrap_or_default()
        )
    };
    f.render_widget(
        Paragraph::new(vec![
            Line::from(Span::styled(HELP, style(Color::Cyan))),
            Line::raw(status),
        ]),
        help,
    );
}

fn draw_table(f: &mut Frame, s: &State, area: Rect, style: &dyn Fn(Color) -> Style) {
    const SPARK: usize = 8;
    let header = Row::new([
        "id", "name", "inst", "status", "health", "↺", "cpu", "", "mem", "",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let selected = s.selected_proc().map(|p| p.id);
    let rows = s.visible().into_iter().map(|p| {
        let series = s.series.get(&p.id);
        let cpu_spark = series
            .map(|x| sparkline(x.cpu.iter(), SPARK))
            .unwrap_or_default();
        let mem_spark = series
            .map(|x| sparkline(x.mem.iter(), SPARK))
            .unwrap_or_default();
        let status = p.status.as_str();
        let status_style = match status {
            "online" => style(Color::Green),
            "errored" | "waiting restart" => style(Color::Red),
            _ => style(Color::Yellow),
        };
        let row = Row::new(vec![
            Span::raw(p.id.to_string()),
            Span::raw(p.name.clone()),
            Span::raw(p.instance.to_string()),
            Span::styled(status, status_style),
            Span::raw(p.health.clone().unwrap_or_else(|| "-".into())),
            Span::raw(p.restarts.to_string()),
            Span::raw(p.cpu_percent.map_or("-".into(), |c| format!("{c:.0}%"))),
            Span::styled(cpu_spark, style(Color::Blue)),
            Span::raw(p.memory_bytes.map_or("-".into(), bytes)),
            Span::styled(mem_spark, style(Color::Magenta)),
        ]);
        if Some(p.id) == selected {
            row.style(Style::default().add_modifier(Modifier::REVERSED))
        } else {
            row
        }
    });
    let widths = [
        Constraint::Length(3),
        Constraint::Min(8),
        Constraint::Length(4),
        Constraint::Length(15),
        Constraint::Length(7),
        Constraint::Length(3),
        Constraint::Length(4),
        Constraint::Length(SPARK as u16),
        Constraint::Length(9),
        Constraint::Length(SPARK as u16),
    ];
    let title = format!(" svctl monit · {} instance(s) ", s.procs.len());
    // Keep the selected row in view when there are more rows than lines.
    let visible_rows = area.height.saturating_sub(3) as usize;
    let at = s
        .visible()
        .iter()
        .position(|p| Some(p.id) == selected)
        .unwrap_or(0);
    let skip = (at + 1).saturating_sub(visible_rows);
    let table = Table::new(rows.skip(skip), widths)
        .header(header)
        .block(Block::default().borders(Borders::ALL).title(title));
    f.render_widget(table, area);
}

#[cfg(test)]
mod tests;
