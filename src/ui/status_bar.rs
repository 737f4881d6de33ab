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

fn hint_width(key: &str, label: &str) -> usize {
    width(key) + width(label) + 3
}

/// The hints that fit `room`, in order; when they do not all fit, `help` keeps its place at the
/// end (a newcomer's way to every other key), in place of the hints before it.
fn fit_hints(hints: Vec<(String, &'static str)>, room: usize) -> Vec<(String, &'static str)> {
    let mut used = 0;
    let mut shown: Vec<(String, &'static str)> = Vec::new();
    let mut help = None;
    for (key, label) in hints {
        let piece = hint_width(&key, label);
        if used + piece <= room {
            used += piece;
            shown.push((key, label));
        } else if label == "help" {
            help = Some((key, label));
        }
    }
    if let Some((key, label)) = help {
        let piece = hint_width(&key, label);
        while used + piece > room {
            let Some((k, l)) = shown.pop() else { break };
            used -= hint_width(&k, l);
        }
        if used + piece <= room {
            shown.push((key, label));
        }
    }
    shown
}

/// Every source's health, `k8s:develop ● prometheus ! stale 2m: timeout`; with `count_live`,
/// `● 6 live  prometheus ! stale 2m: timeout`: the live sources counted, the rest in full.
fn health(app: &App, now: jiff::Timestamp, count_live: bool) -> Vec<Span<'static>> {
    let theme = &app.theme;
    let mut out: Vec<Span<'static>> = Vec::new();
    if app.read_only {
        out.push(Span::styled("READ-ONLY ", theme.warning()));
    }
    if count_live {
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
    }
    for (id, health) in app.sources.iter() {
        let id = cell(&id.to_string(), 40);
        let (text, style) = match health {
            SourceHealth::Live if count_live => continue,
            SourceHealth::Live => (format!("{id} {}", theme::SYM_LIVE), theme.live()),
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
    let mut right = health(app, now, false);
    let mut right_w: usize = right.iter().map(|s| width(&s.content)).sum();
    let total = area.width as usize;
    if right_w >= total {
        // Too many sources for the width: live ones become one count, the others keep their
        // full text (a stale source is never the one cut).
        right = health(app, now, true);
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
        for (key, label) in fit_hints(hints(app), room) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hints() -> Vec<(String, &'static str)> {
        [
            ("↓", "move"),
            ("→", "env"),
            ("Enter", "open"),
            ("/", "filter"),
            ("?", "help"),
            ("q", "quit"),
        ]
        .into_iter()
        .map(|(k, l)| (k.to_string(), l))
        .collect()
    }

    fn labels(h: &[(String, &'static str)]) -> Vec<&'static str> {
        h.iter().map(|(_, l)| *l).collect()
    }

    #[test]
    fn help_survives_a_narrow_bar() {
        let all: usize = hints().iter().map(|(k, l)| hint_width(k, l)).sum();
        assert_eq!(labels(&fit_hints(hints(), all)).len(), 6, "room for all");
        // Room for about three: help replaces the last of them.
        let shown = fit_hints(hints(), 30);
        assert_eq!(labels(&shown), ["move", "env", "help"]);
        assert!(shown.iter().map(|(k, l)| hint_width(k, l)).sum::<usize>() <= 30);
        // Room for help alone.
        assert_eq!(labels(&fit_hints(hints(), 8)), ["help"]);
        assert!(fit_hints(hints(), 3).is_empty());
    }
}
