//! The operation modal: the preview (the same `Preview::render_text` the CLI prints, scrollable,
//! checks as ✓/✗, the template diff coloured), the confirmation prompt, the patch menu and the
//! one-line fields (tag, replicas, silence duration and comment).
use crate::app::{App, OpModal, PATCH_ITEMS, Stage};
use crate::text::{cell, sanitize};
use crate::ui::theme::{self, Theme};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

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

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(modal) = &app.ops.modal else {
        return;
    };
    let theme = &app.theme;
    match modal {
        OpModal::Preparing { request, rule } => {
            let lines = vec![
                Line::styled(
                    format!("{} reading state and dry-running…", theme::SYM_LOADING),
                    theme.dim(),
                ),
                Line::raw(""),
                Line::styled("Esc cancel", theme.dim()),
            ];
            small(app, frame, area, &title(&request.summary(), rule), lines);
        }
        OpModal::Failed { request, message } => {
            let lines = vec![
                Line::styled(
                    format!("{} {}", theme::SYM_FAILED, cell(message, 200)),
                    theme.failed(),
                ),
                Line::raw(""),
                Line::styled("Enter/Esc close", theme.dim()),
            ];
            small(app, frame, area, &title(&request.summary(), &None), lines);
        }
        OpModal::Patch {
            app: a,
            env,
            cursor,
        } => {
            let mut lines: Vec<Line> = PATCH_ITEMS
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let text = format!(" {} {item}", i + 1);
                    if i == *cursor {
                        Line::styled(format!("{}{text}", theme::SYM_SELECTED), theme.cursor())
                    } else {
                        Line::raw(format!(" {text}"))
                    }
                })
                .collect();
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                "1–5 or ↑↓ Enter choose · Esc cancel",
                theme.dim(),
            ));
            let t = format!("patch {} in {}", cell(a, 30), cell(env, 20));
            small(app, frame, area, &title(&t, &None), lines);
        }
        OpModal::Tags {
            app: a,
            env,
            repository,
            tags,
            cursor,
        } => {
            // At most this many tags on screen; the cursor's stays in view.
            let rows = usize::from(area.height.saturating_sub(8).clamp(3, 15));
            let mut lines: Vec<Line> = match tags {
                None => vec![Line::styled(
                    format!(
                        "{} listing tags of {}…",
                        theme::SYM_LOADING,
                        cell(repository, 60)
                    ),
                    theme.dim(),
                )],
                Some(Err(e)) => vec![Line::styled(
                    format!("{} {}", theme::SYM_FAILED, cell(e, 80)),
                    theme.failed(),
                )],
                Some(Ok(t)) if t.is_empty() => {
                    vec![Line::styled("no tags in the registry", theme.dim())]
                }
                Some(Ok(t)) => {
                    let first = cursor.saturating_sub(rows - 1);
                    t.iter()
                        .enumerate()
                        .skip(first)
                        .take(rows)
                        .map(|(i, tag)| {
                            if i == *cursor {
                                Line::styled(
                                    format!("{} {}", theme::SYM_SELECTED, cell(tag, 80)),
                                    theme.cursor(),
                                )
                            } else {
                                Line::raw(format!("  {}", cell(tag, 80)))
                            }
                        })
                        .collect()
                }
            };
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                "↑↓ Enter pick · type a tag instead · Esc cancel",
                theme.dim(),
            ));
            let t = format!("image tag for {} in {}", cell(a, 30), cell(env, 20));
            small(app, frame, area, &title(&t, &None), lines);
        }
        OpModal::Details { run } => {
            let Some(r) = app.ops.runs.iter().find(|r| r.run == *run) else {
                return;
            };
            let p = &r.progress;
            let mut lines = vec![crate::ui::operations::line(app, r, 80)];
            lines.push(Line::styled(
                format!("op {}", cell(&p.op_id, 80)),
                theme.dim(),
            ));
            // The outcome's list is the record (it includes steps found already done on resume).
            let (done, total) = match &p.outcome {
                Some(o) => (&o.steps_done, o.steps_total),
                None => (&p.done, p.total),
            };
            let list = if done.is_empty() {
                "none".to_string()
            } else {
                done.join(", ")
            };
            lines.push(Line::raw(format!(
                "steps done ({}/{}): {}",
                done.len(),
                total,
                cell(&list, 70)
            )));
            if let Some(o) = &p.outcome {
                if !o.message.is_empty() {
                    lines.push(Line::raw(cell(&o.message, 86)));
                }
                if let Some(v) = &o.verify {
                    lines.push(Line::raw(format!("verify: {}", cell(&v.summary, 78))));
                }
            } else if !p.message.is_empty() {
                lines.push(Line::raw(cell(&p.message, 86)));
            }
            lines.push(Line::raw(""));
            let rollback = p
                .outcome
                .as_ref()
                .is_some_and(|o| o.suggested_rollback.is_some());
            lines.push(Line::styled(
                if rollback {
                    "r roll back · Esc close"
                } else {
                    "Esc close"
                },
                theme.dim(),
            ));
            small(app, frame, area, " operation ", lines);
        }
        OpModal::Input { field, text, error } => {
            let mut lines = vec![Line::from(vec![
                Span::styled(format!("{}: ", cell(&field.label(), 80)), theme.header()),
                Span::raw(cell(text, 100)),
                Span::styled("█", theme.dim()),
            ])];
            if let Some(e) = error {
                lines.push(Line::styled(cell(e, 100), theme.failed()));
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled("Enter next · Esc cancel", theme.dim()));
            small(app, frame, area, " operation ", lines);
        }
        OpModal::Preview {
            preview,
            rule,
            scroll,
            stage,
            reason,
            name,
            error,
        } => {
            let p = &preview.0;
            let w = area.width.min(120);
            let text = p.render_text(w.saturating_sub(2));
            let prompt_h: u16 = if error.is_some() { 2 } else { 1 };
            // As tall as the text and the prompt, at most the screen less a line above and below.
            let want = (text.lines().count() as u16).saturating_add(prompt_h + 3);
            let popup = centered(area, w, want.min(area.height.saturating_sub(2)).max(5));
            frame.render_widget(Clear, popup);
            let block = Block::bordered()
                .border_type(BorderType::Plain)
                .border_style(theme.border_focused())
                .title(Span::styled(
                    title(&p.request().summary(), rule),
                    theme.title(),
                ))
                .title_bottom(Line::styled(" ↑↓ PgUp PgDn scroll ", theme.dim()));
            let inner = block.inner(popup);
            frame.render_widget(block, popup);
            let [body, _, prompt] = Layout::vertical([
                Constraint::Min(0),
                Constraint::Length(1),
                Constraint::Length(prompt_h),
            ])
            .areas(inner);
            let all: Vec<&str> = text.lines().collect();
            let max_scroll = all.len().saturating_sub(body.height as usize);
            let lines: Vec<Line> = all
                .iter()
                .skip((*scroll).min(max_scroll))
                .take(body.height as usize)
                .map(|l| styled_line(theme, l))
                .collect();
            frame.render_widget(Paragraph::new(lines), body);
            let mut prompt_lines = vec![prompt_line(theme, p, *stage, reason, name)];
            if let Some(e) = error {
                prompt_lines.push(Line::styled(cell(e, 100), theme.failed()));
            }
            frame.render_widget(Paragraph::new(prompt_lines), prompt);
        }
    }
}

/// ` PROMOTE web staging → production · into the selected production, from its source staging `
fn title(summary: &str, rule: &Option<String>) -> String {
    let mut t = format!(" {}", sanitize(summary));
    if let Some(r) = rule {
        t.push_str(&format!(" · {}", sanitize(r)));
    }
    t.push(' ');
    t
}

fn small(app: &App, frame: &mut Frame, area: Rect, title: &str, lines: Vec<Line>) {
    let theme = &app.theme;
    let popup = centered(area, 90, lines.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .border_type(BorderType::Plain)
        .border_style(theme.border_focused())
        .title(Span::styled(cell(title, 88), theme.title()));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// One line of the preview text: checks get ✓/✗ marks and colours, the diff its +/- colours.
fn styled_line<'a>(theme: &Theme, l: &'a str) -> Line<'a> {
    let marks: [(&str, &str, Style); 4] = [
        ("[ok  ]", theme::SYM_COMPLETE, theme.ok()),
        ("[FAIL]", theme::SYM_FAILED, theme.failed()),
        ("[warn]", "!", theme.warning()),
        ("[skip]", "·", theme.dim()),
    ];
    for (tag, sym, style) in marks {
        if let Some(i) = l.find(tag) {
            return Line::from(vec![
                Span::raw(l[..i].to_string()),
                Span::styled(sym.to_string(), style),
                Span::styled(l[i + tag.len()..].to_string(), style),
            ]);
        }
    }
    let body = l.strip_prefix("  ").unwrap_or("");
    if body.starts_with('+') && !body.starts_with("+++") {
        Line::styled(l, theme.ok())
    } else if body.starts_with('-') && !body.starts_with("---") {
        Line::styled(l, theme.failed())
    } else if !l.starts_with(' ') {
        Line::styled(l, theme.header())
    } else {
        Line::raw(l)
    }
}

fn prompt_line<'a>(
    theme: &Theme,
    p: &crate::ops::Preview,
    stage: Stage,
    reason: &str,
    name: &str,
) -> Line<'a> {
    match stage {
        Stage::Refused => {
            let why = p
                .hard_failures()
                .first()
                .map(|c| format!("{}: {}", c.title, c.detail))
                .unwrap_or_default();
            Line::from(vec![
                Span::styled(
                    format!("{} refused — {} ", theme::SYM_FAILED, cell(&why, 80)),
                    theme.failed(),
                ),
                Span::styled("· Esc close", theme.dim()),
            ])
        }
        Stage::Reason => Line::from(vec![
            Span::styled(
                "checks failed — type a reason to override: ",
                theme.warning(),
            ),
            Span::raw(cell(reason, 80)),
            Span::styled("█  Enter · Esc cancel", theme.dim()),
        ]),
        Stage::Name => Line::from(vec![
            Span::styled(
                format!(
                    "protected — type `{}` to confirm: ",
                    cell(p.confirm_name.as_deref().unwrap_or_default(), 40)
                ),
                theme.warning(),
            ),
            Span::raw(cell(name, 40)),
            Span::styled("█  Enter · Esc cancel", theme.dim()),
        ]),
        Stage::Confirm => Line::from(vec![
            Span::styled("y/Enter confirm", theme.key()),
            Span::styled(" · n/Esc cancel", theme.dim()),
        ]),
    }
}
