//! Snapshots of the Pipelines pane and the run detail (running, waiting for approval, failed with
//! log tail, provider unreachable → stale), plus chosen cells' styles (snapshots hold text only).
#![allow(clippy::unwrap_used)] // tests may unwrap
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use shipdeck::model::pipeline::*;
use shipdeck::ui::pipelines::{DetailData, PaneData, render_detail, render_pane};
use std::time::Duration;

fn t(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

const NOW: &str = "2026-11-27T10:05:00Z";

fn stage(name: &str, status: StageStatus, started: Option<&str>, secs: Option<u64>) -> Stage {
    Stage {
        name: name.into(),
        status,
        started: started.map(t),
        duration: secs.map(Duration::from_secs),
    }
}

fn pipeline(branch: &str, status: StageStatus, stages: Vec<Stage>, msg: &str) -> Pipeline {
    Pipeline {
        app: "web".into(),
        branch: branch.into(),
        run_id: "30433642".into(),
        number: Some(562),
        status,
        stages,
        commit: Commit {
            sha: "a1f3c2d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3".into(),
            author: "Ana Lima".into(),
            message: msg.into(),
        },
        started: Some(t("2026-11-27T10:02:00Z")),
        url: None,
    }
}

fn estate() -> Vec<Pipeline> {
    use StageStatus::*;
    vec![
        pipeline(
            "develop",
            Running,
            vec![
                stage("test", Success, Some("2026-11-27T10:02:00Z"), Some(20)),
                stage("build", Running, Some("2026-11-27T10:02:20Z"), None),
                stage("push", Queued, None, None),
                stage("deploy develop", Queued, None, None),
            ],
            "fix: rounding in cart totals\n\nbody",
        ),
        pipeline(
            "staging",
            Failed,
            vec![
                stage("test", Failed, Some("2026-11-27T10:02:00Z"), Some(31)),
                stage("build", Skipped, None, None),
                stage("push", Skipped, None, None),
                stage("deploy staging", Skipped, None, None),
            ],
            // A hostile message: escapes and controls must not reach the terminal.
            "feat: \u{1b}]0;pwned\u{7}export\u{1b}[2J orders",
        ),
        pipeline(
            "master",
            WaitingApproval,
            vec![
                stage("test", Success, Some("2026-11-27T10:02:00Z"), Some(20)),
                stage("build", Success, Some("2026-11-27T10:02:20Z"), Some(40)),
                stage("push", Success, Some("2026-11-27T10:03:00Z"), Some(10)),
                stage(
                    "deploy production",
                    WaitingApproval,
                    Some("2026-11-27T10:03:10Z"),
                    None,
                ),
            ],
            "perf: cache product lookups",
        ),
    ]
}

fn branches() -> Vec<String> {
    ["develop", "staging", "master"].map(String::from).to_vec()
}

/// The buffer as text, one line per row, wide characters counted once.
fn text(buf: &Buffer) -> String {
    let w = usize::from(buf.area.width);
    let mut out = String::new();
    for row in buf.content.chunks(w) {
        let mut line = String::new();
        let mut skip = 0;
        for c in row {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            line.push_str(c.symbol());
            skip = unicode_width::UnicodeWidthStr::width(c.symbol()).saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn pane(d: &PaneData<'_>, w: u16, h: u16, colors: bool) -> Buffer {
    let area = Rect::new(0, 0, w, h);
    let mut buf = Buffer::empty(area);
    render_pane(d, area, &mut buf, colors);
    buf
}

fn data<'a>(
    pipes: Option<&'a [Pipeline]>,
    branches: &'a [String],
    error: Option<&'a str>,
) -> PaneData<'a> {
    PaneData {
        app: "web",
        branches,
        pipelines: pipes,
        fetched_at: Some(t("2026-11-27T10:03:00Z")),
        error,
        disabled: false,
        selected: Some(2),
        now: t(NOW),
    }
}

#[test]
fn pane_running_failed_waiting_120() {
    let p = estate();
    let b = branches();
    insta::assert_snapshot!(text(&pane(&data(Some(&p), &b, None), 120, 6, true)));
}

#[test]
fn pane_one_line_per_branch_80x3() {
    let p = estate();
    let b = branches();
    insta::assert_snapshot!(text(&pane(&data(Some(&p), &b, None), 80, 3, false)));
}

#[test]
fn pane_stale_keeps_data_with_age_and_error() {
    let p = estate();
    let b = branches();
    let d = data(Some(&p), &b, Some("timed out"));
    insta::assert_snapshot!(text(&pane(&d, 80, 7, true)));
}

#[test]
fn pane_unreachable_without_data_and_not_configured() {
    let b = branches();
    let d = data(None, &b, Some("HTTP error: unreachable"));
    let mut s = text(&pane(&d, 60, 2, true));
    let mut off = data(None, &b, None);
    off.disabled = true;
    s.push_str(&text(&pane(&off, 60, 1, true)));
    let loading = data(None, &b, None);
    s.push_str(&text(&pane(&loading, 60, 1, true)));
    insta::assert_snapshot!(s);
}

#[test]
fn waiting_gate_stands_out_with_and_without_colours() {
    let p = estate();
    let b = branches();
    let find = |buf: &Buffer, needle: &str| {
        let txt = text(buf);
        let (row, line) = txt
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(needle))
            .unwrap();
        let col = unicode_width::UnicodeWidthStr::width(&line[..line.find(needle).unwrap()]);
        buf[(col as u16, row as u16)].clone()
    };
    let coloured = pane(&data(Some(&p), &b, None), 120, 6, true);
    let gate = find(&coloured, "deploy production");
    assert_eq!(gate.bg, Color::Yellow);
    assert!(gate.modifier.contains(Modifier::BOLD));
    let failed = find(&coloured, "test 31s");
    assert_eq!(failed.fg, Color::Red);
    let plain = pane(&data(Some(&p), &b, None), 120, 6, false);
    let gate = find(&plain, "deploy production");
    assert!(gate.modifier.contains(Modifier::REVERSED));
    assert_eq!(gate.fg, Color::Reset);
    assert_eq!(find(&plain, "test 31s").fg, Color::Reset);
    // Nothing of the hostile commit message's escapes survives.
    assert!(!text(&coloured).contains('\u{1b}'));
    assert!(text(&coloured).contains("feat: export orders"));
}

fn job(
    id: &str,
    name: &str,
    status: StageStatus,
    started: Option<&str>,
    secs: Option<u64>,
    steps: Vec<Step>,
) -> Job {
    Job {
        id: id.into(),
        name: name.into(),
        status,
        started: started.map(t),
        duration: secs.map(Duration::from_secs),
        steps,
    }
}

fn step(name: &str, status: StageStatus, secs: Option<u64>) -> Step {
    Step {
        name: name.into(),
        status,
        started: Some(t("2026-11-27T10:02:00Z")),
        duration: secs.map(Duration::from_secs),
    }
}

fn detail_buf(detail: Option<&RunDetail>, error: Option<&str>, w: u16, h: u16) -> String {
    let area = Rect::new(0, 0, w, h);
    let mut buf = Buffer::empty(area);
    let d = DetailData {
        detail,
        fetched_at: Some(t("2026-11-27T10:04:00Z")),
        error,
        now: t(NOW),
        scroll: 0,
    };
    render_detail(&d, area, &mut buf, true);
    text(&buf)
}

#[test]
fn detail_running() {
    use StageStatus::*;
    let d = RunDetail {
        pipeline: estate().remove(0),
        jobs: vec![
            job(
                "1",
                "test",
                Success,
                Some("2026-11-27T10:02:00Z"),
                Some(20),
                vec![
                    step("Set up job", Success, Some(1)),
                    step("Run cargo test", Success, Some(18)),
                    step("Complete job", Success, Some(1)),
                ],
            ),
            job(
                "2",
                "build",
                Running,
                Some("2026-11-27T10:02:20Z"),
                None,
                vec![
                    step("Set up job", Success, Some(1)),
                    step("Build image", Running, None),
                ],
            ),
            job("3", "deploy develop", Queued, None, None, vec![]),
        ],
        approvals: vec![],
        log_tail: None,
    };
    insta::assert_snapshot!(detail_buf(Some(&d), None, 80, 10));
}

#[test]
fn detail_waiting_for_approval() {
    use StageStatus::*;
    let p = estate().remove(2);
    let d = RunDetail {
        approvals: vec![Approval {
            run: p.run_ref(),
            id: "7".into(),
            name: "production".into(),
            message: "deploy to production waits for review".into(),
        }],
        pipeline: p,
        jobs: vec![
            job(
                "1",
                "test",
                Success,
                Some("2026-11-27T10:02:00Z"),
                Some(20),
                vec![],
            ),
            job(
                "2",
                "build",
                Success,
                Some("2026-11-27T10:02:20Z"),
                Some(40),
                vec![],
            ),
            job(
                "3",
                "push",
                Success,
                Some("2026-11-27T10:03:00Z"),
                Some(10),
                vec![],
            ),
            job(
                "4",
                "deploy production",
                WaitingApproval,
                None,
                None,
                vec![],
            ),
        ],
        log_tail: None,
    };
    insta::assert_snapshot!(detail_buf(Some(&d), None, 80, 9));
}

#[test]
fn detail_failed_with_log_tail() {
    use StageStatus::*;
    let d = RunDetail {
        pipeline: estate().remove(1),
        jobs: vec![
            job(
                "1",
                "test",
                Failed,
                Some("2026-11-27T10:02:00Z"),
                Some(31),
                vec![
                    step("Set up job", Success, Some(1)),
                    step("Run cargo test", Failed, Some(29)),
                    step("Complete job", Success, Some(1)),
                ],
            ),
            job("2", "build", Skipped, None, None, vec![]),
        ],
        approvals: vec![],
        log_tail: Some(LogTail {
            job: "test".into(),
            step: Some("Run cargo test".into()),
            lines: vec![
                "running 42 tests".into(),
                "test checkout::total_includes_tax ... FAILED".into(),
                "\u{1b}[31merror: test failed\u{1b}[0m, to rerun pass `--lib`".into(),
                "##[error]Process completed with exit code 101.".into(),
            ],
        }),
    };
    let s = detail_buf(Some(&d), None, 80, 14);
    assert!(!s.contains('\u{1b}'));
    insta::assert_snapshot!(s);
}

#[test]
fn detail_stale_and_unreachable() {
    let d = RunDetail {
        pipeline: estate().remove(0),
        jobs: vec![],
        approvals: vec![],
        log_tail: None,
    };
    let mut s = detail_buf(Some(&d), Some("not found: Not Found"), 60, 4);
    s.push_str(&detail_buf(None, Some("timed out"), 60, 2));
    insta::assert_snapshot!(s);
}
