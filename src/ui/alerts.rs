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

/// The alerts in display order: severity (critical first), alertname, then app, namespace, start.
pub fn visible_alerts<'a>(snapshot: &'a AlertsSnapshot, app: Option<&str>) -> Vec<&'a Alert> {
    let mut v: Vec<&Alert> = snapshot
        .alerts
        .iter()
        .filter(|a| app.is_none_or(|app| a.label("app") == app))
        .collect();
    v.sort_by(|a, b| {
        severity_rank(a.severity())
            .cmp(&severity_rank(b.severity()))
            .then_with(|| a.name().cmp(b.name()))
            .then_with(|| a.label("app").cmp(b.label("app")))
            .then_with(|| a.label("namespace").cmp(b.label("namespace")))
            .then_with(|| a.starts_at.cmp(&b.starts_at))
    });
    v
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
    let mut heading = None;
    let mut selected_line = None;
    for (i, a) in alerts.iter().enumerate() {
        let sev = a.severity().to_string();
        if heading.as_ref() != Some(&sev) {
            let color = match severity_rank(&sev) {
                0 => Color::Red,
                1 => Color::Yellow,
                _ => Color::Blue,
            };
            lines.push(Line::from(Span::styled(
                cell(&severity_heading(&sev), w),
                style(colors, color).add_modifier(Modifier::BOLD),
            )));
            heading = Some(sev.clone());
        }
        if data.selected == Some(i) {
            selected_line = Some(lines.len());
        }
        lines.push(alert_line(a, data, w, colors, data.selected == Some(i)));
    }
    let silences = visible_silences(snap, data.app.as_deref());
    if !silences.is_empty() {
        lines.push(Line::from(Span::styled(
            cell(&format!("SILENCES ({})", silences.len()), w),
            style(colors, Color::Blue).add_modifier(Modifier::BOLD),
        )));
        for s in silences {
            lines.push(silence_line(s, data.now, w, colors));
        }
    }
    frame.render_widget(
        Paragraph::new(fit(lines, area.height as usize, selected_line, w)),
        area,
    );
}

/// The lines that fit `height`: scrolled so the selected alert stays visible, the last line saying
/// how many more there are when some do not fit.
fn fit(
    mut lines: Vec<Line<'static>>,
    height: usize,
    selected: Option<usize>,
    w: usize,
) -> Vec<Line<'static>> {
    if height == 0 || lines.len() <= height {
        return lines;
    }
    // Keep the selected line above the "more" line.
    let skip = selected
        .map_or(0, |s| (s + 2).saturating_sub(height))
        .min(lines.len() - 1);
    lines.drain(..skip);
    if lines.len() > height {
        let more = lines.len() - (height - 1);
        lines.truncate(height - 1);
        lines.push(Line::from(cell(&format!("… {more} more"), w)));
    }
    lines
}

fn alert_line<'a>(
    a: &Alert,
    data: &AlertsPaneData,
    w: usize,
    colors: bool,
    selected: bool,
) -> Line<'a> {
    let suppressed = a.is_suppressed();
    // Symbols carry the state without colour: ! firing, ~ silenced or inhibited.
    let (sym, sym_color) = if suppressed {
        ("~", Color::DarkGray)
    } else if severity_rank(a.severity()) == 0 {
        ("!", Color::Red)
    } else {
        ("!", Color::Yellow)
    };
    let marker = if selected { "▸" } else { " " };
    let name_w = 16.min(w / 4).max(4);
    let target = format!("{} {}", a.label("app"), a.label("namespace"));
    let target_w = 18.min(w / 4).max(4);
    let age_s = age(data.now, a.starts_at);
    let state = if suppressed {
        if a.status.silenced_by.is_empty() {
            "inhibited".to_string()
        } else {
            let ids: Vec<&str> = a
                .status
                .silenced_by
                .iter()
                .map(|id| id.get(..8).unwrap_or(id))
                .collect();
            format!("silenced by {}", ids.join(","))
        }
    } else {
        String::new()
    };
    let fixed = 3 + name_w + 1 + target_w + 1 + 4 + 1;
    let rest = w.saturating_sub(fixed);
    let tail = if state.is_empty() {
        a.summary().to_string()
    } else {
        format!("[{state}] {}", a.summary())
    };
    let dim = if suppressed {
        style(colors, Color::DarkGray)
    } else {
        Style::default()
    };
    let mut spans = vec![
        Span::raw(marker.to_string()),
        Span::styled(
            format!("{sym} "),
            style(colors, sym_color).add_modifier(Modifier::BOLD),
        ),
        Span::styled(format!("{} ", pad(a.name(), name_w)), dim),
        Span::styled(format!("{} ", pad(&target, target_w)), dim),
        Span::styled(format!("{age_s:>4} "), dim),
        Span::styled(cell(&tail, rest), dim),
    ];
    if selected && colors {
        for s in &mut spans {
            s.style = s.style.add_modifier(Modifier::REVERSED);
        }
    }
    Line::from(spans)
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
