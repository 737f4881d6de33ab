//! Support for the sunset tests: the simulated estate (Kubernetes `Demo`, Cloudflare, registry,
//! Alertmanager), each behind a recording proxy so every request of every system lands in one
//! ordered log, and the expectations shared by the tests.
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use shipdeck::backend::alertmanager::{AlertmanagerClient, AlertmanagerConfig};
use shipdeck::backend::registry::RegistryConfig;
use shipdeck::config::Config;
use shipdeck::demo::cloudflare::{CloudflareSeed, CloudflareSim, start_cloudflare};
use shipdeck::demo::prometheus::SimServerHandle;
use shipdeck::demo::registry::{RegistryServer, SimRegistry, serve_registry};
use shipdeck::demo::store::Kind;
use shipdeck::demo::{Demo, DemoOptions};
use shipdeck::ops::audit::{self, AuditRecord};
use shipdeck::ops::sunset::{self, retired};
use shipdeck::ops::{Confirmation, Identity, OpContext, OpEvent, Outcome, Preview, Request};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// (system, "METHOD path?query", body)
pub type Log = Arc<Mutex<Vec<(String, String, String)>>>;

/// A reverse proxy on 127.0.0.1 that records each request before forwarding it.
pub async fn tap(system: &'static str, upstream: String, log: Log) -> String {
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

pub struct Estate {
    pub demo: Demo,
    pub cf: CloudflareSim,
    pub reg: RegistryServer,
    pub _am: SimServerHandle,
    pub am_url: String,
    pub log: Log,
    pub data: tempfile::TempDir,
    pub config: Config,
}

pub const APP: &str = "worker";

pub async fn estate(delete_enabled: bool) -> Estate {
    let demo = Demo::start(DemoOptions {
        life_every_s: 0,
        // The engine's tests start the servers they need themselves.
        extras: false,
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
    pub fn ctx(&self) -> Arc<OpContext> {
        Arc::new(
            OpContext::new(self.config.clone(), false)
                .with_data_dir(self.data.path().join("data"))
                .with_identity(Identity {
                    user: "ana".into(),
                    host: "bastion".into(),
                }),
        )
    }

    pub async fn prepare(&self, resume: bool) -> Preview {
        let req = Request::Sunset {
            app: APP.into(),
            resume,
        };
        shipdeck::ops::prepare(self.ctx(), req).await.unwrap()
    }

    pub fn take_log(&self) -> Vec<(String, String, String)> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    pub fn journal(&self) -> Vec<AuditRecord> {
        audit::read(&self.data.path().join("data").join("audit.jsonl")).unwrap()
    }

    pub fn kube_left(&self) -> Vec<String> {
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

pub fn confirm() -> Confirmation {
    Confirmation {
        typed_name: Some(APP.into()),
        override_reason: None,
    }
}

pub async fn run(preview: Preview) -> (Outcome, Vec<OpEvent>) {
    let (tx, mut rx) = mpsc::channel(1024);
    let out = shipdeck::ops::run(preview, confirm(), tx, CancellationToken::new()).await;
    let mut events = vec![];
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (out, events)
}

/// Only the writes, as (system, request line).
pub fn writes(log: &[(String, String, String)]) -> Vec<(String, String)> {
    log.iter()
        .filter(|(_, l, _)| !l.starts_with("GET ") && !l.starts_with("HEAD "))
        .filter(|(_, l, _)| !l.contains("selfsubjectaccessreviews"))
        .map(|(s, l, _)| (s.clone(), l.clone()))
        .collect()
}

pub fn expected_writes(
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
    // The `ShipdeckSunset` Event in each namespace when the run ends.
    for ns in ["shop-develop", "shop-green", "shop-blue"] {
        out.push(w("kube", format!("POST /api/v1/namespaces/{ns}/events?")));
    }
    out
}

pub fn ids(e: &Estate) -> (String, String) {
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

pub fn worker_digests(e: &Estate) -> Vec<String> {
    let r = e.reg.registry();
    let mut v = vec![];
    for t in ["1.0.0", "1.0.1", "1.1.0"] {
        v.push(r.digest("shop/worker", t).unwrap());
    }
    v
}

pub async fn assert_all_gone(e: &Estate) {
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
            .all(|r| r.name != "worker.shop.example" || r.kind == "TXT")
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

pub fn sunset_step_names() -> Vec<String> {
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

/// Every request as (system, line), consecutive repeats (the drain wait's polls) folded into one.
pub fn collapse(log: &[(String, String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    for (s, l, _) in log {
        if out.last() != Some(&(s.clone(), l.clone())) {
            out.push((s.clone(), l.clone()));
        }
    }
    out
}

/// Every request of an uninterrupted sunset of `worker`, reads included, in order.
pub fn expected_requests(
    e: &Estate,
    digests: &[String],
    record: &str,
    access: &str,
) -> Vec<(String, String)> {
    let seed = e.cf.seed();
    let (acc, tun, zone) = (&seed.account_id, &seed.tunnel_id, &seed.zone_id);
    let w = |s: &str, l: String| (s.to_string(), l);
    let cf = "/client/v4";
    let tunnel = format!("{cf}/accounts/{acc}/cfd_tunnel/{tun}/configurations");
    let zones = format!("GET {cf}/zones?name=shop.example&page=1&per_page=50");
    let records =
        format!("GET {cf}/zones/{zone}/dns_records?name=worker.shop.example&page=1&per_page=50");
    let apps = format!(
        "GET {cf}/accounts/{acc}/access/apps?domain=worker.shop.example&page=1&per_page=50"
    );
    let silences = "GET /api/v2/silences?filter=app%3D%22worker%22".to_string();
    let tags = "GET /v2/shop/worker/tags/list".to_string();
    let nss = ["shop-develop", "shop-green", "shop-blue"];
    let dep = |ns: &str| format!("/apis/apps/v1/namespaces/{ns}/deployments/worker");
    let svc = |ns: &str| format!("/api/v1/namespaces/{ns}/services/worker");
    let ing = |ns: &str| format!("/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/worker");
    let mut out = vec![
        w("cloudflare", format!("GET {tunnel}")),
        w("cloudflare", format!("PUT {tunnel}")),
        w("cloudflare", zones.clone()),
        w("cloudflare", records.clone()),
        w(
            "cloudflare",
            format!("DELETE {cf}/zones/{zone}/dns_records/{record}"),
        ),
        w("cloudflare", apps.clone()),
        w(
            "cloudflare",
            format!("DELETE {cf}/accounts/{acc}/access/apps/{access}"),
        ),
    ];
    for ns in nss {
        out.push(w("kube", format!("GET {}", dep(ns))));
        out.push(w(
            "kube",
            format!("PATCH {}/scale?&fieldManager=shipdeck", dep(ns)),
        ));
        out.push(w("kube", format!("GET {}", dep(ns))));
        out.push(w("kube", format!("DELETE {}?", dep(ns))));
        out.push(w("kube", format!("DELETE {}?", svc(ns))));
        out.push(w("kube", format!("DELETE {}?", ing(ns))));
    }
    out.push(w("alertmanager", silences.clone()));
    out.push(w("alertmanager", "POST /api/v2/silences".into()));
    out.push(w("registry", tags.clone()));
    for t in ["1.0.0", "1.0.1", "1.1.0", "latest"] {
        out.push(w("registry", format!("HEAD /v2/shop/worker/manifests/{t}")));
    }
    for d in digests {
        out.push(w(
            "registry",
            format!("DELETE /v2/shop/worker/manifests/{d}"),
        ));
    }
    // The second pass and the final look find no tag (folded: consecutive).
    out.push(w("registry", tags.clone()));
    // The report reads everything once more.
    out.push(w("cloudflare", format!("GET {tunnel}")));
    out.push(w("cloudflare", zones));
    out.push(w("cloudflare", records));
    out.push(w("cloudflare", apps));
    for ns in nss {
        out.push(w("kube", format!("GET {}", dep(ns))));
        out.push(w("kube", format!("GET {}", svc(ns))));
        out.push(w("kube", format!("GET {}", ing(ns))));
    }
    out.push(w("registry", tags));
    out.push(w("alertmanager", silences));
    // The runner's Events: the Deployment's uid (gone: 404), then the Event.
    for ns in nss {
        out.push(w("kube", format!("GET {}", dep(ns))));
        out.push(w("kube", format!("POST /api/v1/namespaces/{ns}/events?")));
    }
    out
}

/// The estate's config as a file for the binary.
pub fn write_cli_config(e: &Estate) -> std::path::PathBuf {
    let file = e.data.path().join("sunset-config.toml");
    std::fs::write(&file, toml::to_string(&e.config).unwrap()).unwrap();
    file
}

/// `shipdeck --config FILE ARGS` with the estate's data directory, stdin not a terminal.
pub fn shipdeck_cmd(e: &Estate, file: &std::path::Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"));
    cmd.arg("--config")
        .arg(file)
        .args(args)
        .env("SHIPDECK_DATA_DIR", e.data.path().join("data"))
        .env("SHIPDECK_USER", "ana")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// A real docker-registry (Debian's 2.8.2) on 127.0.0.1, in-memory storage; killed on drop.
pub struct RealRegistry {
    child: std::process::Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for RealRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_real_registry(delete_enabled: bool) -> RealRegistry {
    use std::io::BufRead;
    let bin = std::path::Path::new("/usr/bin/docker-registry");
    assert!(
        bin.exists(),
        "docker-registry not found: install the Debian package docker-registry \
         (apt-get install --no-install-recommends docker-registry)"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("registry.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog: {{level: info, accesslog: {{disabled: true}}}}\n\
             storage: {{inmemory: {{}}, delete: {{enabled: {delete_enabled}}}}}\n\
             http: {{addr: \"127.0.0.1:0\", secret: \"test-secret\"}}\n"
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(bin)
        .arg("serve")
        .arg(&cfg)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Drain stderr for the life of the process, or it blocks once the pipe fills.
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let port = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("docker-registry did not report its port");
        if let Some(rest) = line.split("listening on 127.0.0.1:").nth(1) {
            break rest
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>();
        }
    };
    RealRegistry {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}
