//! The Operations pane: running and recent operations started from the console — name, step N/M,
//! a ready/desired progress bar, elapsed time and the result (done, failed with its message,
//! cancelled with what was done, regressed with the one-key rollback).
use crate::app::{App, Pane, RunEntry};
use crate::ops::OutcomeStatus;
use crate::text::cell;
use crate::ui::pane_block;
use crate::ui::theme::{self, Theme};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// `0:41`, `12:05`, `1:02:03`.
pub fn elapsed(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `▰▰▰▱▱▱▱▱` for a fraction 0..=1.
fn bar(fraction: f64, cells: usize) -> String {
    let full = ((fraction.clamp(0.0, 1.0) * cells as f64).round() as usize).min(cells);
    format!("{}{}", "▰".repeat(full), "▱".repeat(cells - full))
}

/// The one-line summary of the collapsed pane (stacked layout).
pub fn summary(app: &App) -> String {
    match app.ops.runs.front() {
        None => "no operations yet".into(),
        Some(r) => {
            let running = app.ops.running().count();
            let head = format!("{} {}", symbol(r).0, cell(&r.request.summary(), 60));
            if running > 1 {
                format!("{head} (+{} running)", running - 1)
            } else {
                head
            }
        }
    }
}

fn symbol(r: &RunEntry) -> (&'static str, fn(&Theme) -> Style) {
    match r.progress.outcome.as_ref().map(|o| &o.status) {
        None => (theme::SYM_PROGRESSING, Theme::progressing),
        Some(OutcomeStatus::Done | OutcomeStatus::NoOp) => (theme::SYM_COMPLETE, Theme::ok),
        Some(OutcomeStatus::Regressed) => (theme::SYM_STALE, Theme::failed),
        Some(OutcomeStatus::Cancelled) => (theme::SYM_PAUSED, Theme::warning),
        Some(OutcomeStatus::Failed { .. } | OutcomeStatus::Refused { .. }) => {
            (theme::SYM_FAILED, Theme::failed)
        }
    }
}

/// The line for one operation.
pub fn line<'a>(app: &App, r: &RunEntry, width: usize) -> Line<'a> {
    let theme = &app.theme;
    let (sym, style) = symbol(r);
    let mut spans = vec![
        Span::styled(format!("{sym} "), style(theme)),
        Span::raw(format!("{}  ", cell(&r.request.summary(), 48))),
    ];
    let p = &r.progress;
    match &p.outcome {
        None => {
            // Narrow panes drop the step's description before the bar and the elapsed time.
            let step = match p.step {
                Some(i) if width >= 100 => format!(
                    "step {}/{} {}",
                    i + 1,
                    p.total,
                    cell(&p.step_description, 40)
                ),
                Some(i) => format!("step {}/{}", i + 1, p.total),
                None => format!("starting ({} steps)", p.total),
            };
            spans.push(Span::raw(format!("{step}  ")));
            if let (Some(ready), Some(desired)) = (p.ready, p.desired) {
                spans.push(Span::raw(format!("{ready}/{desired} ready ")));
            }
            spans.push(Span::styled(
                format!("{}  ", bar(p.fraction(), 8)),
                theme.progressing(),
            ));
            let ms = app.clock.now().duration_since(r.started).as_millis().max(0) as u64;
            spans.push(Span::styled(elapsed(ms), theme.dim()));
            if r.cancel_requested {
                spans.push(Span::styled("  cancelling…", theme.warning()));
            }
        }
        Some(o) => {
            let (word, extra) = match &o.status {
                OutcomeStatus::Done | OutcomeStatus::NoOp => (o.status_word().to_string(), None),
                OutcomeStatus::Regressed => (
                    "regressed".to_string(),
                    Some(
                        match app.keymap.hint(crate::action::Action::Rollback, app.mode()) {
                            Some(k) => format!("{k} on it rolls back"),
                            None => "roll back".into(),
                        },
                    ),
                ),
                OutcomeStatus::Cancelled => {
                    let done = if o.steps_done.is_empty() {
                        "nothing done".to_string()
                    } else {
                        format!("done: {}", o.steps_done.join(", "))
                    };
                    ("cancelled".to_string(), Some(done))
                }
                OutcomeStatus::Failed { .. } | OutcomeStatus::Refused { .. } => {
                    (o.status_word().to_string(), Some(o.message.clone()))
                }
            };
            spans.push(Span::styled(word, style(theme)));
            if let Some(e) = extra {
                spans.push(Span::raw(format!(
                    ": {}",
                    cell(&e, width.saturating_sub(60).max(20))
                )));
            }
            spans.push(Span::styled(
                format!("  {}", elapsed(o.elapsed_ms)),
                theme.dim(),
            ));
        }
    }
    Line::from(spans)
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = &app.theme;
    let running = app.ops.running().count();
    let mut title = vec![Span::styled(" OPERATIONS ", theme.title())];
    if running > 0 {
        title.push(Span::styled(
            format!("{running} running "),
            theme.progressing(),
        ));
    }
    let focused = app.focus == Pane::Operations;
    let block = pane_block(theme, Line::from(title), focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    if app.ops.runs.is_empty() {
        let hint = if app.read_only {
            "read-only: no operations".to_string()
        } else {
            "no operations yet — p promote · r rollback · u patch · S sunset · s silence".into()
        };
        frame.render_widget(Paragraph::new(Line::styled(hint, theme.dim())), inner);
        return;
    }
    let h = inner.height as usize;
    // Keep the cursor in view; unfocused, the newest operations show.
    let cursor = if focused { app.ops.cursor } else { 0 };
    let first = cursor.saturating_sub(h.saturating_sub(1));
    let width = inner.width as usize;
    let lines: Vec<Line> = app
        .ops
        .runs
        .iter()
        .enumerate()
        .skip(first)
        .take(h)
        .map(|(i, r)| {
            let l = line(app, r, width);
            if focused && i == cursor {
                l.style(theme.selected_row())
            } else {
                l
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
