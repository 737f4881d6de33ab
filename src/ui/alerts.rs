//! The Alerts pane: alerts grouped by severity then alertname, with state, age and summary, and the
//! silences in force with their remaining time. Takes plain data and a `colors` flag.
use crate::clock::age;
use crate::model::Fresh;
use crate::model::alerts::{Alert, AlertsSnapshot, Silence, SilenceState, severity_rank};
use crate::text::{cell, width};
use jiff::Timestamp;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub struct AlertsPaneData {
    /// `None` when no Alertmanager is configured.
    pub alerts: Option<Fresh<Arc<AlertsSnapshot>>>,
    /// Show only this app's alerts (label `app`); `None` for all.
    pub app: Option<String>,
    pub now: Timestamp,
    /// Index into `visible_alerts` of the highlighted alert (the one `s` silences).
    pub selected: Option<usize>,
}

/// The pane's title: `ALERTS web` or `ALERTS`.
pub fn title(data: &AlertsPaneData) -> String {
    match &data.app {
        Some(a) => format!("ALERTS {}", cell(a, 24)),
        None => "ALERTS".into(),
    }
}

/// The alerts of the app (or all), in the snapshot's order: display order when the snapshot was
/// built by `AlertsSnapshot::new` (the poller does), so a frame does not sort.
pub fn visible_alerts<'a>(snapshot: &'a AlertsSnapshot, app: Option<&str>) -> Vec<&'a Alert> {
    snapshot
        .alerts
        .iter()
        .filter(|a| app.is_none_or(|app| a.label("app") == app))
        .collect()
}

/// Silences that apply to the app (a matcher on `app` that names it, or no `app` matcher at all).
pub fn visible_silences<'a>(snapshot: &'a AlertsSnapshot, app: Option<&str>) -> Vec<&'a Silence> {
    snapshot
        .silences
        .iter()
        .filter(|s| s.status.state != SilenceState::Expired)
        .filter(|s| {
            app.is_none_or(|app| {
                s.matchers
                    .iter()
                    .filter(|m| m.name == "app")
                    .all(|m| m.is_regex || m.value == app)
            })
        })
        .collect()
}

fn style(colors: bool, color: Color) -> Style {
    if colors {
        Style::default().fg(color)
    } else {
        Style::default()
    }
}

fn severity_heading(sev: &str) -> String {
    if sev.is_empty() {
        "NO SEVERITY".into()
    } else {
        sev.to_uppercase()
    }
}

fn pad(s: &str, w: usize) -> String {
    let s = cell(s, w);
    let n = w.saturating_sub(width(&s));
    format!("{s}{}", " ".repeat(n))
}

pub fn render_alerts(frame: &mut Frame, area: Rect, data: &AlertsPaneData, colors: bool) {
    let w = area.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    let Some(fresh) = &data.alerts else {
        lines.push(Line::from(cell(
            "Alertmanager is not configured ([alertmanager] url in the config)",
            w,
        )));
        frame.render_widget(Paragraph::new(lines), area);
        return;
    };
    if let Some(err) = &fresh.error {
        let s = crate::ui::metrics::stale_line(fresh.fetched_at, data.now, err, w);
        lines.push(Line::from(Span::styled(s, style(colors, Color::Yellow))));
    }
    let Some(snap) = &fresh.value else {
        if fresh.error.is_none() {
            lines.push(Line::from("loading…"));
        }
        frame.render_widget(Paragraph::new(lines), area);
        return;
    };
    let alerts = visible_alerts(snap, data.app.as_deref());
    if alerts.is_empty() {
        let msg = match &data.app {
            Some(a) => format!("✓ no alerts for {a}"),
            None => "✓ no alerts".into(),
        };
        lines.push(Line::from(Span::styled(
            cell(&msg, w),
            style(colors, Color::Green),
        )));
    }
    // A plan of rows first (cheap), lines only for the rows that fit: the stale banner stays on top.
    let mut rows: Vec<Row> = Vec::with_capacity(alerts.len() * 2 + 8);
    let mut heading = None;
    let mut selected_row = None;
    // A narrow pane (three panes side by side at 120 columns) gives each alert two lines: its name
    // whole on the first, where and what on the second, instead of three truncated columns.
    let narrow = w < NARROW_BELOW;
    for (i, a) in alerts.iter().enumerate() {
        let sev = a.severity();
        if heading != Some(sev) {
            rows.push(Row::Heading(sev));
            heading = Some(sev);
        }
        let selected = data.selected == Some(i);
        rows.push(Row::Alert(a, selected));
        if narrow {
            rows.push(Row::AlertMore(a, selected));
        }
        if selected {
            selected_row = Some(rows.len() - 1);
        }
    }
    let silences = visible_silences(snap, data.app.as_deref());
    if !silences.is_empty() {
        rows.push(Row::SilencesHeading(silences.len()));
        rows.extend(silences.into_iter().map(Row::Silence));
    }
    let height = (area.height as usize).saturating_sub(lines.len());
    let (range, more) = fit(rows.len(), height, selected_row);
    for row in &rows[range] {
        lines.push(match row {
            Row::Heading(sev) => {
                let color = match severity_rank(sev) {
                    0 => Color::Red,
                    1 => Color::Yellow,
                    _ => Color::Blue,
                };
                Line::from(Span::styled(
                    cell(&severity_heading(sev), w),
                    style(colors, color).add_modifier(Modifier::BOLD),
                ))
            }
            Row::Alert(a, selected) if narrow => alert_name_line(a, data, w, colors, *selected),
            Row::Alert(a, selected) => alert_line(a, data, w, colors, *selected),
            Row::AlertMore(a, selected) => alert_more_line(a, w, colors, *selected),
            Row::SilencesHeading(n) => Line::from(Span::styled(
                cell(&format!("SILENCES ({n})"), w),
                style(colors, Color::Blue).add_modifier(Modifier::BOLD),
            )),
            Row::Silence(s) => silence_line(s, data.now, w, colors),
        });
    }
    if more > 0 {
        lines.push(Line::from(cell(&format!("… {more} more"), w)));
    }
    if snap.dropped > 0 && lines.len() < area.height as usize {
        let kept = crate::model::alerts::ALERTS_KEPT;
        lines.push(Line::from(Span::styled(
            cell(
                &format!(
                    "… and {} more not kept (the {kept} most severe are)",
                    snap.dropped
                ),
                w,
            ),
            style(colors, Color::Yellow),
        )));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

enum Row<'a> {
    Heading(&'a str),
    /// The alert and whether it is selected.
    Alert(&'a Alert, bool),
    /// A narrow pane's second line of an alert: target and summary.
    AlertMore(&'a Alert, bool),
    SilencesHeading(usize),
    Silence(&'a Silence),
}

/// Which of `rows` rows fit `height` lines, scrolled so the selected row stays visible, and how
/// many are left out after them (then the last line says so).
fn fit(rows: usize, height: usize, selected: Option<usize>) -> (std::ops::Range<usize>, usize) {
    if rows <= height {
        return (0..rows, 0);
    }
    if height == 0 {
        return (0..0, 0);
    }
    // One line goes to "… N more"; keep the selected row above it.
    let shown = height - 1;
    let skip = selected
        .map_or(0, |s| (s + 1).saturating_sub(shown))
        .min(rows - shown);
    (skip..skip + shown, rows - skip - shown)
}

/// Panes narrower than this show each alert on two lines.
const NARROW_BELOW: usize = 60;

/// The symbol and colour of an alert's state: ! firing (red when critical), ~ silenced/inhibited.
fn state_symbol(a: &Alert) -> (&'static str, Color) {
    if a.is_suppressed() {
        ("~", Color::DarkGray)
    } else if severity_rank(a.severity()) == 0 {
        ("!", Color::Red)
    } else {
        ("!", Color::Yellow)
    }
}

fn suppressed_style(a: &Alert, colors: bool) -> Style {
    if a.is_suppressed() {
        style(colors, Color::DarkGray)
    } else {
        Style::default()
    }
}

/// The selection marker, the state symbol (! firing, ~ silenced or inhibited: meaning without
/// colour) and the alert's name padded to `name_w`.
fn alert_head(a: &Alert, name_w: usize, colors: bool, selected: bool) -> Vec<Span<'static>> {
    let (sym, sym_color) = state_symbol(a);
    let marker = if selected { "▸" } else { " " };
    vec![
        Span::raw(marker.to_string()),
        Span::styled(
            format!("{sym} "),
            style(colors, sym_color).add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!("{} ", pad(a.name(), name_w)),
            suppressed_style(a, colors),
        ),
    ]
}

fn reverse_if(mut spans: Vec<Span<'static>>, selected: bool, colors: bool) -> Line<'static> {
    if selected && colors {
        for s in &mut spans {
            s.style = s.style.add_modifier(Modifier::REVERSED);
        }
    }
    Line::from(spans)
}

/// First line of an alert in a narrow pane: marker, state, the whole name (as room allows), age.
fn alert_name_line(
    a: &Alert,
    data: &AlertsPaneData,
    w: usize,
    colors: bool,
    selected: bool,
) -> Line<'static> {
    let age_s = age(data.now, a.starts_at);
    let name_w = w.saturating_sub(3 + 1 + 4).max(4);
    let mut spans = alert_head(a, name_w, colors, selected);
    spans.push(Span::styled(
        format!("{age_s:>4}"),
        suppressed_style(a, colors),
    ));
    reverse_if(spans, selected, colors)
}

/// Second line of an alert in a narrow pane: app, namespace, then the state and summary.
fn alert_more_line(a: &Alert, w: usize, colors: bool, selected: bool) -> Line<'static> {
    let summary = state_and_summary(a);
    let text = format!("   {} {} · {summary}", a.label("app"), a.label("namespace"));
    let spans = vec![Span::styled(
        cell(&text, w),
        suppressed_style(a, colors).add_modifier(Modifier::DIM),
    )];
    reverse_if(spans, selected, colors)
}

/// The summary, after `[silenced by …]` or `[inhibited]` when the alert is suppressed.
fn state_and_summary(a: &Alert) -> String {
    let state = suppression(a);
    if state.is_empty() {
        a.summary().to_string()
    } else {
        format!("[{state}] {}", a.summary())
    }
}

/// "silenced by <ids>", "inhibited", or "" for a firing alert.
fn suppression(a: &Alert) -> String {
    if !a.is_suppressed() {
        return String::new();
    }
    if a.status.silenced_by.is_empty() {
        return "inhibited".to_string();
    }
    let ids: Vec<&str> = a
        .status
        .silenced_by
        .iter()
        .map(|id| id.get(..8).unwrap_or(id))
        .collect();
    format!("silenced by {}", ids.join(","))
}

fn alert_line<'a>(
    a: &Alert,
    data: &AlertsPaneData,
    w: usize,
    colors: bool,
    selected: bool,
) -> Line<'a> {
    let name_w = 16.min(w / 4).max(4);
    let target = format!("{} {}", a.label("app"), a.label("namespace"));
    let target_w = 18.min(w / 4).max(4);
    let age_s = age(data.now, a.starts_at);
    let fixed = 3 + name_w + 1 + target_w + 1 + 4 + 1;
    let rest = w.saturating_sub(fixed);
    let tail = state_and_summary(a);
    let dim = suppressed_style(a, colors);
    let mut spans = alert_head(a, name_w, colors, selected);
    spans.extend([
        Span::styled(format!("{} ", pad(&target, target_w)), dim),
        Span::styled(format!("{age_s:>4} "), dim),
        Span::styled(cell(&tail, rest), dim),
    ]);
    reverse_if(spans, selected, colors)
}

fn silence_line<'a>(s: &Silence, now: Timestamp, w: usize, colors: bool) -> Line<'a> {
    let matchers: Vec<String> = s.matchers.iter().map(|m| m.display()).collect();
    let when = match s.status.state {
        SilenceState::Pending => format!("starts in {}", age(s.starts_at, now)),
        _ => format!("ends in {}", age(s.ends_at, now)),
    };
    let by = if s.comment.is_empty() {
        s.created_by.clone()
    } else {
        format!("{}: {}", s.created_by, s.comment)
    };
    let text = format!("  · {}  {when}  {by}", matchers.join(" "));
    Line::from(Span::styled(cell(&text, w), style(colors, Color::Gray)))
}
