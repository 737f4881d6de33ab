//! Panes whose sources arrive later (Pipelines, Metrics, Alerts, Operations): a one-line hint.
use crate::app::{App, Pane};
use crate::text::cell;
use crate::ui::pane_block;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The one-line hint a placeholder pane shows.
pub fn hint(pane: Pane) -> &'static str {
    match pane {
        Pane::Pipelines => "no CI source configured",
        Pane::Metrics => "no Prometheus source configured",
        Pane::Alerts => "no Alertmanager source configured",
        Pane::Operations => "no operations (mutations arrive with the mutation engine)",
        _ => "",
    }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect, pane: Pane) {
    let theme = &app.theme;
    // The overview panes follow the board's selection (PRODUCT.md §3: "PIPELINES web").
    let r = &app.releases;
    let subject = match (pane, r.selected_app(), r.selected_env()) {
        (Pane::Pipelines, Some(a), _) => format!("{} ", cell(a, 30)),
        (Pane::Metrics, Some(a), Some(e)) => format!("{} @ {} ", cell(a, 30), cell(e, 20)),
        _ => String::new(),
    };
    let title = Line::from(vec![
        Span::styled(format!(" {} ", pane.title()), theme.title()),
        Span::raw(subject),
    ]);
    let block = pane_block(theme, title, app.focus == pane);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(Line::styled(hint(pane), theme.dim())), inner);
}
