//! The Pipelines pane (latest run per branch as stage chips, the commit, the age, a gate waiting
//! for approval standing out) and the run detail (jobs, steps, timings, approvals, the failing
//! step's log tail). Pure functions of plain data; every outside string goes through `text::cell`.
use crate::clock::age;
use crate::model::pipeline::{Pipeline, RunDetail, Stage, StageStatus};
use crate::text::{cell, width};
use jiff::Timestamp;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};
use std::time::Duration;

/// What the Pipelines pane shows for the selected app.
#[derive(Debug, Clone, Copy)]
pub struct PaneData<'a> {
    pub app: &'a str,
    /// Rows in this order, also for branches without a run.
    pub branches: &'a [String],
    /// Last good data; `None` while loading or when never fetched.
    pub pipelines: Option<&'a [Pipeline]>,
    pub fetched_at: Option<Timestamp>,
    /// The last poll's error: the data shown is stale.
    pub error: Option<&'a str>,
    /// CI is not configured: a one-line hint instead of content.
    pub disabled: bool,
    /// Highlighted branch row.
    pub selected: Option<usize>,
    pub now: Timestamp,
}

/// What the run detail shows.
#[derive(Debug, Clone, Copy)]
pub struct DetailData<'a> {
    pub detail: Option<&'a RunDetail>,
    pub fetched_at: Option<Timestamp>,
    pub error: Option<&'a str>,
    pub now: Timestamp,
    /// Lines scrolled off the top.
    pub scroll: u16,
}

pub fn status_style(s: StageStatus, colors: bool) -> Style {
    let base = Style::default();
    // Without colours the waiting gate still stands out (reverse video) and failures are bold.
    match (s, colors) {
        (StageStatus::WaitingApproval, true) => base
            .fg(Color::Black)
            .bg(Color::Yellow)
            .add_modifier(Modifier::BOLD),
        (StageStatus::WaitingApproval, false) => {
            base.add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
        (StageStatus::Failed, true) => base.fg(Color::Red).add_modifier(Modifier::BOLD),
        (StageStatus::Failed, false) => base.add_modifier(Modifier::BOLD),
        (StageStatus::Success, true) => base.fg(Color::Green),
        (StageStatus::Running, true) => base.fg(Color::Cyan),
        (StageStatus::Queued | StageStatus::Skipped, true) => base.fg(Color::DarkGray),
        (StageStatus::Cancelled, true) => base.fg(Color::Magenta),
        _ => base,
    }
}

fn dim(colors: bool) -> Style {
    if colors {
        Style::default().fg(Color::DarkGray)
    } else {
        Style::default()
    }
}

/// `42s`, `1m40s`, `2h05m`.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The duration a chip shows: total when finished, elapsed (from the pane's clock) while running.
fn stage_time(
    status: StageStatus,
    started: Option<Timestamp>,
    d: Option<Duration>,
    now: Timestamp,
) -> Option<String> {
    match (d, status, started) {
        (Some(d), _, _) => Some(short_duration(d)),
        (None, StageStatus::Running | StageStatus::WaitingApproval, Some(t)) => {
            let secs = now.duration_since(t).as_secs().max(0);
            Some(short_duration(Duration::from_secs(secs.unsigned_abs())))
        }
        _ => None,
    }
}

fn chip(s: &Stage, now: Timestamp, colors: bool) -> Span<'static> {
    let mut text = format!("{}{}", s.status.symbol(), cell(&s.name, 24));
    if s.status == StageStatus::WaitingApproval {
        text = format!(" {} waiting ", text);
    } else if let Some(t) = stage_time(s.status, s.started, s.duration, now) {
        text.push(' ');
        text.push_str(&t);
    }
    Span::styled(text, status_style(s.status, colors))
}

/// The header line: stale, unreachable, loading or nothing.
fn state_line(
    error: Option<&str>,
    fetched_at: Option<Timestamp>,
    has_data: bool,
    now: Timestamp,
    colors: bool,
    w: usize,
) -> Option<Line<'static>> {
    let warn = if colors {
        Style::default()
            .fg(Color::Yellow)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default().add_modifier(Modifier::BOLD)
    };
    match (error, has_data) {
        (Some(e), true) => {
            let since = fetched_at
                .map(|t| format!(" {}", age(now, t)))
                .unwrap_or_default();
            let head = format!("! stale{since}: ");
            let rest = cell(e, w.saturating_sub(width(&head)));
            Some(Line::from(vec![
                Span::styled(head, warn),
                Span::styled(rest, warn),
            ]))
        }
        (Some(e), false) => {
            let head = "! CI unreachable: ".to_string();
            let rest = cell(e, w.saturating_sub(width(&head)));
            Some(Line::from(vec![
                Span::styled(head, warn),
                Span::styled(rest, warn),
            ]))
        }
        (None, false) => Some(Line::styled("loading…", dim(colors))),
        (None, true) => None,
    }
}

/// The pane as lines for a width; two lines per branch when `tall`.
pub fn pane_lines(d: &PaneData<'_>, w: usize, tall: bool, colors: bool) -> Vec<Line<'static>> {
    if d.disabled {
        return vec![Line::styled(
            cell("CI not configured: add a [ci] section to config.toml", w),
            dim(colors),
        )];
    }
    let mut out = Vec::new();
    if let Some(l) = state_line(
        d.error,
        d.fetched_at,
        d.pipelines.is_some(),
        d.now,
        colors,
        w,
    ) {
        out.push(l);
    }
    let Some(pipes) = d.pipelines else {
        return out;
    };
    let label_w = d
        .branches
        .iter()
        .map(|b| width(b))
        .max()
        .unwrap_or(6)
        .clamp(6, 12);
    for (i, branch) in d.branches.iter().enumerate() {
        let sel = d.selected == Some(i);
        let marker = if sel { "▸" } else { " " };
        let mut spans = vec![Span::styled(
            format!("{marker}{:<label_w$} ", cell(branch, label_w)),
            if sel {
                Style::default().add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            },
        )];
        let Some(p) = pipes.iter().find(|p| &p.branch == branch) else {
            spans.push(Span::styled("no runs", dim(colors)));
            out.push(Line::from(spans));
            continue;
        };
        let mut used = label_w + 2;
        let mut hidden = 0;
        for (k, s) in p.stages.iter().enumerate() {
            let c = chip(s, d.now, colors);
            let cw = width(&c.content) + 1;
            // Keep room for a "+N" marker when stages do not fit.
            let room = if k + 1 < p.stages.len() { 4 } else { 0 };
            if used + cw + room > w && s.status != StageStatus::WaitingApproval {
                hidden += 1;
                continue;
            }
            used += cw;
            spans.push(c);
            spans.push(Span::raw(" "));
        }
        if p.stages.is_empty() {
            spans.push(Span::styled(
                format!("{} {}", p.status.symbol(), p.status.label()),
                status_style(p.status, colors),
            ));
            used += p.status.label().len() + 2;
        }
        if hidden > 0 {
            spans.push(Span::styled(format!("+{hidden}"), dim(colors)));
            used += 2;
        }
        let commit = commit_text(p, d.now);
        if tall {
            out.push(Line::from(spans));
            let indent = " ".repeat(label_w + 2);
            out.push(Line::from(vec![
                Span::raw(indent.clone()),
                Span::styled(cell(&commit, w.saturating_sub(indent.len())), dim(colors)),
            ]));
        } else {
            let left = w.saturating_sub(used + 2);
            if left >= 12 {
                spans.push(Span::styled(
                    format!("  {}", cell(&commit, left)),
                    dim(colors),
                ));
            }
            out.push(Line::from(spans));
        }
    }
    out
}

fn commit_text(p: &Pipeline, now: Timestamp) -> String {
    let ago = p.started.map(|t| age(now, t)).unwrap_or_default();
    let num = p.number.map(|n| format!("#{n} ")).unwrap_or_default();
    format!(
        "{num}{} {} {} · {ago}",
        crate::text::sanitize(p.commit.short_sha()),
        crate::text::sanitize(&p.commit.author),
        crate::text::sanitize(p.commit.title())
    )
}

/// Draws the pane content (no border: the layout owns blocks and titles).
pub fn render_pane(d: &PaneData<'_>, area: Rect, buf: &mut Buffer, colors: bool) {
    let rows = d.branches.len() * 2 + usize::from(d.error.is_some() || d.pipelines.is_none());
    let tall = usize::from(area.height) >= rows;
    let lines = pane_lines(d, usize::from(area.width), tall, colors);
    Paragraph::new(lines).render(area, buf);
}

/// Seconds until a label of the pane changes (a running stage's elapsed time, a run's age), so the
/// UI can arm its age timer instead of redrawing on a tick; `None` when nothing on it moves.
pub fn next_label_change(pipelines: &[Pipeline], now: Timestamp) -> Option<i64> {
    pipelines
        .iter()
        .filter_map(|p| {
            let running = p.stages.iter().any(|s| {
                s.status == StageStatus::Running && s.started.is_some() && s.duration.is_none()
            });
            if running {
                Some(1)
            } else {
                p.started.map(|t| crate::clock::next_age_change(now, t))
            }
        })
        .min()
}

/// The run detail as lines for a width.
pub fn detail_lines(d: &DetailData<'_>, w: usize, colors: bool) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if let Some(l) = state_line(d.error, d.fetched_at, d.detail.is_some(), d.now, colors, w) {
        out.push(l);
    }
    let Some(detail) = d.detail else {
        return out;
    };
    let p = &detail.pipeline;
    let bold = Style::default().add_modifier(Modifier::BOLD);
    out.push(Line::from(vec![
        Span::styled(cell(&format!("{} {}", p.app, p.branch), w / 2), bold),
        Span::raw(" "),
        Span::styled(
            format!("{} {}", p.status.symbol(), p.status.label()),
            status_style(p.status, colors),
        ),
    ]));
    out.push(Line::styled(cell(&commit_text(p, d.now), w), dim(colors)));
    for job in &detail.jobs {
        let t = stage_time(job.status, job.started, job.duration, d.now).unwrap_or_default();
        let name_w = w.saturating_sub(width(&t) + 4).max(1);
        let mut spans = vec![
            Span::styled(
                format!("{} ", job.status.symbol()),
                status_style(job.status, colors),
            ),
            Span::raw(format!("{:<name_w$}", cell(&job.name, name_w))),
            Span::raw(" "),
            Span::styled(t, dim(colors)),
        ];
        if job.status == StageStatus::WaitingApproval {
            spans = vec![Span::styled(
                cell(
                    &format!("{} {}  waiting for approval", job.status.symbol(), job.name),
                    w,
                ),
                status_style(job.status, colors),
            )];
        }
        out.push(Line::from(spans));
        for step in &job.steps {
            let t = stage_time(step.status, step.started, step.duration, d.now).unwrap_or_default();
            let name_w = w.saturating_sub(width(&t) + 7).max(1);
            out.push(Line::from(vec![
                Span::raw("    "),
                Span::styled(
                    format!("{} ", step.status.symbol()),
                    status_style(step.status, colors),
                ),
                Span::raw(format!("{:<name_w$}", cell(&step.name, name_w))),
                Span::raw(" "),
                Span::styled(t, dim(colors)),
            ]));
        }
    }
    for a in &detail.approvals {
        out.push(Line::styled(
            cell(&format!("⏸ {}: {}  (a to approve)", a.name, a.message), w),
            status_style(StageStatus::WaitingApproval, colors),
        ));
    }
    if let Some(tail) = &detail.log_tail {
        let which = match &tail.step {
            Some(s) => format!("{} › {s}", tail.job),
            None => tail.job.clone(),
        };
        out.push(Line::styled(cell(&format!("log tail: {which}"), w), bold));
        for l in &tail.lines {
            out.push(Line::from(vec![
                Span::styled("│ ", dim(colors)),
                Span::raw(cell(l, w.saturating_sub(2))),
            ]));
        }
    }
    out
}

pub fn render_detail(d: &DetailData<'_>, area: Rect, buf: &mut Buffer, colors: bool) {
    let lines = detail_lines(d, usize::from(area.width), colors);
    Paragraph::new(lines)
        .scroll((d.scroll, 0))
        .render(area, buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_changes() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let mut p = Pipeline {
            app: "web".into(),
            branch: "develop".into(),
            run_id: "1".into(),
            number: None,
            status: StageStatus::Success,
            stages: vec![],
            commit: Default::default(),
            started: Some("2026-01-01T00:00:30Z".parse().unwrap()),
            url: None,
        };
        assert_eq!(next_label_change(std::slice::from_ref(&p), now), Some(30));
        p.stages.push(Stage {
            name: "build".into(),
            status: StageStatus::Running,
            started: p.started,
            duration: None,
        });
        assert_eq!(next_label_change(&[p], now), Some(1));
        assert_eq!(next_label_change(&[], now), None);
    }

    #[test]
    fn durations() {
        assert_eq!(short_duration(Duration::from_secs(42)), "42s");
        assert_eq!(short_duration(Duration::from_secs(100)), "1m40s");
        assert_eq!(short_duration(Duration::from_secs(7500)), "2h05m");
    }
}
