//! The deployment detail pane: summary, conditions, rollout history, pods and recent events.
use crate::app::{App, Detail, Pane};
use crate::clock::age;
use crate::model::{Fresh, RolloutState};
use crate::text::cell;
use crate::ui::pane_block;
use crate::ui::theme::{self, Theme};
use jiff::Timestamp;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = &app.theme;
    let Some(d) = &app.detail else {
        return;
    };
    let title = Line::from(vec![
        Span::styled(" DEPLOYMENT ", theme.title()),
        Span::raw(format!("{} @ {} ", cell(&d.app, 30), cell(&d.env, 20))),
    ]);
    let block = pane_block(theme, title, app.focus == Pane::Detail);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let now = app.clock.now();
    let w = inner.width as usize;

    let conditions = d.view.as_ref().map_or(0, |v| v.conditions.len());
    let history = d.history.value.as_ref().map_or(0, Vec::len);
    let pods = d.pod_count();
    let events = d.events.value.as_ref().map_or(0, Vec::len);
    // Desired heights (section title + rows), granted in priority order; events take the rest.
    let want = [
        2,
        1 + conditions.max(1),
        1 + history.clamp(1, 5),
        2 + pods.max(1),
        1 + events.max(1),
    ];
    let priority = [0, 3, 1, 2, 4];
    let mut got = [0usize; 5];
    let mut left = inner.height as usize;
    for &i in &priority {
        let h = want[i].min(left);
        got[i] = h;
        left -= h;
    }
    got[4] += left;
    let rects = Layout::vertical(got.map(|h| Constraint::Length(h as u16))).split(inner);

    frame.render_widget(Paragraph::new(summary(d, theme, now, w)), rects[0]);
    render_conditions(d, theme, now, frame, rects[1]);
    render_history(d, theme, now, frame, rects[2]);
    render_pods(d, theme, now, frame, rects[3], app.focus == Pane::Detail);
    render_events(d, theme, now, frame, rects[4]);
}

fn summary(d: &Detail, theme: &Theme, now: Timestamp, w: usize) -> Vec<Line<'static>> {
    let Some(v) = &d.view else {
        return vec![Line::styled(
            format!(
                "{}/{}: not found in the latest snapshot",
                cell(&d.namespace, 40),
                cell(&d.deployment, 40)
            ),
            theme.warning(),
        )];
    };
    let state = v.rollout_state();
    let (sym, style) = theme.rollout(&state);
    let state_text = match &state {
        RolloutState::Complete => format!("{sym} complete"),
        RolloutState::WaitingForSpec => format!("{sym} waiting for the controller"),
        RolloutState::Progressing { message, .. } => format!("{sym} {}", cell(message, 60)),
        RolloutState::Failed { reason, .. } => format!("{sym} failed: {}", cell(reason, 40)),
        RolloutState::Paused => format!("{sym} paused"),
    };
    let image = v.primary_image().unwrap_or("");
    let first = Line::from(vec![
        Span::styled(
            format!("{}/{} ", cell(&v.namespace, 30), cell(&v.name, 30)),
            theme.title(),
        ),
        Span::styled(state_text, style),
        Span::raw(format!(
            "  rev {}  ready {}/{}  up-to-date {}  available {}",
            v.revision, v.ready, v.desired, v.updated, v.available
        )),
    ]);
    let cause = v.change_cause.as_deref().unwrap_or("<none>");
    let since = v.last_change().map(|t| age(now, t)).unwrap_or_default();
    let second = Line::from(vec![
        Span::styled("image ", theme.dim()),
        Span::raw(cell(image, w.saturating_sub(30).max(10) / 2 + 10)),
        Span::styled("  cause ", theme.dim()),
        Span::raw(cell(cause, 60)),
        Span::styled(format!("  changed {since}"), theme.dim()),
    ]);
    vec![first, second]
}

/// A section title with its loading/stale badge.
fn section_title<T>(name: &str, fresh: &Fresh<T>, theme: &Theme, now: Timestamp) -> Line<'static> {
    let mut spans = vec![Span::styled(name.to_string(), theme.header())];
    if let Some(err) = &fresh.error {
        let since = fresh
            .fetched_at
            .map(|t| format!(" {}", age(now, t)))
            .unwrap_or_default();
        spans.push(Span::styled(
            format!("  {} stale{since}: {}", theme::SYM_STALE, cell(err, 60)),
            theme.stale(),
        ));
    } else if fresh.is_loading() {
        spans.push(Span::styled(
            format!("  {} loading", theme::SYM_LOADING),
            theme.dim(),
        ));
    }
    Line::from(spans)
}

fn split_title(area: Rect) -> (Rect, Rect) {
    let [t, b] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    (t, b)
}

fn render_conditions(d: &Detail, theme: &Theme, now: Timestamp, frame: &mut Frame, area: Rect) {
    if area.height == 0 {
        return;
    }
    let (t, body) = split_title(area);
    frame.render_widget(
        Paragraph::new(Line::styled("CONDITIONS", theme.header())),
        t,
    );
    let Some(v) = &d.view else { return };
    let rows = v.conditions.iter().take(body.height as usize).map(|c| {
        let style = if c.status == "True" {
            theme.ok()
        } else {
            theme.warning()
        };
        Row::new(vec![
            Line::raw(cell(&c.type_, 16)),
            Line::styled(cell(&c.status, 8), style),
            Line::raw(cell(c.reason.as_deref().unwrap_or(""), 28)),
            Line::styled(
                c.last_transition
                    .or(c.last_update)
                    .map(|t| age(now, t))
                    .unwrap_or_default(),
                theme.dim(),
            ),
            Line::raw(cell(c.message.as_deref().unwrap_or(""), 200)),
        ])
    });
    let widths = [
        Constraint::Length(16),
        Constraint::Length(7),
        Constraint::Length(26),
        Constraint::Length(4),
        Constraint::Min(0),
    ];
    frame.render_widget(Table::new(rows, widths), body);
}

fn render_history(d: &Detail, theme: &Theme, now: Timestamp, frame: &mut Frame, area: Rect) {
    if area.height == 0 {
        return;
    }
    let (t, body) = split_title(area);
    frame.render_widget(
        Paragraph::new(section_title("HISTORY", &d.history, theme, now)),
        t,
    );
    let current = d.view.as_ref().map(|v| v.revision);
    let stale = d.history.error.is_some();
    let rows = d
        .history
        .value
        .iter()
        .flatten()
        .take(body.height as usize)
        .map(|r| {
            let image = r.containers.first().map_or("", |c| c.image.as_str());
            let tag = crate::model::image_label(image);
            let marker = if Some(r.revision) == current {
                "●"
            } else {
                " "
            };
            let style = if stale {
                theme.stale_data()
            } else {
                theme.base()
            };
            Row::new(vec![
                Line::raw(format!("{marker}{}", r.revision)),
                Line::raw(cell(&tag, 16)),
                Line::raw(format!("{}/{}", r.ready, r.desired)),
                Line::styled(
                    r.created.map(|t| age(now, t)).unwrap_or_default(),
                    theme.dim(),
                ),
                Line::raw(cell(r.change_cause.as_deref().unwrap_or("<none>"), 200)),
            ])
            .style(style)
        });
    let widths = [
        Constraint::Length(5),
        Constraint::Length(16),
        Constraint::Length(7),
        Constraint::Length(4),
        Constraint::Min(0),
    ];
    frame.render_widget(Table::new(rows, widths), body);
}

fn render_pods(
    d: &Detail,
    theme: &Theme,
    now: Timestamp,
    frame: &mut Frame,
    area: Rect,
    focused: bool,
) {
    if area.height == 0 {
        return;
    }
    let (t, body) = split_title(area);
    frame.render_widget(
        Paragraph::new(section_title("PODS", &d.pods, theme, now)),
        t,
    );
    let h = (body.height as usize).saturating_sub(1);
    // Pure scroll: the cursor stays in view (pod lists are short).
    let offset = (d.pod_cursor + 1).saturating_sub(h);
    let stale = d.pods.error.is_some();
    let rows = d
        .pods
        .value
        .iter()
        .flatten()
        .enumerate()
        .skip(offset)
        .take(h)
        .map(|(i, p)| {
            let phase_style = match (p.phase.as_str(), &p.waiting_reason) {
                (_, Some(_)) | ("Failed", _) => theme.failed(),
                ("Running", None) if p.ready_containers == p.total_containers => theme.ok(),
                _ => theme.warning(),
            };
            let phase = match &p.waiting_reason {
                Some(w) => cell(w, 20),
                None => cell(&p.phase, 20),
            };
            let mut style = if stale {
                theme.stale_data()
            } else {
                theme.base()
            };
            if i == d.pod_cursor {
                style = if focused {
                    style.patch(theme.cursor())
                } else {
                    style.patch(theme.selected_row())
                };
            }
            let marker = if i == d.pod_cursor {
                theme::SYM_SELECTED
            } else {
                " "
            };
            Row::new(vec![
                Line::raw(format!("{marker}{}", cell(&p.name, 60))),
                Line::styled(phase, phase_style),
                Line::raw(format!("{}/{}", p.ready_containers, p.total_containers)),
                Line::raw(p.restarts.to_string()),
                Line::raw(cell(p.last_termination.as_deref().unwrap_or(""), 30)),
                Line::raw(cell(p.node.as_deref().unwrap_or(""), 30)),
                Line::styled(
                    p.created.map(|t| age(now, t)).unwrap_or_default(),
                    theme.dim(),
                ),
            ])
            .style(style)
        });
    let widths = [
        Constraint::Percentage(34),
        Constraint::Length(17),
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Percentage(20),
        Constraint::Min(0),
        Constraint::Length(4),
    ];
    let header =
        Row::new(["NAME", "PHASE", "READY", "RST", "LAST TERM", "NODE", "AGE"]).style(theme.dim());
    let table = Table::new(rows, widths);
    if h >= 2 && d.pod_count() < h {
        frame.render_widget(table.header(header), body);
    } else {
        frame.render_widget(table, body);
    }
}

fn render_events(d: &Detail, theme: &Theme, now: Timestamp, frame: &mut Frame, area: Rect) {
    if area.height == 0 {
        return;
    }
    let (t, body) = split_title(area);
    frame.render_widget(
        Paragraph::new(section_title("EVENTS", &d.events, theme, now)),
        t,
    );
    let rows = d
        .events
        .value
        .iter()
        .flatten()
        .take(body.height as usize)
        .map(|e| {
            let type_style: Style = if e.type_ == "Warning" {
                theme.warning()
            } else {
                theme.dim()
            };
            let count = if e.count > 1 {
                format!(" ×{}", e.count)
            } else {
                String::new()
            };
            Row::new(vec![
                Line::styled(cell(&e.type_, 7), type_style),
                Line::raw(cell(&e.reason, 22)),
                Line::styled(
                    e.last_seen.map(|t| age(now, t)).unwrap_or_default(),
                    theme.dim(),
                ),
                Line::raw(cell(&e.involved_name, 40)),
                Line::raw(format!("{}{count}", cell(&e.message, 300))),
            ])
        });
    let widths = [
        Constraint::Length(7),
        Constraint::Length(20),
        Constraint::Length(4),
        Constraint::Percentage(25),
        Constraint::Min(0),
    ];
    frame.render_widget(Table::new(rows, widths), body);
}
