//! Fixture builders for tests and benchmarks: a three-environment estate with a fixed clock, and
//! the snapshots the Kubernetes backend would send (healthy, failing, hostile strings).
use crate::app::App;
use crate::backend::kube::KubeEvent;
use crate::clock::Clock;
use crate::config::Config;
use crate::keymap::Keymap;
use crate::model::{
    ConditionView, ContainerImage, DeploymentView, EventView, PodView, ReplicaSetView,
};
use crate::msg::Msg;
use crate::ui::theme::{ColorMode, Theme};
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The fixed "now" of every fixture.
pub fn t0() -> Timestamp {
    Timestamp::from_second(1_795_780_800).unwrap_or(Timestamp::UNIX_EPOCH) // 2026-11-27T12:00:00Z
}

/// `t0` minus `secs`.
pub fn ago(secs: i64) -> Timestamp {
    t0().checked_sub(SignedDuration::from_secs(secs))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

pub fn clock() -> Clock {
    Clock::fixed(t0())
}

/// develop (shop-develop) → staging (shop-green) → production (shop-blue, protected).
pub fn config() -> Config {
    let text = r#"
        estate = "shop"
        [[environments]]
        name = "develop"
        namespace = "shop-develop"
        branch = "develop"
        [[environments]]
        name = "staging"
        namespace = "shop-green"
        color = "green"
        branch = "staging"
        promote_from = "develop"
        [[environments]]
        name = "production"
        namespace = "shop-blue"
        color = "blue"
        branch = "master"
        protected = true
        promote_from = "staging"
    "#;
    Config::parse(text, std::path::Path::new("fixtures.toml")).unwrap_or_default()
}

/// An app with the fixture config, fixed clock and the given colours, sized `width × height`.
pub fn app(mode: ColorMode, width: u16, height: u16) -> App {
    app_with(config(), mode, width, height)
}

/// `app` with another configuration (sources added to the fixture's, say).
pub fn app_with(config: Config, mode: ColorMode, width: u16, height: u16) -> App {
    let mut app = App::new(config, Keymap::default(), clock(), false);
    app.theme = Theme::new(mode);
    app.update(Msg::Resize { width, height });
    app
}

fn condition(type_: &str, status: &str, reason: &str, message: &str, at: i64) -> ConditionView {
    ConditionView {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_update: Some(ago(at)),
        last_transition: Some(ago(at)),
    }
}

/// A complete Deployment `name` in `ns` running `image`, last changed `changed` seconds ago.
pub fn deployment(ns: &str, name: &str, image: &str, changed: i64) -> DeploymentView {
    DeploymentView {
        namespace: ns.into(),
        name: name.into(),
        uid: format!("uid-{ns}-{name}"),
        resource_version: "100".into(),
        generation: 3,
        observed_generation: 3,
        revision: 3,
        change_cause: Some(format!("promote {name} to {image}")),
        desired: 3,
        paused: false,
        progress_deadline_seconds: Some(600),
        replicas: 3,
        updated: 3,
        ready: 3,
        available: 3,
        unavailable: 0,
        conditions: vec![
            condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                changed,
            ),
            condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{name}-5d8f7\" has successfully progressed."),
                changed,
            ),
        ],
        containers: vec![ContainerImage {
            name: name.into(),
            image: image.into(),
        }],
        selector: BTreeMap::from([("app".to_string(), name.to_string())]),
        created: Some(ago(30 * 86_400)),
    }
}

/// Rolling: 2 of 4 updated and ready.
pub fn progressing(mut d: DeploymentView) -> DeploymentView {
    d.desired = 4;
    d.replicas = 5;
    d.updated = 2;
    d.ready = 2;
    d.available = 2;
    d
}

/// Stuck: ProgressDeadlineExceeded.
pub fn failed(mut d: DeploymentView) -> DeploymentView {
    d.updated = 1;
    d.ready = 2;
    d.available = 2;
    if let Some(c) = d.conditions.iter_mut().find(|c| c.type_ == "Progressing") {
        c.status = "False".into();
        c.reason = Some("ProgressDeadlineExceeded".into());
        c.message = Some(format!(
            "ReplicaSet \"{}-7c9\" has timed out progressing.",
            d.name
        ));
    }
    d
}

pub fn paused(mut d: DeploymentView) -> DeploymentView {
    d.paused = true;
    d
}

const REG: &str = "registry.local:5000/shop";

/// The board of PRODUCT.md §3: web rolling in production, api failed in develop, worker paused.
pub fn estate() -> Vec<Msg> {
    let deps = |env: &str, items: Vec<DeploymentView>| {
        Msg::Kube(KubeEvent::Deployments {
            env: env.into(),
            items: crate::model::shared(items),
        })
    };
    vec![
        deps(
            "develop",
            vec![
                deployment("shop-develop", "web", &format!("{REG}/web:a1f3c2"), 120),
                failed(deployment(
                    "shop-develop",
                    "api",
                    &format!("{REG}/api:77d0e1"),
                    700,
                )),
                deployment(
                    "shop-develop",
                    "worker",
                    &format!("{REG}/worker:5b2e90"),
                    3 * 86_400,
                ),
            ],
        ),
        deps(
            "staging",
            vec![
                deployment("shop-green", "web", &format!("{REG}/web:a1f3c2"), 3_600),
                deployment(
                    "shop-green",
                    "api",
                    &format!("{REG}/api:77d0e1"),
                    3 * 86_400,
                ),
                paused(deployment(
                    "shop-green",
                    "worker",
                    &format!("{REG}/worker@sha256:0123456789abcdef0123"),
                    7_200,
                )),
            ],
        ),
        deps(
            "production",
            vec![
                progressing(deployment(
                    "shop-blue",
                    "web",
                    &format!("{REG}/web:9e01bb"),
                    41,
                )),
                deployment("shop-blue", "api", &format!("{REG}/api:77d0e1"), 3 * 86_400),
            ],
        ),
        Msg::Kube(KubeEvent::Live {
            env: "develop".into(),
            kind: "deployments",
        }),
    ]
}

/// An app with the estate loaded and every source live.
pub fn live_app(mode: ColorMode, width: u16, height: u16) -> App {
    let mut app = app(mode, width, height);
    for msg in estate() {
        app.update(msg);
    }
    app
}

/// History, pods and events of `web` in production (the rolling one).
pub fn detail_msgs(hostile: bool) -> Vec<Msg> {
    let rs = |rev: i64, hash: &str, tag: &str, ready: i32, cause: &str| ReplicaSetView {
        namespace: "shop-blue".into(),
        name: format!("web-{hash}"),
        uid: format!("rs-{hash}"),
        owner_uid: Some("uid-shop-blue-web".into()),
        revision: rev,
        change_cause: Some(cause.into()),
        template_hash: Some(hash.into()),
        containers: vec![ContainerImage {
            name: "web".into(),
            image: format!("{REG}/web:{tag}"),
        }],
        desired: ready,
        replicas: ready,
        ready,
        available: ready,
        created: Some(ago(rev * 86_400 / 3)),
    };
    let pod =
        |name: String, phase: &str, ready: i32, restarts: i32, waiting: Option<&str>| PodView {
            namespace: "shop-blue".into(),
            name,
            owner: None,
            labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
            phase: phase.into(),
            ready_containers: ready,
            total_containers: 1,
            restarts,
            waiting_reason: waiting.map(str::to_string),
            last_termination: (restarts > 0).then(|| "Error (exit 1)".to_string()),
            node: Some("node-a".into()),
            containers: vec![],
            created: Some(ago(300 + restarts as i64)),
        };
    let event = |type_: &str, reason: &str, obj: &str, msg: &str, at: i64| EventView {
        namespace: "shop-blue".into(),
        type_: type_.into(),
        reason: reason.into(),
        message: msg.into(),
        count: 1,
        involved_kind: if obj.matches('-').count() >= 2 {
            "Pod".into()
        } else {
            "ReplicaSet".into()
        },
        involved_name: obj.into(),
        last_seen: Some(ago(at)),
    };
    let long_image = format!("{REG}/{}:v1", "x".repeat(300));
    let mut history = vec![
        rs(3, "5d8f7", "9e01bb", 2, "promote web to 9e01bb"),
        rs(2, "7c9aa", "a1f3c2", 3, "rollback"),
        rs(1, "4b1cc", "8800aa", 0, "initial"),
    ];
    let mut pods = vec![
        pod("web-5d8f7-aaaaa".into(), "Running", 1, 0, None),
        pod(
            "web-5d8f7-bbbbb".into(),
            "Running",
            0,
            4,
            Some("CrashLoopBackOff"),
        ),
        pod("web-7c9aa-ccccc".into(), "Running", 1, 0, None),
    ];
    let mut events = vec![
        event(
            "Normal",
            "Scheduled",
            "web-5d8f7-aaaaa",
            "Successfully assigned",
            280,
        ),
        event(
            "Warning",
            "BackOff",
            "web-5d8f7-bbbbb",
            "Back-off restarting failed container",
            30,
        ),
        event(
            "Normal",
            "ScalingReplicaSet",
            "web-5d8f7",
            "Scaled up replica set web-5d8f7 to 2",
            60,
        ),
        event("Normal", "Pulled", "other-app-xyz-1", "not ours", 10),
    ];
    if hostile {
        history[1].containers[0].image = long_image;
        history[1].change_cause = Some("日本語の変更理由 \u{1b}]0;pwned\u{7}".into());
        pods.push(pod(
            "web-5d8f7-\u{1b}[2J\u{1b}]0;pwned\u{7}evil".into(),
            "Pending",
            0,
            0,
            None,
        ));
        events[0].message = "line\u{1b}[31m red \u{1b}[0m 日本語テキスト\r\nnext".into();
    }
    vec![
        Msg::Kube(KubeEvent::ReplicaSets {
            env: "production".into(),
            items: Arc::from(history),
        }),
        Msg::Kube(KubeEvent::Pods {
            env: "production".into(),
            items: Arc::from(pods),
        }),
        Msg::Kube(KubeEvent::Events {
            env: "production".into(),
            items: Arc::from(events),
        }),
    ]
}

/// The live app with the detail of web @ production open and loaded.
pub fn detail_app(mode: ColorMode, width: u16, height: u16, hostile: bool) -> App {
    let mut app = live_app(mode, width, height);
    if hostile {
        add_hostile_app(&mut app);
    }
    use crate::action::Action;
    // web is the last row when sorted (api, web, worker): select it, then production.
    app.update(Msg::Action(Action::Top));
    let web = app
        .releases
        .visible
        .iter()
        .position(|&i| app.releases.board.rows[i].app == "web")
        .unwrap_or(0);
    for _ in 0..web {
        app.update(Msg::Action(Action::Down));
    }
    app.update(Msg::Action(Action::Right));
    app.update(Msg::Action(Action::Right));
    app.update(Msg::Action(Action::Open));
    for msg in detail_msgs(hostile) {
        app.update(msg);
    }
    app
}

/// Adds a wide-Unicode app with a 300-character image and an escape-laden name to develop.
pub fn add_hostile_app(app: &mut App) {
    let mut items: Vec<DeploymentView> = app
        .deployments
        .get("develop")
        .and_then(|f| f.value.as_ref())
        .map(|v| v.iter().map(|d| DeploymentView::clone(d)).collect())
        .unwrap_or_default();
    items.push(deployment(
        "shop-develop",
        "日本語-アプリ",
        &format!("{REG}/{}:{}", "y".repeat(150), "z".repeat(150)),
        90,
    ));
    items.push(deployment(
        "shop-develop",
        "evil\u{1b}[2J\u{1b}]0;pwned\u{7}",
        &format!("{REG}/evil:\u{1b}[31mred"),
        90,
    ));
    app.update(Msg::Kube(KubeEvent::Deployments {
        env: "develop".into(),
        items: crate::model::shared(items),
    }));
}
