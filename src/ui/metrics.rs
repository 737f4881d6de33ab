//! The Metrics pane (a sparkline row per query for one app × environment) and the full chart.
//! Render functions take plain data and a `colors` flag; symbols carry the meaning without colour.
use crate::clock::age;
use crate::model::Fresh;
use crate::model::metrics::{MetricSeries, MetricsSnapshot, Unit};
use crate::text::{cell, width};
use jiff::Timestamp;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};
use std::sync::Arc;

/// Everything the pane draws.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsPaneData {
    pub app: String,
    pub env: String,
    /// `None` when no Prometheus is configured.
    pub metrics: Option<Fresh<Arc<MetricsSnapshot>>>,
    pub now: Timestamp,
    /// Start of the last rollout, marked in the full chart.
    pub rollout_started: Option<Timestamp>,
    /// Highlighted row (the one `Enter` opens as a chart).
    pub selected: Option<usize>,
}

/// The pane's title, for the console's block: `METRICS web @ production`.
pub fn title(data: &MetricsPaneData) -> String {
    format!("METRICS {} @ {}", cell(&data.app, 24), cell(&data.env, 24))
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A one-line sparkline of `width` cells over [start, end]: one cell per time slice, its last
/// finite value; a slice with no finite value is a space.
pub fn sparkline(points: &[(f64, f64)], start: f64, end: f64, width: usize) -> String {
    sparkline_rows(points, start, end, width, 1)
        .pop()
        .unwrap_or_default()
}

/// A sparkline `rows` lines tall (top line first): each column is filled to its value in eighths of
/// a line, from the window's minimum (one eighth) to its maximum (full).
pub fn sparkline_rows(
    points: &[(f64, f64)],
    start: f64,
    end: f64,
    width: usize,
    rows: usize,
) -> Vec<String> {
    let rows = rows.max(1);
    if width == 0 {
        return vec![String::new(); rows];
    }
    let span = (end - start).max(1e-9);
    let mut cols: Vec<Option<f64>> = vec![None; width];
    for &(t, v) in points {
        if !v.is_finite() || t < start || t > end {
            continue;
        }
        let i = (((t - start) / span) * width as f64).floor() as usize;
        cols[i.min(width - 1)] = Some(v);
    }
    let finite: Vec<f64> = cols.iter().flatten().copied().collect();
    let Some(max) = finite.iter().copied().reduce(f64::max) else {
        return vec![" ".repeat(width); rows];
    };
    // The window's own range, not zero to max: a steady 0.2 % error ratio or 250 ms p99 is a flat
    // line at mid height, not a wall of full blocks, and a change within it is visible.
    let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let top = rows * 8;
    // Eighths filled per column: at least one for any sample, half the height when flat.
    let levels: Vec<usize> = cols
        .iter()
        .map(|c| match c {
            None => 0,
            Some(_) if max == min => top / 2,
            Some(v) => 1 + ((v - min) / (max - min) * (top - 1) as f64).round() as usize,
        })
        .collect();
    (0..rows)
        .rev()
        .map(|row| {
            levels
                .iter()
                .map(|&l| match l.saturating_sub(row * 8).min(8) {
                    0 => ' ',
                    k => BARS[k - 1],
                })
                .collect()
        })
        .collect()
}

/// Lines per series when the pane has room: up to this many, so charts grow with the pane
/// without one update rewriting half the screen.
const MAX_SERIES_ROWS: usize = 3;

/// The value cell of a row: `412 req/s`, `NaN`, `no data`, `error`.
pub fn value_text(s: &MetricSeries) -> String {
    match (&s.error, s.current()) {
        (Some(_), _) => "error".into(),
        (None, None) => "no data".into(),
        (None, Some(v)) => s.unit.format(v),
    }
}

fn style(colors: bool, color: Color) -> Style {
    if colors {
        Style::default().fg(color)
    } else {
        Style::default()
    }
}

/// Header line for stale or failed data: `⚠ stale 2m: timeout`.
pub fn stale_line(
    fetched_at: Option<Timestamp>,
    now: Timestamp,
    error: &str,
    max: usize,
) -> String {
    let when = match fetched_at {
        Some(t) => format!("stale {}", age(now, t)),
        None => "no data yet".into(),
    };
    cell(&format!("⚠ {when}: {error}"), max)
}

pub fn render_metrics(frame: &mut Frame, area: Rect, data: &MetricsPaneData, colors: bool) {
    let w = area.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    let Some(fresh) = &data.metrics else {
        lines.push(Line::from(cell(
            "Prometheus is not configured ([prometheus] url in the config)",
            w,
        )));
        frame.render_widget(Paragraph::new(lines), area);
        return;
    };
    if let Some(err) = &fresh.error {
        let s = stale_line(fresh.fetched_at, data.now, err, w);
        lines.push(Line::from(Span::styled(s, style(colors, Color::Yellow))));
    }
    let snapshot = fresh
        .value
        .as_ref()
        .filter(|s| s.app == data.app && s.env == data.env);
    let Some(snap) = snapshot else {
        if fresh.error.is_none() {
            lines.push(Line::from(cell("loading…", w)));
        }
        frame.render_widget(Paragraph::new(lines), area);
        return;
    };
    let label_w = snap
        .series
        .iter()
        .map(|s| width(&cell(&s.label, 8)))
        .max()
        .unwrap_or(0);
    let value_w = 12usize;
    // marker + label + space + sparkline + space + value
    let spark_w = w.saturating_sub(2 + label_w + 1 + 1 + value_w).max(1);
    let start = snap.end - snap.window_secs as f64;
    let error_lines = snap.series.iter().filter(|s| s.error.is_some()).count();
    let room = (area.height as usize).saturating_sub(lines.len() + error_lines);
    let tall = (room / snap.series.len().max(1)).clamp(1, MAX_SERIES_ROWS);
    for (i, s) in snap.series.iter().enumerate() {
        let selected = data.selected == Some(i);
        let marker = if selected { "▸ " } else { "  " };
        let label = cell(&s.label, 8);
        let pad = label_w.saturating_sub(width(&label));
        let value = value_text(s);
        let value_style = match (&s.error, s.current()) {
            (Some(_), _) => style(colors, Color::Red),
            (None, Some(v)) if v.is_finite() => {
                style(colors, Color::White).add_modifier(Modifier::BOLD)
            }
            _ => style(colors, Color::DarkGray),
        };
        let chart = sparkline_rows(&s.points, start, snap.end, spark_w, tall);
        for (row, spark) in chart.into_iter().enumerate() {
            // The label and value sit on the chart's baseline.
            let last = row + 1 == tall;
            let mut spans = vec![
                Span::raw(if last { marker } else { "  " }),
                Span::raw(if last {
                    format!("{label}{} ", " ".repeat(pad))
                } else {
                    " ".repeat(label_w + 1)
                }),
                Span::styled(spark, style(colors, Color::Cyan)),
            ];
            if last {
                spans.push(Span::raw(" "));
                spans.push(Span::styled(
                    format!("{:>value_w$}", cell(&value, value_w)),
                    value_style,
                ));
            }
            if selected && colors {
                for sp in &mut spans {
                    sp.style = sp.style.add_modifier(Modifier::REVERSED);
                }
            }
            lines.push(Line::from(spans));
        }
        if let Some(e) = &s.error {
            lines.push(Line::from(Span::styled(
                cell(&format!("    {e}"), w),
                style(colors, Color::Red),
            )));
        }
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// What the full chart draws: one query over the window, and where the last rollout started.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartData {
    pub title: String,
    pub series: MetricSeries,
    /// Window in unix seconds.
    pub start: f64,
    pub end: f64,
    pub rollout_started: Option<f64>,
}

impl ChartData {
    /// The chart for row `index` of a snapshot.
    pub fn from_snapshot(
        snap: &MetricsSnapshot,
        index: usize,
        rollout_started: Option<Timestamp>,
    ) -> Option<Self> {
        let series = snap.series.get(index)?.clone();
        Some(Self {
            title: format!("{} · {} @ {}", series.label, snap.app, snap.env),
            series,
            start: snap.end - snap.window_secs as f64,
            end: snap.end,
            rollout_started: rollout_started.map(|t| t.as_millisecond() as f64 / 1000.0),
        })
    }
}

fn rel(secs: f64) -> String {
    let m = (secs / 60.0).round() as i64;
    if m == 0 {
        "now".into()
    } else {
        format!("-{m}m")
    }
}

pub fn render_metric_chart(frame: &mut Frame, area: Rect, data: &ChartData, colors: bool) {
    let unit = data.series.unit;
    let pts: Vec<(f64, f64)> = data
        .series
        .points
        .iter()
        .filter(|p| p.1.is_finite())
        .map(|&(t, v)| (t, unit.scale(v)))
        .collect();
    if pts.is_empty() {
        let msg = match &data.series.error {
            Some(e) => format!("{}: error: {e}", data.title),
            None => format!("{}: no data in the window", data.title),
        };
        frame.render_widget(Paragraph::new(cell(&msg, area.width as usize)), area);
        return;
    }
    let max = pts.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    let min = pts.iter().map(|p| p.1).fold(0.0_f64, f64::min);
    let top = if max > min { max * 1.1 } else { min + 1.0 };
    let marker_pts: Vec<(f64, f64)> = data
        .rollout_started
        .filter(|t| *t >= data.start && *t <= data.end)
        .map(|t| vec![(t, min), (t, top)])
        .unwrap_or_default();
    let mut sets = vec![
        Dataset::default()
            .name(cell(&data.series.label, 16))
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(style(colors, Color::Cyan))
            .data(&pts),
    ];
    if !marker_pts.is_empty() {
        sets.push(
            Dataset::default()
                .name("rollout")
                .marker(Marker::Dot)
                .graph_type(GraphType::Line)
                .style(style(colors, Color::Magenta))
                .data(&marker_pts),
        );
    }
    let fmt = |v: f64| cell(&Unit::format(Unit::Plain, v), 10);
    let mid = (data.start + data.end) / 2.0;
    let chart = Chart::new(sets)
        .x_axis(Axis::default().bounds([data.start, data.end]).labels([
            rel(data.end - data.start),
            rel(data.end - mid),
            rel(0.0),
        ]))
        .y_axis(
            Axis::default()
                .title(unit.suffix())
                .bounds([min, top])
                .labels([fmt(min), fmt((min + top) / 2.0), fmt(top)]),
        );
    frame.render_widget(chart, area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_and_gaps() {
        let pts: Vec<(f64, f64)> = (0..8).map(|i| (i as f64, i as f64)).collect();
        assert_eq!(sparkline(&pts, 0.0, 8.0, 8), "▁▂▃▄▅▆▇█");
        let gaps = [(0.0, 1.0), (2.0, f64::NAN), (3.0, 1.0)];
        // A flat series is a line at mid height.
        assert_eq!(sparkline(&gaps, 0.0, 4.0, 4), "▄  ▄");
        assert_eq!(sparkline(&[], 0.0, 4.0, 3), "   ");
        // Two lines: a low value only on the bottom line, the maximum filling both.
        let rising = [(0.5, 0.0), (1.5, 5.0), (2.5, 10.0)];
        assert_eq!(
            sparkline_rows(&rising, 0.0, 3.0, 3, 2),
            vec![" ▁█".to_string(), "▁██".to_string()]
        );
        assert_eq!(sparkline_rows(&[], 0.0, 3.0, 2, 3), vec!["  "; 3]);
    }
}
