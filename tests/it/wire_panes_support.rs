//! Fixtures of the overview-pane tests: the estate with every source configured, poller
//! snapshots (metrics, alerts, CI runs, registry tags) and screen helpers.
use jiff::SignedDuration;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use shipdeck::action::Action;
use shipdeck::app::App;
use shipdeck::app::fixtures::{self, ago, t0};
use shipdeck::backend::alertmanager::AlertmanagerConfig;
use shipdeck::backend::ci::{CiConfig, ProviderKind};
use shipdeck::backend::kube::KubeEvent;
use shipdeck::backend::monitor::MonitorEvent;
use shipdeck::backend::pipelines::{PipelineEvent, RegistryEvent, TagState};
use shipdeck::backend::prometheus::PrometheusConfig;
use shipdeck::backend::registry::RegistryConfig;
use shipdeck::keymap::Keymap;
use shipdeck::model::alerts::{
    Alert, AlertState, AlertStatus, AlertsSnapshot, Receiver, Silence, SilenceMatcher,
    SilenceState, SilenceStatus,
};
use shipdeck::model::metrics::{MetricSeries, MetricsSnapshot, Unit};
use shipdeck::model::pipeline::{Commit, Pipeline, Stage, StageStatus};
use shipdeck::msg::{Command, Msg};
use shipdeck::ui::theme::{ColorMode, Theme};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const REG: &str = "registry.local:5000/shop";

/// The fixture estate with every overview source configured (addresses never dialled).
pub(crate) fn config() -> shipdeck::config::Config {
    let mut c = fixtures::config();
    c.prometheus = Some(PrometheusConfig::new("http://127.0.0.1:9"));
    c.alertmanager = Some(AlertmanagerConfig::new("http://127.0.0.1:9"));
    c.ci = Some(CiConfig::new(ProviderKind::Github, "http://127.0.0.1:9"));
    c.registry = Some(RegistryConfig::new("http://127.0.0.1:9"));
    c
}

/// The fixture estate, with web in production running a pinned tag (tag and digest).
pub(crate) fn estate() -> Vec<Msg> {
    fixtures::estate()
        .into_iter()
        .map(|m| match m {
            Msg::Kube(KubeEvent::Deployments { env, items }) if env == "production" => {
                let mut v: Vec<_> = items.to_vec();
                Arc::make_mut(&mut v[0]).containers[0].image =
                    format!("{REG}/web:9e01bb@sha256:aaaa");
                Msg::Kube(KubeEvent::Deployments {
                    env,
                    items: Arc::from(v),
                })
            }
            m => m,
        })
        .collect()
}

/// An app with the estate loaded; returns it and every Command the loading produced.
pub(crate) fn app(mode: ColorMode, w: u16, h: u16) -> (App, Vec<Command>) {
    let mut app = App::new(config(), Keymap::default(), fixtures::clock(), false);
    app.theme = Theme::new(mode);
    let mut cmds = app.update(Msg::Resize {
        width: w,
        height: h,
    });
    for m in estate() {
        cmds.extend(app.update(m));
    }
    (app, cmds)
}

pub(crate) fn act(app: &mut App, a: Action) -> Vec<Command> {
    app.update(Msg::Action(a))
}

pub(crate) fn series(label: &str, unit: Unit, f: impl Fn(usize) -> f64) -> MetricSeries {
    let end = t0().as_second() as f64;
    MetricSeries {
        key: label.into(),
        label: label.into(),
        unit,
        points: (0..120)
            .map(|i| (end - 1800.0 + i as f64 * 15.0 + 15.0, f(i)))
            .collect(),
        error: None,
    }
}

pub(crate) fn metrics(app: &str, env: &str, generation: u64) -> Arc<MetricsSnapshot> {
    Arc::new(MetricsSnapshot {
        app: app.into(),
        env: env.into(),
        namespace: format!("shop-{env}"),
        generation,
        window_secs: 1800,
        step_secs: 15.0,
        end: t0().as_second() as f64,
        series: vec![
            series("req/s", Unit::ReqPerSec, |i| 100.0 + i as f64 * 2.6),
            series(
                "5xx %",
                Unit::Percent,
                |i| if i < 100 { 0.001 } else { 0.041 },
            ),
            series("p99 ms", Unit::Millis, |i| 0.2 + i as f64 * 0.005),
        ],
    })
}

pub(crate) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) fn alert(
    name: &str,
    sev: &str,
    app: &str,
    ns: &str,
    started: i64,
    summary: &str,
) -> Alert {
    Alert {
        fingerprint: format!("{name}{app}{ns}"),
        labels: labels(&[
            ("alertname", name),
            ("severity", sev),
            ("app", app),
            ("namespace", ns),
        ]),
        annotations: labels(&[("summary", summary)]),
        starts_at: ago(started),
        ends_at: t0() + SignedDuration::from_mins(4),
        updated_at: t0(),
        status: AlertStatus {
            state: AlertState::Active,
            silenced_by: vec![],
            inhibited_by: vec![],
        },
        receivers: vec![Receiver {
            name: "default".into(),
        }],
        generator_url: String::new(),
    }
}

/// HighErrorRate critical for api in staging (shop-green) and a silenced warning for web.
pub(crate) fn alerts() -> Arc<AlertsSnapshot> {
    let mut silenced = alert(
        "PodCrashLooping",
        "warning",
        "api",
        "shop-develop",
        600,
        "api-5c9 is crash looping",
    );
    silenced.status.state = AlertState::Suppressed;
    silenced.status.silenced_by = vec!["5f1c2a9e-0000-4000-8000-000000000001".into()];
    Arc::new(AlertsSnapshot::new(
        vec![
            alert(
                "HighErrorRate",
                "critical",
                "api",
                "shop-green",
                180,
                "api in shop-green: 12.3% of requests fail",
            ),
            silenced,
        ],
        vec![Silence {
            id: "5f1c2a9e-0000-4000-8000-000000000001".into(),
            status: SilenceStatus {
                state: SilenceState::Active,
            },
            updated_at: ago(60),
            matchers: vec![SilenceMatcher::equal("app", "api")],
            starts_at: ago(60),
            ends_at: t0() + SignedDuration::from_mins(59),
            created_by: "alice".into(),
            comment: "fixing".into(),
        }],
    ))
}

pub(crate) fn stage(name: &str, status: StageStatus, secs: u64) -> Stage {
    Stage {
        name: name.into(),
        status,
        started: Some(ago(600)),
        duration: Some(Duration::from_secs(secs)),
    }
}

pub(crate) fn run(
    app: &str,
    branch: &str,
    id: &str,
    status: StageStatus,
    stages: Vec<Stage>,
) -> Pipeline {
    Pipeline {
        app: app.into(),
        branch: branch.into(),
        run_id: id.into(),
        number: id.parse().ok(),
        status,
        stages,
        commit: Commit {
            sha: "77d0e1f00ba4".into(),
            author: "dana".into(),
            message: "api: retry the payment call".into(),
        },
        started: Some(ago(600)),
        url: None,
    }
}

/// api: develop failed in test, staging green, master waiting for approval.
pub(crate) fn api_runs() -> Msg {
    use StageStatus::*;
    Msg::Pipelines(PipelineEvent::Runs {
        app: "api".into(),
        pipelines: Arc::from(vec![
            run(
                "api",
                "develop",
                "41",
                Failed,
                vec![stage("test", Failed, 42)],
            ),
            run(
                "api",
                "staging",
                "40",
                Success,
                vec![
                    stage("test", Success, 40),
                    stage("build", Success, 80),
                    stage("push", Success, 9),
                ],
            ),
            run(
                "api",
                "master",
                "39",
                WaitingApproval,
                vec![
                    stage("test", Success, 40),
                    stage("build", Success, 80),
                    stage("approve", WaitingApproval, 0),
                ],
            ),
        ]),
    })
}

/// Every overview source answers; the metrics are for the current selection.
pub(crate) fn live_overview(app: &mut App) {
    app.update(Msg::MetricsSelected { generation: 1 });
    app.update(Msg::Monitor(MonitorEvent::Metrics {
        snapshot: metrics("api", "develop", 1),
        at: ago(5),
    }));
    app.update(Msg::Monitor(MonitorEvent::Alerts {
        snapshot: alerts(),
        at: ago(5),
    }));
    app.update(api_runs());
    app.update(Msg::Registry(RegistryEvent::Tags(Arc::new(
        [(
            ("shop/web".to_string(), "9e01bb".to_string()),
            TagState::Digest("sha256:bbbb".into()),
        )]
        .into_iter()
        .collect(),
    ))));
}

pub(crate) fn draw(app: &App) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(app.width, app.height)).unwrap();
    term.draw(|f| shipdeck::ui::render(app, f)).unwrap();
    term.backend().buffer().clone()
}

pub(crate) fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        let mut skip = 0;
        for x in 0..buf.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            skip = unicode_width::UnicodeWidthStr::width(sym).saturating_sub(1);
            line.push_str(sym);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(crate) fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{screen}"))
}
