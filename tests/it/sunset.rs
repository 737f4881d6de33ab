//! Sunset end to end against the simulated estate: Kubernetes (`Demo`), Cloudflare, the registry
//! and Alertmanager, each behind a recording proxy so every request of every system is seen in one
//! ordered log. Happy path, Cloudflare 1056, registry 405, and a run killed between steps then
//! resumed from the journal.
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use shipdeck::backend::alertmanager::{AlertmanagerClient, AlertmanagerConfig};
use shipdeck::backend::registry::RegistryConfig;
use shipdeck::config::Config;
use shipdeck::demo::cloudflare::{CloudflareSeed, CloudflareSim, Fault, start_cloudflare};
use shipdeck::demo::prometheus::SimServerHandle;
use shipdeck::demo::registry::{RegistryServer, SimRegistry, serve_registry};
use shipdeck::demo::store::Kind;
use shipdeck::demo::{Demo, DemoOptions};
use shipdeck::ops::audit::{self, AuditRecord};
use shipdeck::ops::sunset::{self, retired};
use shipdeck::ops::{
    Confirmation, Identity, OpContext, OpEvent, Outcome, OutcomeStatus, Preview, Request,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// (system, "METHOD path?query", body)
type Log = Arc<Mutex<Vec<(String, String, String)>>>;

/// A reverse proxy on 127.0.0.1 that records each request before forwarding it.
async fn tap(system: &'static str, upstream: String, log: Log) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let http = shipdeck::backend::http::client();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (http, log, upstream) = (http.clone(), log.clone(), upstream.clone());
            async move {
                let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                log.lock().unwrap().push((
                    system.to_string(),
                    format!("{method} {pq}"),
                    String::from_utf8_lossy(&body).to_string(),
                ));
                let mut rb = http.request(method, format!("{upstream}{pq}"));
                for (k, v) in headers.iter() {
                    if !matches!(k.as_str(), "host" | "content-length" | "connection") {
                        rb = rb.header(k, v);
                    }
                }
                let resp = match rb.body(body).send().await {
                    Ok(r) => r,
                    Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
                };
                let status = resp.status();
                let hs = resp.headers().clone();
                let bytes = resp.bytes().await.unwrap_or_default();
                let mut out = Response::new(axum::body::Body::from(bytes));
                *out.status_mut() = status;
                for (k, v) in hs.iter() {
                    if !matches!(
                        k.as_str(),
                        "transfer-encoding" | "connection" | "content-length"
                    ) {
                        out.headers_mut().insert(k, v.clone());
                    }
                }
                out
            }
        },
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

struct Estate {
    demo: Demo,
    cf: CloudflareSim,
    reg: RegistryServer,
    _am: SimServerHandle,
    am_url: String,
    log: Log,
    data: tempfile::TempDir,
    config: Config,
}

const APP: &str = "worker";

async fn estate(delete_enabled: bool) -> Estate {
    let demo = Demo::start(DemoOptions {
        life_every_s: 0,
        speed: 20.0,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let log: Log = Arc::default();
    let data = tempfile::tempdir().unwrap();
    let mut config = demo.write_config(data.path()).unwrap();

    let kube_tap = tap("kube", demo.kube_url(), log.clone()).await;
    let kc = data.path().join("kubeconfig-tap");
    std::fs::write(
        &kc,
        demo.kubeconfig_yaml().replace(&demo.kube_url(), &kube_tap),
    )
    .unwrap();
    config.kubeconfig = Some(kc);

    let cf = start_cloudflare(CloudflareSeed::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let origin = cf.url().trim_end_matches("/client/v4").to_string();
    let cf_tap = tap("cloudflare", origin, log.clone()).await;
    let mut cfc = cf.config();
    cfc.url = format!("{cf_tap}/client/v4");
    config.cloudflare = Some(cfc);

    let registry = SimRegistry::new(delete_enabled);
    for tag in ["1.0.0", "1.0.1", "1.1.0"] {
        registry.push_image("shop/worker", tag, &format!("worker {tag}"));
    }
    // `latest` shares 1.1.0's digest: one DELETE removes both.
    registry.push_image("shop/worker", "latest", "worker 1.1.0");
    registry.push_image("shop/web", "1.5.1", "web 1.5.1");
    let reg = serve_registry(registry).await.unwrap();
    let reg_tap = tap("registry", reg.url().to_string(), log.clone()).await;
    config.registry = Some(RegistryConfig::new(&reg_tap));

    let am = shipdeck::demo::alertmanager::start_alertmanager(
        Arc::new(demo.world().clone()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let am_url = am.url();
    let am_tap = tap("alertmanager", am_url.clone(), log.clone()).await;
    config.alertmanager = Some(AlertmanagerConfig::new(am_tap));

    Estate {
        demo,
        cf,
        reg,
        _am: am,
        am_url,
        log,
        data,
        config,
    }
}

impl Estate {
    fn ctx(&self) -> Arc<OpContext> {
        Arc::new(
            OpContext::new(self.config.clone(), false)
                .with_data_dir(self.data.path().join("data"))
                .with_identity(Identity {
                    user: "ana".into(),
                    host: "bastion".into(),
                }),
        )
    }

    async fn prepare(&self, resume: bool) -> Preview {
        let req = Request::Sunset {
            app: APP.into(),
            resume,
        };
        shipdeck::ops::prepare(self.ctx(), req).await.unwrap()
    }

    fn take_log(&self) -> Vec<(String, String, String)> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    fn journal(&self) -> Vec<AuditRecord> {
        audit::read(&self.data.path().join("data").join("audit.jsonl")).unwrap()
    }

    fn kube_left(&self) -> Vec<String> {
        let mut out = vec![];
        for ns in ["shop-develop", "shop-green", "shop-blue"] {
            for kind in [Kind::Deployment, Kind::Service, Kind::Ingress] {
                let (items, _) = self.demo.store().list(kind, Some(ns));
                for o in items.iter() {
                    if o["metadata"]["name"] == APP {
                        out.push(format!("{kind:?} {ns}"));
                    }
                }
            }
        }
        out
    }
}

fn confirm() -> Confirmation {
    Confirmation {
        typed_name: Some(APP.into()),
        override_reason: None,
    }
}

async fn run(preview: Preview) -> (Outcome, Vec<OpEvent>) {
    let (tx, mut rx) = mpsc::channel(1024);
    let out = shipdeck::ops::run(preview, confirm(), tx, CancellationToken::new()).await;
    let mut events = vec![];
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (out, events)
}

/// Only the writes, as (system, request line).
fn writes(log: &[(String, String, String)]) -> Vec<(String, String)> {
    log.iter()
        .filter(|(_, l, _)| !l.starts_with("GET ") && !l.starts_with("HEAD "))
        .filter(|(_, l, _)| !l.contains("selfsubjectaccessreviews"))
        .map(|(s, l, _)| (s.clone(), l.clone()))
        .collect()
}

fn expected_writes(
    e: &Estate,
    digests: &[String],
    record: &str,
    access: &str,
) -> Vec<(String, String)> {
    let seed = e.cf.seed();
    let w = |s: &str, l: String| (s.to_string(), l);
    let mut out = vec![
        w(
            "cloudflare",
            format!(
                "PUT /client/v4/accounts/{}/cfd_tunnel/{}/configurations",
                seed.account_id, seed.tunnel_id
            ),
        ),
        w(
            "cloudflare",
            format!(
                "DELETE /client/v4/zones/{}/dns_records/{record}",
                seed.zone_id
            ),
        ),
        w(
            "cloudflare",
            format!(
                "DELETE /client/v4/accounts/{}/access/apps/{access}",
                seed.account_id
            ),
        ),
    ];
    for ns in ["shop-develop", "shop-green", "shop-blue"] {
        out.push(w(
            "kube",
            format!("PATCH /apis/apps/v1/namespaces/{ns}/deployments/worker/scale?&fieldManager=shipdeck"),
        ));
        out.push(w(
            "kube",
            format!("DELETE /apis/apps/v1/namespaces/{ns}/deployments/worker?"),
        ));
        out.push(w(
            "kube",
            format!("DELETE /api/v1/namespaces/{ns}/services/worker?"),
        ));
        out.push(w(
            "kube",
            format!("DELETE /apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/worker?"),
        ));
    }
    out.push(w("alertmanager", "POST /api/v2/silences".into()));
    for d in digests {
        out.push(w(
            "registry",
            format!("DELETE /v2/shop/worker/manifests/{d}"),
        ));
    }
    out
}

fn ids(e: &Estate) -> (String, String) {
    let record =
        e.cf.dns_records()
            .into_iter()
            .find(|r| r.name == "worker.shop.example")
            .unwrap()
            .id;
    let access =
        e.cf.access_apps()
            .into_iter()
            .find(|a| a.domain.as_deref() == Some("worker.shop.example"))
            .unwrap()
            .id;
    (record, access)
}

fn worker_digests(e: &Estate) -> Vec<String> {
    let r = e.reg.registry();
    let mut v = vec![];
    for t in ["1.0.0", "1.0.1", "1.1.0"] {
        v.push(r.digest("shop/worker", t).unwrap());
    }
    v
}

async fn assert_all_gone(e: &Estate) {
    assert_eq!(e.kube_left(), Vec::<String>::new());
    let ingress = e.cf.ingress();
    assert!(
        ingress
            .iter()
            .all(|r| r.hostname.as_deref() != Some("worker.shop.example"))
    );
    assert_eq!(ingress.len(), 3, "web, api and the catch-all remain");
    assert!(ingress.last().unwrap().is_catch_all());
    assert!(
        e.cf.dns_records()
            .iter()
            .all(|r| r.name != "worker.shop.example")
    );
    assert!(
        e.cf.access_apps()
            .iter()
            .all(|a| a.domain.as_deref() != Some("worker.shop.example"))
    );
    assert_eq!(e.cf.access_apps().len(), 2);
    assert!(e.reg.registry().tags("shop/worker").is_empty());
    assert_eq!(e.reg.registry().tags("shop/web"), vec!["1.5.1"]);
    // Other apps untouched.
    let (deps, _) = e.demo.store().list(Kind::Deployment, Some("shop-blue"));
    assert_eq!(deps.len(), 2);
    let am = AlertmanagerClient::with_timeout(&e.am_url, Duration::from_secs(5));
    let silences = am.silences(&["app=\"worker\"".into()]).await.unwrap();
    let s: Vec<_> = silences
        .iter()
        .filter(|s| {
            s.matchers.len() == 1 && s.matchers[0].name == "app" && s.matchers[0].value == "worker"
        })
        .collect();
    assert_eq!(s.len(), 1, "{silences:?}");
    assert!(s[0].ends_at.as_second() - jiff::Timestamp::now().as_second() > 9 * 365 * 86_400);
    assert_eq!(s[0].created_by, "ana");
    assert!(retired::is_retired(&e.data.path().join("data"), APP));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sunset_removes_everything_in_order_and_reports() {
    let e = estate(true).await;
    let (record, access) = ids(&e);
    let digests = worker_digests(&e);
    let preview = e.prepare(false).await;
    assert_eq!(preview.confirm_name.as_deref(), Some(APP));
    assert!(preview.failed_checks().is_empty(), "{:?}", preview.checks);
    let del: Vec<(String, String, String)> = preview
        .deletions
        .iter()
        .map(|o| (o.system.clone(), o.kind.clone(), o.scope.clone()))
        .collect();
    assert_eq!(
        del.iter().filter(|d| d.0 == "cloudflare").count(),
        3,
        "{del:?}"
    );
    assert_eq!(
        del.iter().filter(|d| d.0 == "kubernetes").count(),
        7,
        "{del:?}"
    );
    assert_eq!(
        del.iter().filter(|d| d.0 == "registry").count(),
        4,
        "{del:?}"
    );
    let names: Vec<&str> = preview.plan.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "cloudflare-tunnel-rule",
            "cloudflare-dns-record",
            "cloudflare-access-app",
            "scale-down-develop",
            "delete-workloads-develop",
            "scale-down-staging",
            "delete-workloads-staging",
            "scale-down-production",
            "delete-workloads-production",
            "silence-alerts",
            "mark-retired",
            "registry-tags",
            "report",
        ]
    );
    e.take_log();
    let (out, events) = run(preview).await;
    assert_eq!(out.status, OutcomeStatus::Done, "{}", out.message);
    assert_eq!(out.steps_done.len(), 13);
    let log = e.take_log();
    assert_eq!(
        writes(&log),
        expected_writes(&e, &digests, &record, &access)
    );
    // The tunnel PUT keeps the catch-all last.
    let put = log.iter().find(|(_, l, _)| l.starts_with("PUT ")).unwrap();
    let body: Value = serde_json::from_str(&put.2).unwrap();
    assert_eq!(
        body["config"]["ingress"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        &json!({"service": "http_status:404"})
    );
    let scale = log
        .iter()
        .find(|(_, l, _)| l.starts_with("PATCH "))
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&scale.2).unwrap(),
        json!({"spec": {"replicas": 0}})
    );
    assert_all_gone(&e).await;
    // Every step's last message; the report says complete.
    let last = events
        .iter()
        .rev()
        .find_map(|ev| match ev {
            OpEvent::StepDone { name, message, .. } if name == "report" => Some(message.clone()),
            _ => None,
        })
        .unwrap();
    assert!(last.contains("sunset of worker complete"), "{last}");
    // Journal: begin and end for each step, then finish.
    let j = e.journal();
    let begins = j.iter().filter(|r| r.phase == "step_begin").count();
    let ends = j
        .iter()
        .filter(|r| r.phase == "step_end" && r.result.as_deref() == Some("ok"))
        .count();
    assert_eq!((begins, ends), (13, 13));
    assert_eq!(j.last().unwrap().phase, "finish");

    // Once more: nothing left, a no-op preview.
    let again = e.prepare(false).await;
    assert!(again.noop, "{:?}", again.deletions);
    assert!(again.deletions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_1056_fails_the_first_step_and_resume_finishes() {
    let e = estate(true).await;
    e.cf.inject(Fault::bad_tunnel_config());
    let preview = e.prepare(false).await;
    e.take_log();
    let (out, _) = run(preview).await;
    match &out.status {
        OutcomeStatus::Failed { error } => {
            let m = error.to_string();
            assert!(m.contains("1056") && m.contains("was not changed"), "{m}");
        }
        s => panic!("{s:?}"),
    }
    assert_eq!(out.exit_code(), 1);
    assert!(out.steps_done.is_empty());
    let w = writes(&e.take_log());
    assert_eq!(w.len(), 1, "only the refused PUT: {w:?}");
    assert_eq!(e.cf.ingress().len(), 4, "tunnel unchanged");
    assert_eq!(e.kube_left().len(), 7, "nothing else touched");

    let preview = e.prepare(true).await;
    let first = out.op_id.clone();
    assert_eq!(preview.plan.resume_of.as_deref(), Some(first.as_str()));
    let (out, _) = run(preview).await;
    assert_eq!(out.status, OutcomeStatus::Done, "{}", out.message);
    assert_all_gone(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_405_says_deletion_is_disabled() {
    let e = estate(false).await;
    let preview = e.prepare(false).await;
    let (out, _) = run(preview).await;
    let OutcomeStatus::Failed { error } = &out.status else {
        panic!("{:?}", out.status);
    };
    let m = error.to_string();
    assert!(m.contains("registry deletion disabled"), "{m}");
    assert!(out.message.contains("registry-tags"), "{}", out.message);
    assert_eq!(
        out.steps_done.len(),
        11,
        "everything before the registry step"
    );
    assert_eq!(e.reg.registry().tags("shop/worker").len(), 4);
    let j = e.journal();
    let failed = j
        .iter()
        .find(|r| r.phase == "step_end" && r.result.as_deref() == Some("failed"))
        .unwrap();
    assert_eq!(failed.step.as_ref().unwrap().name, "registry-tags");
    assert_eq!(e.kube_left(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_steps_then_resume_does_nothing_twice() {
    let e = estate(true).await;
    let digests = worker_digests(&e);
    let (record, access) = ids(&e);
    let preview = e.prepare(false).await;
    let first = preview.op_id().to_string();
    e.take_log();
    let (tx, mut rx) = mpsc::channel(1);
    let task = tokio::spawn(shipdeck::ops::run(
        preview,
        confirm(),
        tx,
        CancellationToken::new(),
    ));
    // Kill the run as soon as the DNS step (index 1) reports done.
    while let Some(ev) = rx.recv().await {
        if matches!(ev, OpEvent::StepDone { index: 1, .. }) {
            task.abort();
            break;
        }
    }
    assert!(task.await.unwrap_err().is_cancelled());
    let j = e.journal();
    assert!(
        j.iter().all(|r| r.phase != "finish"),
        "killed: no finish line"
    );
    let done_first: Vec<String> = j
        .iter()
        .filter(|r| r.op_id == first && r.phase == "step_end")
        .map(|r| r.step.as_ref().unwrap().name.clone())
        .collect();
    assert!(done_first.len() >= 2, "{done_first:?}");

    let preview = e.prepare(true).await;
    assert_eq!(preview.plan.resume_of.as_deref(), Some(first.as_str()));
    let second = preview.op_id().to_string();
    let (out, events) = run(preview).await;
    assert_eq!(out.status, OutcomeStatus::Done, "{}", out.message);
    assert_all_gone(&e).await;
    // Steps the first run finished were skipped, not redone.
    for name in &done_first {
        assert!(
            events.iter().any(|ev| matches!(ev, OpEvent::StepDone { name: n, already: true, message, .. } if n == name && message.contains("earlier run"))),
            "{name} not skipped"
        );
    }
    // Across both runs every write happened exactly once: the same list as an uninterrupted run.
    assert_eq!(
        writes(&e.take_log()),
        expected_writes(&e, &digests, &record, &access)
    );
    // The journal is complete: each step ended once with ok/already across the two runs, the
    // resumed run records the skipped ones and finishes.
    let j = e.journal();
    let names: Vec<String> = sunset_step_names();
    for name in &names {
        let ended: Vec<&AuditRecord> = j
            .iter()
            .filter(|r| r.phase == "step_end" && r.step.as_ref().is_some_and(|s| &s.name == name))
            .collect();
        assert!(
            ended
                .iter()
                .all(|r| matches!(r.result.as_deref(), Some("ok") | Some("already"))),
            "{name}: {ended:?}"
        );
        // A step killed in the middle may find its effect in place on resume ("already").
        let ok = ended
            .iter()
            .filter(|r| r.result.as_deref() == Some("ok"))
            .count();
        assert!(!ended.is_empty() && ok <= 1, "{name}: {ended:?}");
    }
    let fin = j.last().unwrap();
    assert_eq!(
        (fin.op_id.as_str(), fin.phase.as_str()),
        (second.as_str(), "finish")
    );
    assert_eq!(fin.result.as_deref(), Some("done"));
    // Nothing left to resume.
    let err = shipdeck::ops::prepare(
        e.ctx(),
        Request::Sunset {
            app: APP.into(),
            resume: true,
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("nothing to resume"), "{err}");
}

fn sunset_step_names() -> Vec<String> {
    let mut v: Vec<String> = vec![
        sunset::STEP_TUNNEL.into(),
        sunset::STEP_DNS.into(),
        sunset::STEP_ACCESS.into(),
    ];
    for env in ["develop", "staging", "production"] {
        v.push(sunset::step_scale(env));
        v.push(sunset::step_delete(env));
    }
    v.extend([
        sunset::STEP_SILENCE.to_string(),
        sunset::STEP_RETIRE.to_string(),
        sunset::STEP_REGISTRY.to_string(),
        sunset::STEP_REPORT.to_string(),
    ]);
    v
}
