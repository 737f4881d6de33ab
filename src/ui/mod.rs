//! `render(&App, &mut Frame)`: pure drawing of the model, one file per pane; `theme` holds every
//! style and `layout` where panes go. Every outside string passes `text::sanitize` (via
//! `text::cell`) before it reaches a cell.
pub mod alerts;
pub mod board;
pub mod detail;
pub mod help;
pub mod layout;
pub mod logs;
pub mod metrics;
pub mod operations;
pub mod ops_modal;
pub mod pipelines;
pub mod placeholder;
pub mod status_bar;
pub mod table;
pub mod theme;

use crate::app::{App, Modal, Pane};
use crate::text::cell;
use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use theme::Theme;

pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    if area.width == 0 || area.height == 0 {
        return;
    }
    let areas = layout::compute(app, area);
    render_title(app, frame, areas.title);
    for (pane, rect) in &areas.panes {
        match pane {
            Pane::Releases => board::render(app, frame, *rect),
            Pane::Detail => detail::render(app, frame, *rect),
            Pane::Logs => logs::render(app, frame, *rect),
            Pane::Operations => operations::render(app, frame, *rect),
            p => placeholder::render(app, frame, *rect, *p),
        }
    }
    for (pane, rect) in &areas.collapsed {
        render_collapsed(app, frame, *rect, *pane);
    }
    status_bar::render(app, frame, areas.status);
    match app.modals.last() {
        Some(Modal::Help { scroll }) => help::render_help(app, frame, area, *scroll),
        Some(Modal::EnvPicker { cursor }) => help::render_picker(app, frame, area, *cursor),
        Some(Modal::Palette { input, cursor }) => {
            help::render_palette(app, frame, area, input, *cursor)
        }
        None => {}
    }
    ops_modal::render(app, frame, area);
}

/// A bordered pane; the focused one stands out by border style and a heavier border.
pub fn pane_block<'a>(theme: &Theme, title: Line<'a>, focused: bool) -> Block<'a> {
    let block = Block::bordered().title(title);
    if focused {
        block
            .border_type(ratatui::widgets::BorderType::Thick)
            .border_style(theme.border_focused())
    } else {
        block.border_style(theme.border())
    }
}

fn render_title(app: &App, frame: &mut Frame, area: ratatui::layout::Rect) {
    let theme = &app.theme;
    let b = &app.releases.board;
    let (state, style) = if app.sources.any_stale() {
        (format!("{} stale", theme::SYM_STALE), theme.stale())
    } else if app.sources.any_connecting() {
        (format!("{} connecting", theme::SYM_LOADING), theme.dim())
    } else {
        (format!("{} live", theme::SYM_LIVE), theme.live())
    };
    let mut spans = vec![
        Span::styled(" shipdeck ", theme.title()),
        Span::styled("─ ", theme.border()),
        Span::raw(format!("estate: {} ", cell(&app.config.estate, 30))),
        Span::styled("─ ", theme.border()),
        Span::raw(format!("{} apps × {} envs ", b.rows.len(), b.envs.len())),
        Span::styled("─ ", theme.border()),
        Span::styled(state, style),
    ];
    if app.read_only {
        spans.push(Span::styled(" ─ read-only", theme.warning()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A pane reduced to one line in the stacked layout: its title and a one-line summary.
fn render_collapsed(app: &App, frame: &mut Frame, area: ratatui::layout::Rect, pane: Pane) {
    let theme = &app.theme;
    let summary = match pane {
        Pane::Releases => {
            let r = &app.releases;
            match (r.selected_app(), r.selected_env()) {
                (Some(a), Some(e)) => format!("{} @ {}", cell(a, 30), cell(e, 20)),
                _ => format!("{} apps", r.board.rows.len()),
            }
        }
        Pane::Detail => app
            .detail
            .as_ref()
            .map(|d| format!("{} @ {}", cell(&d.app, 30), cell(&d.env, 20)))
            .unwrap_or_default(),
        Pane::Logs => app
            .logs
            .as_ref()
            .map(|l| cell(&l.pod, 60))
            .unwrap_or_default(),
        Pane::Operations => operations::summary(app),
        p => placeholder::summary(app, p),
    };
    let line = Line::from(vec![
        Span::styled("▸ ", theme.border()),
        Span::styled(format!("{} ", pane.title()), theme.header()),
        Span::styled(summary, theme.dim()),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}
