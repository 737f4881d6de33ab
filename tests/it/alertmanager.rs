//! Alertmanager client contract: the same assertions against the simulated Alertmanager (alerts from
//! the world's traffic) and the real Alertmanager 0.25 fed by a real Prometheus rule.
use crate::support_real_servers::{eventually, start_stack};
use crate::support_traffic::FakeTraffic;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use jiff::{SignedDuration, Timestamp};
use shipdeck::backend::alertmanager::{AlertQuery, AlertmanagerClient, AmError};
use shipdeck::backend::monitor::{MonitorEvent, spawn_alerts_poller_with};
use shipdeck::clock::Clock;
use shipdeck::demo::alertmanager::rules::AlertRules;
use shipdeck::demo::alertmanager::{AmSimOptions, start_alertmanager_with};
use shipdeck::model::alerts::{Alert, AlertState, NewSilence, SilenceMatcher, SilenceState};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn web_query() -> AlertQuery {
    AlertQuery {
        filter: vec![r#"alertname="HighErrorRate""#.into(), r#"app="web""#.into()],
        ..Default::default()
    }
}

fn silence(start: Timestamp, end: Timestamp) -> NewSilence {
    NewSilence {
        id: None,
        matchers: vec![
            SilenceMatcher::equal("alertname", "HighErrorRate"),
            SilenceMatcher::equal("app", "web"),
        ],
        starts_at: start,
        ends_at: end,
        created_by: "shipdeck-test".into(),
        comment: "contract test".into(),
    }
}

async fn web_alert(client: &AlertmanagerClient, q: &AlertQuery) -> Option<Alert> {
    client.alerts(q).await.unwrap().into_iter().next()
}

/// The assertions every Alertmanager must pass, simulated or real.
async fn contract(client: &AlertmanagerClient, logs: &(dyn Fn() -> String + Sync)) {
    let status = client.status().await.unwrap();
    assert!(!status.version_info.version.is_empty());

    let q = web_query();
    let alert = eventually(
        Duration::from_secs(30),
        "HighErrorRate for web",
        logs,
        || async {
            web_alert(client, &q)
                .await
                .filter(|a| a.status.state == AlertState::Active)
        },
    )
    .await;
    assert_eq!(alert.label("namespace"), "shop-green");
    assert_eq!(alert.severity(), "warning");
    assert!(alert.summary().contains("web"), "{:?}", alert.annotations);
    assert_eq!(alert.fingerprint.len(), 16);
    assert!(
        alert.generator_url.starts_with("http://"),
        "{}",
        alert.generator_url
    );
    assert!(alert.receivers.iter().any(|r| r.name == "default"));
    assert!(alert.starts_at <= Timestamp::now());

    let none = AlertQuery {
        filter: vec![r#"alertname="NoSuchAlert""#.into()],
        ..Default::default()
    };
    assert!(client.alerts(&none).await.unwrap().is_empty());
    let groups = client.groups(&q).await.unwrap();
    assert!(
        groups
            .iter()
            .any(|g| g.alerts.iter().any(|a| a.fingerprint == alert.fingerprint))
    );

    // A silence suppresses it.
    let now = Timestamp::now();
    let id = client
        .create_silence(&silence(now, now + SignedDuration::from_hours(1)))
        .await
        .unwrap();
    assert!(!id.is_empty());
    let suppressed = eventually(
        Duration::from_secs(10),
        "the alert suppressed",
        logs,
        || async {
            web_alert(client, &q)
                .await
                .filter(|a| a.status.state == AlertState::Suppressed)
        },
    )
    .await;
    assert_eq!(suppressed.status.silenced_by, std::slice::from_ref(&id));
    let not_silenced = AlertQuery {
        silenced: Some(false),
        ..web_query()
    };
    assert!(client.alerts(&not_silenced).await.unwrap().is_empty());
    let only_suppressed = AlertQuery {
        active: Some(false),
        ..web_query()
    };
    assert_eq!(client.alerts(&only_suppressed).await.unwrap().len(), 1);
    let listed = client.silences(&[]).await.unwrap();
    let s = listed.iter().find(|s| s.id == id).expect("silence listed");
    assert_eq!(s.status.state, SilenceState::Active);
    assert_eq!(s.created_by, "shipdeck-test");
    let filtered = client.silences(&[r#"app="web""#.into()]).await.unwrap();
    assert!(filtered.iter().any(|s| s.id == id));

    // Expiring it brings the alert back.
    client.expire_silence(&id).await.unwrap();
    assert_eq!(
        client.silence(&id).await.unwrap().status.state,
        SilenceState::Expired
    );
    eventually(
        Duration::from_secs(10),
        "the alert active again",
        logs,
        || async {
            web_alert(client, &q)
                .await
                .filter(|a| a.status.state == AlertState::Active)
        },
    )
    .await;

    // Refusals are typed errors with Alertmanager's message.
    match client
        .create_silence(&silence(now, now - SignedDuration::from_mins(1)))
        .await
    {
        Err(AmError::Api { status, message }) => {
            assert_eq!(status, 400);
            assert!(
                message.contains("start time must be before end time"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    let mut empty = silence(now, now + SignedDuration::from_hours(1));
    empty.matchers.clear();
    let r = client.create_silence(&empty).await;
    match r {
        Err(AmError::Api { status, message }) => {
            assert_eq!(status, 422);
            assert!(message.contains("matchers"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let unknown = client
        .expire_silence("00000000-0000-4000-8000-000000000000")
        .await;
    // Alertmanager 0.25 answers 500 "silence not found" here.
    match unknown {
        Err(AmError::Api { status, message }) => {
            assert_eq!(status, 500);
            assert!(message.contains("not found"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

async fn sim(source: Arc<FakeTraffic>) -> shipdeck::demo::prometheus::SimServerHandle {
    let opts = AmSimOptions {
        rules: AlertRules {
            error_window_secs: 3,
            error_for_secs: 0,
            crashloop_window_secs: 5,
            ..Default::default()
        },
        eval_secs: 1,
        tick: Duration::from_millis(100),
    };
    start_alertmanager_with(source, "127.0.0.1:0".parse().unwrap(), opts)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_simulated_alertmanager() {
    let server = sim(Arc::new(FakeTraffic::new())).await;
    let client = AlertmanagerClient::with_timeout(&server.url(), Duration::from_secs(5));
    contract(&client, &|| "simulated".into()).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_real_alertmanager() {
    let stack = start_stack(true).await;
    let client =
        AlertmanagerClient::with_timeout(&stack.alertmanager_url(), Duration::from_secs(5));
    let logs = || stack.logs();
    contract(&client, &logs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_alerts_follow_the_world() {
    let world = Arc::new(FakeTraffic::new());
    let server = sim(world.clone()).await;
    let client = AlertmanagerClient::with_timeout(&server.url(), Duration::from_secs(5));
    let (tx, mut rx) = mpsc::channel::<MonitorEvent>(16);
    let cancel = CancellationToken::new();
    let _poller = spawn_alerts_poller_with(
        client.clone(),
        Duration::from_millis(200),
        Vec::new(),
        Clock::System,
        tx,
        cancel.clone(),
    );
    let mut next = async || match tokio::time::timeout(Duration::from_secs(15), rx.recv()).await {
        Ok(Some(MonitorEvent::Alerts { snapshot, .. })) => snapshot,
        Ok(Some(other)) => panic!("{other:?}"),
        _ => panic!("no alerts snapshot within 15 s"),
    };
    // api in production (shop-blue) starts failing: critical, and the board's check sees it.
    world.set_error_ratio("api", 0.5);
    world.set_restarting("web", 2.0);
    let snap = loop {
        let s = next().await;
        if s.critical_firing("api", "shop-blue")
            && s.alerts.iter().any(|a| a.name() == "PodCrashLooping")
        {
            break s;
        }
    };
    assert!(!snap.critical_firing("web", "shop-green"));
    let crash = snap
        .alerts
        .iter()
        .find(|a| a.name() == "PodCrashLooping")
        .unwrap();
    assert_eq!(crash.label("pod"), "web-1");
    // Silenced through the prefilled silence, it no longer counts as firing.
    let critical = snap
        .alerts
        .iter()
        .find(|a| a.label("app") == "api" && a.severity() == "critical")
        .unwrap();
    let id = client
        .create_silence(&NewSilence::for_alert(
            critical,
            Timestamp::now(),
            SignedDuration::from_mins(30),
            "alice",
            "looking",
        ))
        .await
        .unwrap();
    loop {
        let s = next().await;
        if !s.critical_firing("api", "shop-blue") {
            assert!(s.silences.iter().any(|x| x.id == id));
            break;
        }
    }
    client.expire_silence(&id).await.unwrap();
    // Healed: the alert resolves and disappears.
    world.set_error_ratio("api", 0.0);
    loop {
        if !next().await.critical_firing("api", "shop-blue") {
            break;
        }
    }
    cancel.cancel();
}

async fn hostile_server() -> String {
    let app = Router::new()
        .route(
            "/bad/api/v2/silences",
            get(|| async {
                (
                    StatusCode::BAD_REQUEST,
                    r#""bad matcher format: \u001b[31m{""#,
                )
            }),
        )
        .route(
            "/proxy/api/v2/alerts",
            get(|| async { (StatusCode::BAD_GATEWAY, "<html>502 Bad Gateway</html>") }),
        )
        .route(
            "/slow/api/v2/alerts",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "[]"
            }),
        )
        .route(
            "/garbage/api/v2/alerts",
            get(|| async { r#"[{"labels": 3}]"# }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn bad_answers_become_typed_errors() {
    let base = hostile_server().await;
    let c = |p: &str| {
        AlertmanagerClient::with_timeout(&format!("{base}/{p}"), Duration::from_millis(400))
    };
    match c("bad").silences(&[]).await {
        // The JSON string is decoded and sanitized: no escape sequence reaches the screen.
        Err(AmError::Api { status, message }) => {
            assert_eq!(status, 400);
            assert_eq!(message, "bad matcher format: {");
        }
        other => panic!("{other:?}"),
    }
    let q = AlertQuery::default();
    assert!(matches!(
        c("proxy").alerts(&q).await,
        Err(AmError::Http { status: 502, .. })
    ));
    assert_eq!(c("slow").alerts(&q).await, Err(AmError::Timeout));
    assert!(matches!(
        c("garbage").alerts(&q).await,
        Err(AmError::Decode(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_poller_skips_unchanged_snapshots() {
    let server = sim(Arc::new(FakeTraffic::new())).await;
    let client = AlertmanagerClient::with_timeout(&server.url(), Duration::from_secs(5));
    // Wait until the web alert is there, so the set stops changing.
    eventually(
        Duration::from_secs(10),
        "HighErrorRate",
        &|| String::new(),
        || async { web_alert(&client, &web_query()).await },
    )
    .await;
    let (tx, mut rx) = mpsc::channel::<MonitorEvent>(16);
    let cancel = CancellationToken::new();
    let handle = spawn_alerts_poller_with(
        client,
        Duration::from_millis(100),
        vec![r#"app="web""#.into()],
        Clock::System,
        tx,
        cancel.clone(),
    );
    let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(first, MonitorEvent::Alerts { ref snapshot, .. } if snapshot.alerts.len() == 1)
    );
    // Ten more polls (updatedAt and endsAt move each time): nothing new to tell.
    handle.refresh();
    assert!(
        tokio::time::timeout(Duration::from_secs(1), rx.recv())
            .await
            .is_err()
    );
    cancel.cancel();
    server.shutdown().await;
}
