//! The Releases pane: apps × environments with tag, rollout state, ready/desired, age and drift.
//! Only the rows in view are built, so 10,000 apps cost the same per frame as 40.
use crate::app::{App, Pane};
use crate::clock::age;
use crate::model::RolloutState;
use crate::model::board::{BoardCell, CellMarks, EnvColumn};
use crate::text::{cell, truncate, width};
use crate::ui::pane_block;
use crate::ui::table::{self, Col};
use crate::ui::theme::{self, Theme};
use jiff::Timestamp;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// A critical alert fires for the app in this environment.
pub const SYM_ALERT: &str = "!";
/// The running tag's digest in the registry is no longer the one the Deployment runs.
pub const SYM_TAG_MOVED: &str = "⇄";

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = &app.theme;
    let r = &app.releases;
    let focused = app.focus == Pane::Releases;
    let mut title = vec![Span::styled(" RELEASES ", theme.title())];
    if r.filtering || !r.filter.is_empty() {
        let cursor = if r.filtering { "▏" } else { "" };
        title.push(Span::styled(
            format!("/{}{cursor} ", cell(&r.filter, 30)),
            theme.key(),
        ));
    }
    if r.visible.len() != r.board.rows.len() {
        title.push(Span::styled(
            format!("{} of {} ", r.visible.len(), r.board.rows.len()),
            theme.dim(),
        ));
    } else if r.visible.len() > area.height.saturating_sub(3) as usize {
        title.push(Span::styled(
            format!("{}/{} ", r.selected + 1, r.visible.len()),
            theme.dim(),
        ));
    }
    let block = pane_block(theme, Line::from(title), focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let now = app.clock.now();

    let envs = &r.board.envs;
    let name_w = r
        .visible
        .iter()
        .skip(r.offset)
        .take(inner.height as usize)
        .filter_map(|&i| r.board.rows.get(i))
        .map(|row| width(&crate::text::sanitize(&row.app)))
        .max()
        .unwrap_or(4)
        .clamp(4, 24) as u16
        + 2;
    let name_w = name_w.min(inner.width / 3).max(3);
    let cols: Vec<Col> = std::iter::once(Col::Fixed(name_w))
        .chain(envs.iter().map(|_| Col::Fill(1)))
        .collect();
    let widths = table::widths(inner.width, &cols, 1);
    let col_w = widths.get(1).copied().unwrap_or(0) as usize;

    let header: Vec<Line<'static>> = std::iter::once(Line::from(""))
        .chain(envs.iter().map(|e| env_header(e, theme, now, col_w)))
        .collect();
    let head = Rect::new(inner.x, inner.y, inner.width, 1);
    let body = Rect::new(
        inner.x,
        inner.y + 1,
        inner.width,
        inner.height.saturating_sub(1),
    );
    table::render_rows(
        frame.buffer_mut(),
        head,
        &widths,
        1,
        [(header, theme.header())],
    );

    if r.visible.is_empty() {
        let msg = if r.board.rows.is_empty() {
            if envs.iter().any(|e| e.loaded) {
                "no apps found in the configured namespaces".to_string()
            } else if envs.iter().any(|e| e.error.is_some()) {
                format!("{} no data yet: every source failed", theme::SYM_STALE)
            } else {
                format!("{} loading deployments", theme::SYM_LOADING)
            }
        } else {
            format!("no app matches /{}", cell(&r.filter, 40))
        };
        frame.render_widget(Paragraph::new(msg).style(theme.dim()), body);
        return;
    }

    let rows = r
        .visible
        .iter()
        .enumerate()
        .skip(r.offset)
        .take(body.height as usize)
        .filter_map(|(pos, &i)| r.board.rows.get(i).map(|row| (pos, row)))
        .map(|(pos, row)| {
            let selected = pos == r.selected;
            let marker = if selected { theme::SYM_SELECTED } else { " " };
            let name = Line::from(vec![
                Span::raw(format!("{marker} ")),
                Span::styled(
                    cell(&row.app, name_w.saturating_sub(2) as usize),
                    theme.title(),
                ),
            ]);
            let cells = row.cells.iter().enumerate().map(|(j, c)| {
                let env = envs.get(j);
                let mut line = match c {
                    Some(c) => {
                        let marks = cell_marks(app, &row.app, j, c);
                        cell_line(c, env, marks, theme, now, col_w)
                    }
                    None => absent_line(env, theme),
                };
                if selected && j == r.env {
                    // Only the cell's first span (its version) carries the cursor: a move then
                    // rewrites two short words, not two whole cells (fewer bytes over ssh).
                    let style = if focused {
                        theme.cursor()
                    } else {
                        ratatui::style::Modifier::UNDERLINED.into()
                    };
                    if let Some(first) = line.spans.first_mut() {
                        *first = first.clone().patch_style(style);
                    }
                }
                line
            });
            // The marker and the cursor cell carry the selection: a full-row highlight would
            // rewrite two whole rows per cursor move (hundreds of bytes over ssh).
            let row_style = theme.base();
            (std::iter::once(name).chain(cells).collect(), row_style)
        });
    table::render_rows(frame.buffer_mut(), body, &widths, 1, rows);
}

fn env_header(env: &EnvColumn, theme: &Theme, now: Timestamp, w: usize) -> Line<'static> {
    let mut name = crate::text::sanitize(&env.name).into_owned();
    if let Some(c) = &env.color {
        name.push_str(&format!(" ({})", crate::text::sanitize(c)));
    }
    if env.gitops {
        // Promotions here are commits to the manifests repository.
        name.push_str(" · gitops");
    }
    let badge = match (&env.error, env.loaded) {
        (Some(_), _) => Some((
            match env.fetched_at {
                Some(t) => format!("{} stale {}", theme::SYM_STALE, age(now, t)),
                None => format!("{} failed", theme::SYM_STALE),
            },
            theme.stale(),
        )),
        (None, false) => Some((theme::SYM_LOADING.to_string(), theme.dim())),
        (None, true) => None,
    };
    match badge {
        Some((badge, style)) => {
            let room = w.saturating_sub(width(&badge) + 1);
            Line::from(vec![
                Span::raw(format!("{} ", truncate(&name, room))),
                Span::styled(badge, style),
            ])
        }
        None => Line::from(truncate(&name, w).into_owned()),
    }
}

/// A cell's alert, CI and registry marks, looked up in the overview's indexed maps (only cells
/// in view are asked, so the cost does not grow with the estate).
fn cell_marks(app: &App, name: &str, env_index: usize, c: &BoardCell) -> CellMarks {
    let m = &app.overview.markers;
    let branch = app
        .config
        .environments
        .get(env_index)
        .and_then(|e| e.branch.as_deref());
    let key = if m.tag_digests.is_empty() {
        None
    } else {
        crate::app::image_key(c.image())
    };
    let image = key
        .as_ref()
        .map(|(r, t, d)| (r.as_str(), t.as_str(), d.as_str()));
    m.cell(name, &c.deployment.namespace, branch, image)
}

/// `a1f3c2 ✓ 3/3 2m ≠ ! ✗CI ⇄`: the tag gets what the fixed parts leave. Marks: `!` a critical
/// alert fires, `✗CI` the feeding branch's latest run failed, `⇄` the tag moved in the registry.
pub fn cell_line(
    c: &BoardCell,
    env: Option<&EnvColumn>,
    marks: CellMarks,
    theme: &Theme,
    now: Timestamp,
    w: usize,
) -> Line<'static> {
    let stale = env.is_some_and(|e| e.error.is_some());
    let (sym, sym_style) = theme.rollout(&c.state);
    let state = match &c.state {
        RolloutState::Failed { reason, .. } => format!("{sym} {}", short_reason(reason)),
        RolloutState::WaitingForSpec => format!("{sym} {}/{} spec", c.ready, c.desired),
        _ => format!("{sym} {}/{}", c.ready, c.desired),
    };
    let mut age_text = c.changed_at.map(|t| age(now, t)).unwrap_or_default();
    let drift = if c.drift {
        format!(" {}", theme::SYM_DRIFT)
    } else {
        String::new()
    };
    let mut mark_spans: Vec<Span<'static>> = Vec::new();
    if marks.critical_alert {
        mark_spans.push(Span::styled(
            format!(" {}", SYM_ALERT),
            theme.failed().add_modifier(ratatui::style::Modifier::BOLD),
        ));
    }
    if marks.ci_failed {
        mark_spans.push(Span::styled(
            format!(" {}CI", theme::SYM_FAILED),
            theme.failed(),
        ));
    }
    if marks.tag_moved {
        mark_spans.push(Span::styled(format!(" {}", SYM_TAG_MOVED), theme.warning()));
    }
    let marks_w: usize = mark_spans.iter().map(|s| width(&s.content)).sum();
    let mut fixed = width(&state) + width(&age_text) + width(&drift) + marks_w + 2;
    // A narrow column keeps the marks and drops the age (the detail still has it).
    if marks_w > 0 && fixed + 4 > w {
        fixed -= width(&age_text);
        age_text.clear();
    }
    let tag_room = w.saturating_sub(fixed).max(4);
    let tag = cell(&c.tag_label, tag_room);
    let data_style = if stale {
        theme.stale_data()
    } else {
        theme.base()
    };
    let mut spans = vec![
        Span::styled(tag, data_style),
        Span::raw(" "),
        Span::styled(state, sym_style),
        Span::raw(" "),
        Span::styled(age_text, theme.dim()),
    ];
    if c.drift {
        spans.push(Span::styled(drift, theme.drift()));
    }
    spans.extend(mark_spans);
    Line::from(spans)
}

fn absent_line(env: Option<&EnvColumn>, theme: &Theme) -> Line<'static> {
    match env {
        Some(e) if !e.loaded && e.error.is_none() => {
            Line::styled(theme::SYM_LOADING.to_string(), theme.dim())
        }
        _ => Line::styled(theme::SYM_ABSENT.to_string(), theme.dim()),
    }
}

fn short_reason(reason: &str) -> String {
    match reason {
        "ProgressDeadlineExceeded" => "deadline".to_string(),
        other => crate::text::sanitize(other).into_owned(),
    }
}
