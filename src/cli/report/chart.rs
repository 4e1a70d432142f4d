//! Owns a report's charts, drawn by `plotters` into SVG strings: exits over time stacked by
//! cause, and memory (min/avg/max per bucket) with the app's limits as lines. Deployments are
//! dashed vertical lines and manual restarts triangles on the time axis. The text is left to
//! the browser's fonts and colored by the page's CSS (the dark scheme recolors it); legends
//! are the page's (HTML), so they never cover a bar.

use super::model::{AppReport, Report, cause_color};
use chrono::{Local, TimeZone};
use plotters::prelude::*;

const WIDTH: u32 = 860;
const HEIGHT: u32 = 250;
/// Axes and grid: a mid grey that reads on a light and a dark page.
const AXIS: RGBColor = RGBColor(128, 128, 128);
pub const DEPLOY: RGBColor = RGBColor(117, 107, 177);
pub const MANUAL: RGBColor = RGBColor(49, 130, 189);
pub const LIMIT: RGBColor = RGBColor(203, 24, 29);
pub const HARD_LIMIT: RGBColor = RGBColor(103, 0, 13);
pub const MEMORY: RGBColor = RGBColor(35, 139, 69);

fn time_label(span_ms: i64) -> impl Fn(&i64) -> String {
    let fmt = if span_ms > 2 * 86_400_000 {
        "%m-%d %H:%M"
    } else {
        "%H:%M"
    };
    move |ms: &i64| {
        Local
            .timestamp_millis_opt(*ms)
            .single()
            .map_or_else(String::new, |t| t.format(fmt).to_string())
    }
}

/// `rgb(r,g,b)` for the page's legend.
pub fn css(c: RGBColor) -> String {
    format!("rgb({},{},{})", c.0, c.1, c.2)
}

fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

fn failed<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing a chart: {e:?}")
}

/// The markers every time chart shares: deployments and manual restarts.
fn markers<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordi64, plotters::coord::types::RangedCoordf64>,
    >,
    r: &Report,
    app: &AppReport,
    top: f64,
) -> Result<(), String> {
    let w = r.window();
    if !app.deployments.is_empty() {
        chart
            .draw_series(app.deployments.iter().map(|d| {
                PathElement::new(vec![(d.at_ms, 0.0), (d.at_ms, top)], DEPLOY.stroke_width(2))
            }))
            .map_err(failed)?;
        chart
            .draw_series(
                app.deployments
                    .iter()
                    .map(|d| Text::new(format!("#{} {}", d.id, d.kind), (d.at_ms, top), font(11))),
            )
            .map_err(failed)?;
    }
    if !app.manual_restarts.is_empty() {
        chart
            .draw_series(app.manual_restarts.iter().map(|m| {
                let at = w.bucket_start(r.bucket_ms, m.bucket) + r.bucket_ms / 2;
                TriangleMarker::new((at, 0.0), 7, MANUAL.filled())
            }))
            .map_err(failed)?;
    }
    Ok(())
}

type Plot<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordi64, plotters::coord::types::RangedCoordf64>,
>;

/// What both charts share: the window on x, `0..top` on y, a grey mesh without vertical lines,
/// time labels under it and `y_desc` beside it.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    r: &Report,
    top: f64,
    y_labels: usize,
    y_label: &dyn Fn(&f64) -> String,
    y_desc: &str,
) -> Result<Plot<'a, 'b>, String> {
    let mut chart = ChartBuilder::on(root)
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d(r.since_ms..r.until_ms, 0.0..top)
        .map_err(failed)?;
    let x_label = time_label(r.window().span_ms());
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(AXIS.mix(0.15))
        .bold_line_style(AXIS.mix(0.3))
        .axis_style(AXIS)
        .label_style(font(12))
        .axis_desc_style(font(12))
        .x_labels(8)
        .y_labels(y_labels)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .y_desc(y_desc)
        .draw()
        .map_err(failed)?;
    Ok(chart)
}

/// Exits per bucket, stacked by cause.
pub fn exits(r: &Report, app: &AppReport) -> Result<String, String> {
    let w = r.window();
    let n = w.buckets(r.bucket_ms);
    let rows = app.dense_exits(n);
    let totals = app.dense_totals(n);
    let top = (totals.iter().copied().max().unwrap_or(0).max(1) as f64) * 1.15;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        // Whole exits only: no label between two counts.
        let whole = |v: &f64| {
            if v.fract().abs() < 1e-9 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        };
        let desc = format!("exits per {}", super::window::step_name(r.bucket_ms));
        let mut chart = frame(&root, r, top, (top as usize + 1).min(6), &whole, &desc)?;
        let mut base = vec![0u64; n as usize];
        for (cause, counts) in &rows {
            let (cr, cg, cb) = cause_color(*cause);
            let color = RGBColor(cr, cg, cb);
            let bars: Vec<Rectangle<(i64, f64)>> = counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(i, c)| {
                    let x0 = w.bucket_start(r.bucket_ms, i as u32);
                    let x1 = (x0 + r.bucket_ms).min(r.until_ms);
                    let gap = (x1 - x0) / 10;
                    let y0 = base[i] as f64;
                    base[i] += c;
                    Rectangle::new([(x0 + gap, y0), (x1 - gap, base[i] as f64)], color.filled())
                })
                .collect();
            chart.draw_series(bars).map_err(failed)?;
        }
        markers(&mut chart, r, app, top)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// Memory per bucket (min, avg, max of the minutes) and the app's limits; `None` without
/// memory rows in the window.
pub fn memory(r: &Report, app: &AppReport) -> Result<Option<String>, String> {
    if app.memory.is_empty() {
        return Ok(None);
    }
    let w = r.window();
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    let highest = app
        .memory
        .iter()
        .map(|m| m.max_bytes)
        .chain(app.max_memory_restart)
        .chain(app.memory_max)
        .max()
        .unwrap_or(0);
    let top = (mb(highest) * 1.15).max(1.0);
    let at = |b: u32| w.bucket_start(r.memory_bucket_ms, b) + r.memory_bucket_ms / 2;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let mut chart = frame(&root, r, top, 5, &|v| format!("{v:.0}"), "memory (MB)")?;
        let line = |f: fn(&crate::store::report::MemoryBucket) -> u64| {
            app.memory
                .iter()
                .map(move |m| (at(m.bucket), mb(f(m))))
                .collect::<Vec<_>>()
        };
        chart
            .draw_series(LineSeries::new(line(|m| m.max_bytes), MEMORY.mix(0.45)))
            .map_err(failed)?;
        chart
            .draw_series(LineSeries::new(
                line(|m| m.avg_bytes),
                MEMORY.stroke_width(2),
            ))
            .map_err(failed)?;
        chart
            .draw_series(DashedLineSeries::new(
                line(|m| m.min_bytes),
                3,
                3,
                MEMORY.mix(0.45).into(),
            ))
            .map_err(failed)?;
        for (limit, color) in [
            (app.max_memory_restart, LIMIT),
            (app.memory_max, HARD_LIMIT),
        ] {
            let Some(limit) = limit else { continue };
            let y = mb(limit);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(r.since_ms, y), (r.until_ms, y)],
                    8,
                    4,
                    color.stroke_width(2),
                ))
                .map_err(failed)?;
        }
        markers(&mut chart, r, app, top)?;
        root.present().map_err(failed)?;
    }
    Ok(Some(svg))
}
