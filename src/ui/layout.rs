//! Where each pane goes for a terminal size: the wide layout of PRODUCT.md §3, or stacked panes on
//! small terminals where the focused pane takes the space. Pure, shared by render and update (which
//! needs the board's height to keep the selection in view).
use crate::app::{App, Pane};
use ratatui::layout::{Constraint, Layout, Rect};

/// Below this size, panes stack and only the focused one is drawn in full.
pub const WIDE_MIN_WIDTH: u16 = 100;
pub const WIDE_MIN_HEIGHT: u16 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Areas {
    pub title: Rect,
    pub status: Rect,
    /// Panes drawn in full.
    pub panes: Vec<(Pane, Rect)>,
    /// Panes reduced to a one-line header (stacked layout).
    pub collapsed: Vec<(Pane, Rect)>,
}

impl Areas {
    pub fn rect(&self, pane: Pane) -> Option<Rect> {
        self.panes.iter().find(|(p, _)| *p == pane).map(|(_, r)| *r)
    }
}

pub fn is_wide(area: Rect) -> bool {
    area.width >= WIDE_MIN_WIDTH && area.height >= WIDE_MIN_HEIGHT
}

pub fn compute(app: &App, area: Rect) -> Areas {
    let [title, middle, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    let panes = if is_wide(area) {
        wide(app, middle)
    } else {
        return stacked(app, title, middle, status);
    };
    Areas {
        title,
        status,
        panes,
        collapsed: Vec::new(),
    }
}

fn wide(app: &App, middle: Rect) -> Vec<(Pane, Rect)> {
    let rows = app.releases.visible.len() as u16;
    let drilled = app.detail.is_some() || app.logs.is_some();
    let share = if drilled {
        middle.height / 3
    } else {
        middle.height * 45 / 100
    };
    // Border (2) + header (1) + rows, at least room for a few rows.
    let board_h = (rows + 3).clamp(6, share.max(6));
    let [board, lower, ops] = Layout::vertical([
        Constraint::Length(board_h),
        Constraint::Min(0),
        Constraint::Length(3),
    ])
    .areas(middle);
    let mut out = vec![(Pane::Releases, board)];
    if app.logs.is_some() {
        out.push((Pane::Logs, lower));
    } else if app.detail.is_some() {
        out.push((Pane::Detail, lower));
    } else if let Some(pane) = expanded(app) {
        // An open run or chart takes the whole lower area; Tab away closes it.
        out.push((pane, lower));
    } else {
        let [p, m, a] = Layout::horizontal([
            Constraint::Ratio(1, 3),
            Constraint::Ratio(1, 3),
            Constraint::Ratio(1, 3),
        ])
        .areas(lower);
        out.extend([(Pane::Pipelines, p), (Pane::Metrics, m), (Pane::Alerts, a)]);
    }
    out.push((Pane::Operations, ops));
    out
}

/// The overview pane showing a drill-in (run detail, full chart), if it has the focus.
fn expanded(app: &App) -> Option<Pane> {
    match app.focus {
        Pane::Pipelines if app.overview.run.is_some() => Some(Pane::Pipelines),
        Pane::Metrics if app.overview.chart_open => Some(Pane::Metrics),
        _ => None,
    }
}

fn stacked(app: &App, title: Rect, middle: Rect, status: Rect) -> Areas {
    let order = app.panes();
    let focus = if order.contains(&app.focus) {
        app.focus
    } else {
        Pane::Releases
    };
    let others = order.len().saturating_sub(1) as u16;
    // Collapsed headers only when the focused pane keeps at least 5 rows.
    let show_collapsed = middle.height >= others + 5;
    let mut panes = Vec::new();
    let mut collapsed = Vec::new();
    let mut y = middle.y;
    let focused_h = if show_collapsed {
        middle.height - others
    } else {
        middle.height
    };
    for pane in order {
        if pane == focus {
            panes.push((pane, Rect::new(middle.x, y, middle.width, focused_h)));
            y += focused_h;
        } else if show_collapsed {
            collapsed.push((pane, Rect::new(middle.x, y, middle.width, 1)));
            y += 1;
        }
    }
    Areas {
        title,
        status,
        panes,
        collapsed,
    }
}

/// Table rows the board shows (inside its border and below its header) at the app's size; `None`
/// when the board is not drawn in full (stacked layout, another pane focused).
pub fn board_rows(app: &App) -> Option<usize> {
    let areas = compute(app, Rect::new(0, 0, app.width, app.height));
    areas
        .rect(Pane::Releases)
        .map(|r| r.height.saturating_sub(3).max(1) as usize)
}
