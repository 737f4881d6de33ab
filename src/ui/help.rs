//! The help screen (every binding, straight from the keymap), the environment picker and the
//! command palette.
use crate::app::App;
use crate::text::{cell, truncate};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Row, Table};

/// A centred rectangle of at most `w` × `h` inside `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

pub fn render_help(app: &App, frame: &mut Frame, area: Rect, scroll: usize) {
    let theme = &app.theme;
    let rows = app.keymap.help_rows();
    let popup = centered(area, 76, area.height.saturating_sub(2).max(3));
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .border_type(BorderType::Plain)
        .border_style(theme.border_focused())
        .title(Span::styled(" HELP — keys ", theme.title()))
        .title_bottom(Line::styled(" ↑↓ scroll · Esc close ", theme.dim()));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let scroll = scroll.min(rows.len().saturating_sub(inner.height as usize));
    let lines = rows
        .iter()
        .skip(scroll)
        .take(inner.height as usize)
        .map(|r| {
            let scope = r
                .scope
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            Row::new(vec![
                Line::styled(truncate(&r.keys, 16).into_owned(), theme.key()),
                Line::raw(r.description),
                Line::styled(format!("{}{scope}", r.action.name()), theme.dim()),
            ])
        });
    let widths = [
        Constraint::Length(16),
        // The longest meaning: "roll back to the previous revision".
        Constraint::Length(34),
        Constraint::Min(0),
    ];
    frame.render_widget(Table::new(lines, widths), inner);
}

pub fn render_picker(app: &App, frame: &mut Frame, area: Rect, cursor: usize) {
    let theme = &app.theme;
    let envs = &app.releases.board.envs;
    let popup = centered(area, 40, envs.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .border_style(theme.border_focused())
        .title(Span::styled(" ENVIRONMENT ", theme.title()));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let name_w = envs
        .iter()
        .map(|e| crate::text::width(&cell(&e.name, 20)))
        .max()
        .unwrap_or(0);
    let lines: Vec<Line> = envs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let name = cell(&e.name, 20);
            let pad = " ".repeat(name_w.saturating_sub(crate::text::width(&name)));
            let text = format!(
                "{} {name}{pad}  {}",
                if i == cursor { "▸" } else { " " },
                cell(&e.namespace, 30)
            );
            if i == cursor {
                Line::styled(text, theme.cursor())
            } else {
                Line::raw(text)
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The command palette: the typed text and the matching actions with their keys.
pub fn render_palette(app: &App, frame: &mut Frame, area: Rect, input: &str, cursor: usize) {
    let theme = &app.theme;
    let matches = crate::app::palette_matches(input);
    let rows = matches.len().clamp(1, 12) as u16;
    let popup = centered(area, 60, rows + 3);
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .border_style(theme.border_focused())
        .title(Span::styled(" COMMAND ", theme.title()))
        .title_bottom(Line::raw(" ↑↓ choose · Enter run · Esc close "));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let mut lines = vec![Line::from(vec![
        Span::styled(": ", theme.key()),
        Span::raw(
            truncate(
                &crate::text::sanitize(input),
                inner.width.saturating_sub(3) as usize,
            )
            .into_owned(),
        ),
        Span::styled("█", theme.key()),
    ])];
    if matches.is_empty() {
        lines.push(Line::raw("  no action matches"));
    }
    let visible = inner.height.saturating_sub(1) as usize;
    let first = cursor.saturating_sub(visible.saturating_sub(1));
    for (i, action) in matches.iter().enumerate().skip(first).take(visible) {
        let mode = app.mode();
        let key = app
            .keymap
            .hint(*action, mode)
            .or_else(|| app.keymap.hint(*action, crate::keymap::Mode::Normal))
            .unwrap_or_default();
        let text = format!(
            "{} {:<22} {:<10} {}",
            if i == cursor { "▸" } else { " " },
            action.name(),
            key,
            action.describe()
        );
        let text = truncate(&text, inner.width as usize).into_owned();
        lines.push(if i == cursor {
            Line::styled(text, theme.cursor())
        } else {
            Line::raw(text)
        });
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
