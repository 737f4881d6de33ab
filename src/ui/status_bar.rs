//! The status bar: the focused pane's keys (or the last notice) on the left, every source's health
//! on the right; the health always wins the space, so a stale source is never hidden.
use crate::action::Action;
use crate::app::App;
use crate::clock::age;
use crate::keymap::Mode;
use crate::model::SourceHealth;
use crate::text::{cell, truncate, width};
use crate::ui::theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Key hints for a mode, from the keymap (so they follow the user's overrides).
fn hints(app: &App) -> Vec<(String, &'static str)> {
    // An operation's modal reads its own keys (typed confirmation, reason): say those.
    if app.ops.modal.is_some() {
        return vec![
            ("Enter".into(), "confirm"),
            ("Esc".into(), "cancel"),
            ("↑↓".into(), "scroll"),
        ];
    }
    let mode = app.mode();
    let list: &[(Action, &str)] = match mode {
        Mode::Filter => &[(Action::Open, "keep"), (Action::Back, "clear")],
        Mode::Help => &[(Action::Down, "scroll"), (Action::Back, "close")],
        Mode::Picker => &[
            (Action::Down, "move"),
            (Action::Open, "pick"),
            (Action::Back, "close"),
        ],
        Mode::Detail => &[
            (Action::Down, "move"),
            (Action::Logs, "logs"),
            (Action::Rollback, "roll back"),
            (Action::Right, "env"),
            (Action::Back, "back"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        Mode::Logs => &[
            (Action::Up, "scroll"),
            (Action::Bottom, "follow"),
            (Action::Back, "back"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        Mode::Normal => &[
            (Action::Down, "move"),
            (Action::Right, "env"),
            (Action::Open, "open"),
            (Action::Filter, "filter"),
            (Action::FocusNext, "pane"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
    };
    let table_mode = if mode == Mode::Filter {
        Mode::Normal
    } else {
        mode
    };
    list.iter()
        .filter_map(|(a, label)| app.keymap.hint(*a, table_mode).map(|k| (k, *label)))
        .collect()
}

/// `● 6 live  prometheus ! stale 2m: timeout`: the live sources counted, the rest in full.
fn compact_health(app: &App, now: jiff::Timestamp) -> Vec<Span<'static>> {
    let theme = &app.theme;
    let mut out: Vec<Span<'static>> = Vec::new();
    if app.read_only {
        out.push(Span::styled("READ-ONLY ", theme.warning()));
    }
    let live = app
        .sources
        .iter()
        .filter(|(_, h)| **h == SourceHealth::Live)
        .count();
    if live > 0 {
        out.push(Span::styled(
            format!("{} {live} live ", theme::SYM_LIVE),
            theme.live(),
        ));
    }
    for (id, health) in app.sources.iter() {
        let id = cell(&id.to_string(), 40);
        let (text, style) = match health {
            SourceHealth::Live => continue,
            SourceHealth::Connecting => (format!("{id} {}", theme::SYM_LOADING), theme.dim()),
            SourceHealth::Disabled => (format!("{id} off"), theme.dim()),
            SourceHealth::Stale { since, error } => {
                let since = since
                    .map(|t| format!(" {}", age(now, t)))
                    .unwrap_or_default();
                (
                    format!(
                        "{id} {} stale{since}: {}",
                        theme::SYM_STALE,
                        cell(error, 72)
                    ),
                    theme.stale(),
                )
            }
        };
        out.push(Span::styled(text, style));
        out.push(Span::raw(" "));
    }
    out
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = &app.theme;
    let now = app.clock.now();
    let mut right: Vec<Span> = Vec::new();
    if app.read_only {
        right.push(Span::styled("READ-ONLY ", theme.warning()));
    }
    for (id, health) in app.sources.iter() {
        let id = cell(&id.to_string(), 40);
        let (text, style) = match health {
            SourceHealth::Connecting => (format!("{id} {}", theme::SYM_LOADING), theme.dim()),
            SourceHealth::Live => (format!("{id} {}", theme::SYM_LIVE), theme.live()),
            SourceHealth::Disabled => (format!("{id} off"), theme.dim()),
            SourceHealth::Stale { since, error } => {
                let since = since
                    .map(|t| format!(" {}", age(now, t)))
                    .unwrap_or_default();
                (
                    format!(
                        "{id} {} stale{since}: {}",
                        theme::SYM_STALE,
                        cell(error, 72)
                    ),
                    theme.stale(),
                )
            }
        };
        right.push(Span::styled(text, style));
        right.push(Span::raw(" "));
    }
    let mut right_w: usize = right.iter().map(|s| width(&s.content)).sum();
    let total = area.width as usize;
    if right_w >= total {
        // Too many sources for the width: live ones become one count, the others keep their
        // full text (a stale source is never the one cut).
        right = compact_health(app, now);
        right_w = right.iter().map(|s| width(&s.content)).sum();
    }
    // Health first: if it does not fit, it is cut from the left, the hints go.
    if right_w >= total {
        let text: String = right.iter().map(|s| s.content.as_ref()).collect();
        let style = if app.sources.any_stale() {
            theme.stale()
        } else {
            theme.dim()
        };
        frame.render_widget(
            Paragraph::new(Line::styled(truncate(&text, total).into_owned(), style)),
            area,
        );
        return;
    }
    let room = total - right_w;
    let mut left: Vec<Span> = Vec::new();
    if let Some(notice) = &app.notice {
        left.push(Span::styled(
            truncate(&format!(" {}", crate::text::sanitize(notice)), room).into_owned(),
            theme.notice(),
        ));
    } else {
        let mut used = 0;
        for (key, label) in hints(app) {
            let piece = width(&key) + width(label) + 3;
            if used + piece > room {
                break;
            }
            used += piece;
            left.push(Span::raw(" "));
            left.push(Span::styled(key, theme.key()));
            left.push(Span::raw(format!(" {label} ")));
        }
    }
    let left_w: usize = left.iter().map(|s| width(&s.content)).sum();
    left.push(Span::raw(" ".repeat(room.saturating_sub(left_w))));
    left.extend(right);
    frame.render_widget(Paragraph::new(Line::from(left)), area);
}
