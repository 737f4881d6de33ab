//! The pod log pane: the tail of the bounded buffer, follow mode, scroll position, stream state.
use crate::app::{App, Pane};
use crate::text::{cell, truncate};
use crate::ui::pane_block;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = &app.theme;
    let Some(l) = &app.logs else {
        return;
    };
    let mode = if l.follow {
        Span::styled("following ", theme.ok())
    } else {
        Span::styled(format!("paused, {} newer ", l.scroll), theme.warning())
    };
    let title = Line::from(vec![
        Span::styled(" LOGS ", theme.title()),
        Span::raw(format!("{} @ {} ", cell(&l.pod, 60), cell(&l.env, 20))),
        mode,
        Span::styled(format!("{}/{} lines ", l.len(), l.capacity()), theme.dim()),
    ]);
    let block = pane_block(theme, title, app.focus == Pane::Logs);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let w = inner.width as usize;
    let mut height = inner.height as usize;
    let footer = match &l.ended {
        Some(Some(err)) => Some(Line::styled(
            format!("— stream failed: {} —", cell(err, w.saturating_sub(20))),
            theme.failed(),
        )),
        Some(None) => Some(Line::styled("— stream ended —", theme.dim())),
        None if l.is_empty() => Some(Line::styled("… waiting for log lines", theme.dim())),
        None => None,
    };
    if footer.is_some() {
        height = height.saturating_sub(1);
    }
    // Lines were sanitized when they arrived; here they are only cut to the width.
    let mut lines: Vec<Line> = l
        .window(height)
        .map(|s| Line::raw(truncate(s, w).into_owned()))
        .collect();
    lines.extend(footer);
    frame.render_widget(Paragraph::new(lines), inner);
}
