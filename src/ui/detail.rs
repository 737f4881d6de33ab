//! The deployment detail pane: summary, conditions, rollout history (a cursor picks a revision to
//! roll back to), pods and recent events.
use crate::action::Action;
use crate::app::{App, Detail, Pane};
use crate::clock::age;
use crate::keymap::{Keymap, Mode};
use crate::model::{Fresh, RolloutState};
use crate::text::cell;
use crate::ui::pane_block;
use crate::ui::table::{self, Col};
use crate::ui::theme::{self, Theme};
use jiff::Timestamp;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = &app.theme;
    let Some(d) = &app.detail else {
        return;
    };
    let mut title = vec![
        Span::styled(" DEPLOYMENT ", theme.title()),
        Span::raw(format!("{} @ {} ", cell(&d.app, 30), cell(&d.env, 20))),
    ];
    // The Deployment itself comes from the environment's watch: say when that is stale.
    if let Some(f) = app.deployments.get(&d.env)
        && let Some(err) = &f.error
    {
        let since = f
            .fetched_at
            .map(|t| format!(" {}", age(app.clock.now(), t)))
            .unwrap_or_default();
        title.push(Span::styled(
            format!("{} stale{since}: {} ", theme::SYM_STALE, cell(err, 40)),
            theme.stale(),
        ));
    }
    let title = Line::from(title);
    let block = pane_block(theme, title, app.focus == Pane::Detail);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let now = app.clock.now();
    let w = inner.width as usize;

    let conditions = d.view.as_ref().map_or(0, |v| v.conditions.len());
    let history = d.history.value.as_ref().map_or(0, Vec::len);
    let pods = d.pod_count();
    let events = d.events.value.as_ref().map_or(0, Vec::len);
    let moved = moved_tag_note(app, d);
    // Desired heights (section title + rows), granted in priority order; events take the rest.
    let want = [
        2 + usize::from(moved.is_some()),
        1 + conditions.max(1),
        1 + history.clamp(1, 5),
        2 + pods.max(1),
        1 + events.max(1),
    ];
    let priority = [0, 3, 1, 2, 4];
    let mut got = [0usize; 5];
    let mut left = inner.height as usize;
    for &i in &priority {
        let h = want[i].min(left);
        got[i] = h;
        left -= h;
    }
    got[4] += left;
    let mut y = inner.y;
    let rects: Vec<Rect> = got
        .iter()
        .map(|&h| {
            let r = Rect::new(inner.x, y, inner.width, h as u16);
            y += h as u16;
            r
        })
        .collect();

    let mut head = summary(d, theme, now, w);
    if let Some(note) = moved {
        head.push(Line::styled(cell(&note, w), theme.warning()));
    }
    frame.render_widget(Paragraph::new(head), rects[0]);
    render_conditions(d, theme, now, frame, rects[1]);
    let focused = app.focus == Pane::Detail;
    let hint = focused.then(|| history_hint(&app.keymap)).flatten();
    render_history(d, theme, now, frame, rects[2], focused, hint);
    render_pods(d, theme, now, frame, rects[3], focused);
    render_events(d, theme, now, frame, rects[4]);
}

/// Says so when the Deployment runs a tag pinned to a digest and the registry's tag now points
/// elsewhere (the board's ⇄): a redeploy of "the same tag" would change what runs.
fn moved_tag_note(app: &App, d: &Detail) -> Option<String> {
    let image = d.view.as_ref()?.primary_image()?;
    let (repo, tag, running) = crate::app::image_key(image)?;
    let now = app.overview.markers.tag_digests.get(&repo)?.get(&tag)?;
    (now != &running).then(|| {
        format!(
            "{} tag {tag} has moved: the registry serves {} now, this runs {}",
            crate::ui::board::SYM_TAG_MOVED,
            short_digest(now),
            short_digest(&running)
        )
    })
}

fn short_digest(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", hex.get(..12).unwrap_or(hex))
}

fn summary(d: &Detail, theme: &Theme, now: Timestamp, w: usize) -> Vec<Line<'static>> {
    let Some(v) = &d.view else {
        return vec![Line::styled(
            format!(
                "{}/{}: not found in the latest snapshot",
                cell(&d.namespace, 40),
                cell(&d.deployment, 40)
            ),
            theme.warning(),
        )];
    };
    let state = v.rollout_state();
    let (sym, style) = theme.rollout(&state);
    let state_text = match &state {
        RolloutState::Complete => format!("{sym} complete"),
        RolloutState::WaitingForSpec => format!("{sym} waiting for the controller"),
        RolloutState::Progressing { message, .. } => format!("{sym} {}", cell(message, 60)),
        RolloutState::Failed { reason, .. } => format!("{sym} failed: {}", cell(reason, 40)),
        RolloutState::Paused => format!("{sym} paused"),
    };
    let image = v.primary_image().unwrap_or("");
    let first = Line::from(vec![
        Span::styled(
            format!("{}/{} ", cell(&v.namespace, 30), cell(&v.name, 30)),
            theme.title(),
        ),
        Span::styled(state_text, style),
        Span::raw(format!(
            "  rev {}  ready {}/{}  up-to-date {}  available {}",
            v.revision, v.ready, v.desired, v.updated, v.available
        )),
    ]);
    let cause = v.change_cause.as_deref().unwrap_or("<none>");
    let since = v.last_change().map(|t| age(now, t)).unwrap_or_default();
    let second = Line::from(vec![
        Span::styled("image ", theme.dim()),
        Span::raw(cell(image, w.saturating_sub(30).max(10) / 2 + 10)),
        Span::styled("  cause ", theme.dim()),
        Span::raw(cell(cause, 60)),
        Span::styled(format!("  changed {since}"), theme.dim()),
    ]);
    vec![first, second]
}

/// A section title with its loading/stale badge.
fn section_title<T>(name: &str, fresh: &Fresh<T>, theme: &Theme, now: Timestamp) -> Line<'static> {
    let mut spans = vec![Span::styled(name.to_string(), theme.header())];
    if let Some(err) = &fresh.error {
        let since = fresh
            .fetched_at
            .map(|t| format!(" {}", age(now, t)))
            .unwrap_or_default();
        spans.push(Span::styled(
            format!("  {} stale{since}: {}", theme::SYM_STALE, cell(err, 60)),
            theme.stale(),
        ));
    } else if fresh.is_loading() {
        spans.push(Span::styled(
            format!("  {} loading", theme::SYM_LOADING),
            theme.dim(),
        ));
    }
    Line::from(spans)
}

/// Draws a dim note when a loaded section has nothing; returns whether it did.
fn empty_note<T>(
    fresh: &Fresh<Vec<T>>,
    note: &str,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
) -> bool {
    if fresh.value.as_ref().is_some_and(Vec::is_empty) && area.height > 0 {
        frame.render_widget(
            Paragraph::new(Line::styled(note.to_string(), theme.dim())),
            area,
        );
        return true;
    }
    false
}

fn split_title(area: Rect) -> (Rect, Rect) {
    let t = Rect::new(area.x, area.y, area.width, area.height.min(1));
    let b = Rect::new(
        area.x,
        area.y.saturating_add(1),
        area.width,
        area.height.saturating_sub(1),
    );
    (t, b)
}

fn render_conditions(d: &Detail, theme: &Theme, now: Timestamp, frame: &mut Frame, area: Rect) {
    if area.height == 0 {
        return;
    }
    let (t, body) = split_title(area);
    frame.render_widget(
        Paragraph::new(Line::styled("CONDITIONS", theme.header())),
        t,
    );
    let Some(v) = &d.view else { return };
    let rows = v.conditions.iter().map(|c| {
        let style = if c.status == "True" {
            theme.ok()
        } else {
            theme.warning()
        };
        let when = c.last_transition.or(c.last_update);
        let cells = vec![
            Line::raw(cell(&c.type_, 16)),
            Line::styled(cell(&c.status, 8), style),
            Line::raw(cell(c.reason.as_deref().unwrap_or(""), 28)),
            Line::styled(when.map(|t| age(now, t)).unwrap_or_default(), theme.dim()),
            Line::raw(cell(c.message.as_deref().unwrap_or(""), 200)),
        ];
        (cells, theme.base())
    });
    let cols = [
        Col::Fixed(16),
        Col::Fixed(6),
        Col::Fixed(26),
        Col::Fixed(4),
        Col::Fill(1),
    ];
    let widths = table::widths(body.width, &cols, 1);
    table::render_rows(frame.buffer_mut(), body, &widths, 1, rows);
}

/// The history's key hint, from the keymap so it follows overrides: `↑↓ pick a revision · r roll
/// back to it`.
fn history_hint(keymap: &Keymap) -> Option<String> {
    let up = keymap.hint(Action::Up, Mode::Detail)?;
    let down = keymap.hint(Action::Down, Mode::Detail)?;
    let r = keymap.hint(Action::Rollback, Mode::Detail)?;
    Some(format!("{up}{down} pick a revision · {r} roll back to it"))
}

fn render_history(
    d: &Detail,
    theme: &Theme,
    now: Timestamp,
    frame: &mut Frame,
    area: Rect,
    focused: bool,
    hint: Option<String>,
) {
    if area.height == 0 {
        return;
    }
    let (t, body) = split_title(area);
    let mut title = section_title("HISTORY", &d.history, theme, now);
    let current = d.current_revision();
    // The legend and the keys only when there are revisions to pick from.
    let has_rows = d.history.value.as_ref().is_some_and(|h| !h.is_empty());
    if current.is_some() && has_rows {
        title.spans.push(Span::styled(
            format!("  {} current", theme::SYM_LIVE),
            theme.dim(),
        ));
    }
    if let Some(hint) = hint.filter(|_| has_rows) {
        title
            .spans
            .push(Span::styled(format!("  {hint}"), theme.dim()));
    }
    frame.render_widget(Paragraph::new(title), t);
    if empty_note(&d.history, "no ReplicaSets", theme, frame, body) {
        return;
    }
    let stale = d.history.error.is_some();
    // Pure scroll: the picked revision stays in view (the section shows a few rows).
    let offset = d
        .history_row()
        .map_or(0, |i| (i + 1).saturating_sub(body.height as usize));
    let rows = d.history.value.iter().flatten().skip(offset).map(|r| {
        let image = r.containers.first().map_or("", |c| c.image.as_str());
        let selected = d.history_cursor == Some(r.revision);
        let sel = if selected { theme::SYM_SELECTED } else { " " };
        let cur = if Some(r.revision) == current {
            theme::SYM_LIVE
        } else {
            " "
        };
        let mut style = if stale {
            theme.stale_data()
        } else {
            theme.base()
        };
        if selected {
            style = if focused {
                style.patch(theme.cursor())
            } else {
                style.patch(theme.selected_row())
            };
        }
        let cells = vec![
            Line::raw(format!("{sel}{cur}{}", r.revision)),
            Line::raw(cell(&crate::model::image_label(image), 16)),
            Line::raw(format!("{}/{}", r.ready, r.desired)),
            Line::styled(
                r.created.map(|t| age(now, t)).unwrap_or_default(),
                theme.dim(),
            ),
            Line::raw(cell(r.change_cause.as_deref().unwrap_or("<none>"), 200)),
        ];
        (cells, style)
    });
    let cols = [
        Col::Fixed(5),
        Col::Fixed(16),
        Col::Fixed(6),
        Col::Fixed(4),
        Col::Fill(1),
    ];
    let widths = table::widths(body.width, &cols, 1);
    table::render_rows(frame.buffer_mut(), body, &widths, 1, rows);
}

fn render_pods(
    d: &Detail,
    theme: &Theme,
    now: Timestamp,
    frame: &mut Frame,
    area: Rect,
    focused: bool,
) {
    if area.height == 0 {
        return;
    }
    let (t, body) = split_title(area);
    frame.render_widget(
        Paragraph::new(section_title("PODS", &d.pods, theme, now)),
        t,
    );
    let cols = [
        Col::Pct(34),
        Col::Fixed(17),
        Col::Fixed(5),
        Col::Fixed(4),
        Col::Pct(20),
        Col::Fill(1),
        Col::Fixed(4),
    ];
    let widths = table::widths(body.width, &cols, 1);
    let header: Vec<Line<'static>> = [" NAME", "PHASE", "READY", "RST", "LAST TERM", "NODE", "AGE"]
        .into_iter()
        .map(Line::raw)
        .collect();
    let head = Rect::new(body.x, body.y, body.width, body.height.min(1));
    table::render_rows(
        frame.buffer_mut(),
        head,
        &widths,
        1,
        [(header, theme.dim())],
    );
    let (_, list) = split_title(body);
    if empty_note(&d.pods, "no pods", theme, frame, list) {
        return;
    }
    let h = list.height as usize;
    // Pure scroll: the cursor stays in view (pod lists are short).
    let offset = (d.pod_cursor + 1).saturating_sub(h);
    let stale = d.pods.error.is_some();
    let rows = d
        .pods
        .value
        .iter()
        .flatten()
        .enumerate()
        .skip(offset)
        .map(|(i, p)| {
            let phase_style = match (p.phase.as_str(), &p.waiting_reason) {
                (_, Some(_)) | ("Failed", _) => theme.failed(),
                ("Running", None) if p.ready_containers == p.total_containers => theme.ok(),
                _ => theme.warning(),
            };
            let phase = match &p.waiting_reason {
                Some(w) => cell(w, 20),
                None => cell(&p.phase, 20),
            };
            let mut style = if stale {
                theme.stale_data()
            } else {
                theme.base()
            };
            // The cursor is on one row of the pane: in the history or here.
            let selected = d.history_cursor.is_none() && i == d.pod_cursor;
            if selected {
                style = if focused {
                    style.patch(theme.cursor())
                } else {
                    style.patch(theme.selected_row())
                };
            }
            let marker = if selected { theme::SYM_SELECTED } else { " " };
            let cells = vec![
                Line::raw(format!("{marker}{}", cell(&p.name, 60))),
                Line::styled(phase, phase_style),
                Line::raw(format!("{}/{}", p.ready_containers, p.total_containers)),
                Line::raw(p.restarts.to_string()),
                Line::raw(cell(p.last_termination.as_deref().unwrap_or(""), 30)),
                Line::raw(cell(p.node.as_deref().unwrap_or(""), 30)),
                Line::styled(
                    p.created.map(|t| age(now, t)).unwrap_or_default(),
                    theme.dim(),
                ),
            ];
            (cells, style)
        });
    table::render_rows(frame.buffer_mut(), list, &widths, 1, rows);
}

fn render_events(d: &Detail, theme: &Theme, now: Timestamp, frame: &mut Frame, area: Rect) {
    if area.height == 0 {
        return;
    }
    let (t, body) = split_title(area);
    frame.render_widget(
        Paragraph::new(section_title("EVENTS", &d.events, theme, now)),
        t,
    );
    if empty_note(&d.events, "no recent events", theme, frame, body) {
        return;
    }
    let rows = d.events.value.iter().flatten().map(|e| {
        let type_style: Style = if e.type_ == "Warning" {
            theme.warning()
        } else {
            theme.dim()
        };
        let count = if e.count > 1 {
            format!(" ×{}", e.count)
        } else {
            String::new()
        };
        let cells = vec![
            Line::styled(cell(&e.type_, 7), type_style),
            Line::raw(cell(&e.reason, 22)),
            Line::styled(
                e.last_seen.map(|t| age(now, t)).unwrap_or_default(),
                theme.dim(),
            ),
            Line::raw(cell(&e.involved_name, 40)),
            Line::raw(format!("{}{count}", cell(&e.message, 300))),
        ];
        (cells, theme.base())
    });
    let cols = [
        Col::Fixed(7),
        Col::Fixed(20),
        Col::Fixed(4),
        Col::Pct(25),
        Col::Fill(1),
    ];
    let widths = table::widths(body.width, &cols, 1);
    table::render_rows(frame.buffer_mut(), body, &widths, 1, rows);
}

#[cfg(test)]
mod tests {
    use crate::action::Action;
    use crate::app::{App, fixtures};
    use crate::msg::Msg;
    use crate::ui::theme::ColorMode;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;
    use ratatui::style::Modifier;

    fn draw(app: &App) -> Buffer {
        let mut term = Terminal::new(TestBackend::new(app.width, app.height)).unwrap();
        term.draw(|f| crate::ui::render(app, f)).unwrap();
        term.backend().buffer().clone()
    }

    fn lines(buf: &Buffer) -> Vec<String> {
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect()
    }

    #[test]
    fn history_shows_the_picked_revision_and_the_current_one() {
        let mut app = fixtures::detail_app(ColorMode::Full, 120, 40, false);
        app.update(Msg::Action(Action::Top));
        app.update(Msg::Action(Action::Down));
        let buf = draw(&app);
        let text = lines(&buf);
        let find = |needle: &str| {
            text.iter()
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{}", text.join("\n")))
        };
        let title = &text[find("HISTORY")];
        assert!(title.contains("● current"), "{title}");
        assert!(
            title.contains("↑↓ pick a revision · r roll back to it"),
            "{title}"
        );
        // The picked row carries the selection marker; the running one the current marker.
        let picked = find("▸ 2 ");
        assert!(text[picked].contains("a1f3c2"), "{}", text[picked]);
        let current = find(" ●3 ");
        assert!(text[current].contains("9e01bb"), "{}", text[current]);
        assert_eq!(current + 1, picked, "newest first");
        // One cursor in the pane: no pod row is marked while a revision is picked.
        let pods = find("PODS");
        assert!(
            text[pods..].iter().all(|l| !l.contains("▸ web-")),
            "{}",
            text[pods..].join("\n")
        );
        // The picked row is drawn as the cursor (reversed), the others are not.
        let x = text[picked]
            .find("▸")
            .map(|b| text[picked][..b].chars().count())
            .unwrap();
        let (x, y) = (x as u16 + 1, picked as u16);
        assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED));
        assert!(!buf[(x, y - 1)].modifier.contains(Modifier::REVERSED));

        // Back on the pods: the history shows no cursor, the first pod does.
        app.update(Msg::Action(Action::Bottom));
        app.update(Msg::Action(Action::Top));
        for _ in 0..3 {
            app.update(Msg::Action(Action::Down));
        }
        let text = lines(&draw(&app));
        assert!(text.iter().all(|l| !l.contains("▸ 2 ")));
        assert!(
            text.iter().any(|l| l.contains("▸web-5d8f7-aaaaa")),
            "{}",
            text.join("\n")
        );
    }
}
