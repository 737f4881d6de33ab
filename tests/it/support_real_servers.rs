//! Starts the real Prometheus 2.42 and Alertmanager 0.25 (Debian packages) on loopback ports with
//! temporary data directories, our own config, and a `/metrics` target served by the test.
//! A missing binary fails the test with the package to install; nothing skips.
use axum::Router;
use axum::routing::get;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const INSTALL: &str = "install the Debian packages prometheus prometheus-alertmanager \
    (apt-get install -y --no-install-recommends prometheus prometheus-alertmanager)";

fn find_binary(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` not found: {INSTALL}"))
}

/// A child process killed (and reaped) on drop, with its stderr kept for failure messages.
pub struct Server {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap();
        log[log.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns and waits for `msg="Listening on" address=127.0.0.1:PORT` on stderr (10 s), then keeps
/// draining stderr in a thread so the child never blocks on a full pipe.
fn spawn(bin: &str, args: &[String], cwd: &Path) -> Server {
    let mut child = Command::new(find_binary(bin))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}; {INSTALL}"));
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let log2 = log.clone();
    std::thread::spawn(move || {
        let needle = "msg=\"Listening on\" address=127.0.0.1:";
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && let Some(i) = line.find(needle) {
                let port: String = line[i + needle.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if let Ok(p) = port.parse::<u16>() {
                    let _ = tx.send(p);
                    sent = true;
                }
            }
            log2.lock().unwrap().push(line);
        }
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(port) => Server { child, port, log },
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{bin} did not report its port within 10 s:\n{}",
                log.lock().unwrap().join("\n")
            );
        }
    }
}

/// The `/metrics` body: the default queries' metric names, for `web` (10 req/s, 10 % 5xx) and the
/// weird app, as text exposition 0.0.4 with escaped label values.
pub fn exposition(elapsed: f64) -> String {
    let req = (elapsed * 10.0).floor();
    let err = (elapsed).floor();
    let weird =
        shipdeck::backend::prometheus::escape_label_value(super::support_traffic::WEIRD_APP);
    let web = r#"namespace="shop-green",app="web",pod="web-1""#;
    let mut s = String::new();
    s.push_str("# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n");
    s.push_str(&format!(
        "http_requests_total{{{web},code=\"200\"}} {}\n",
        req - err
    ));
    s.push_str(&format!(
        "http_requests_total{{{web},code=\"500\"}} {err}\n"
    ));
    s.push_str("# TYPE http_request_duration_seconds histogram\n");
    for le in [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
    ] {
        let n = if le == "0.005" || le == "0.01" {
            0.0
        } else {
            req
        };
        s.push_str(&format!(
            "http_request_duration_seconds_bucket{{{web},le=\"{le}\"}} {n}\n"
        ));
    }
    s.push_str(&format!(
        "http_request_duration_seconds_sum{{{web}}} {}\n",
        req * 0.02
    ));
    s.push_str(&format!(
        "http_request_duration_seconds_count{{{web}}} {req}\n"
    ));
    s.push_str("# TYPE container_cpu_usage_seconds_total counter\n");
    s.push_str(&format!(
        "container_cpu_usage_seconds_total{{{web}}} {}\n",
        elapsed * 0.25
    ));
    s.push_str("# TYPE container_memory_working_set_bytes gauge\n");
    s.push_str(&format!(
        "container_memory_working_set_bytes{{{web}}} {}\n",
        super::support_traffic::MEMORY_BYTES
    ));
    s.push_str(&format!(
        "container_memory_working_set_bytes{{namespace=\"shop-green\",app=\"{weird}\",pod=\"weird-1\"}} {}\n",
        super::support_traffic::MEMORY_BYTES
    ));
    s
}

/// The rule both Alertmanagers agree on: 5xx ratio above 5 % per app × namespace.
const RULES: &str = r#"groups:
  - name: shipdeck
    interval: 1s
    rules:
      - alert: HighErrorRate
        expr: sum by (namespace, app) (rate(http_requests_total{code=~"5.."}[30s])) / sum by (namespace, app) (rate(http_requests_total[30s])) > 0.05
        labels: {severity: warning}
        annotations:
          summary: "{{ $labels.app }} in {{ $labels.namespace }}: requests fail"
          description: "5xx ratio is {{ $value }}"
"#;

/// A running stack: the target, Alertmanager (optional) and Prometheus, all on 127.0.0.1.
pub struct Stack {
    pub prometheus: Server,
    pub alertmanager: Option<Server>,
    _target: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Stack {
    pub fn prometheus_url(&self) -> String {
        self.prometheus.url()
    }

    pub fn alertmanager_url(&self) -> String {
        self.alertmanager
            .as_ref()
            .expect("started without Alertmanager")
            .url()
    }

    pub fn logs(&self) -> String {
        let am = self
            .alertmanager
            .as_ref()
            .map(|a| a.log_tail())
            .unwrap_or_default();
        format!(
            "--- prometheus\n{}\n--- alertmanager\n{am}",
            self.prometheus.log_tail()
        )
    }
}

/// The scrape target's body, produced on every scrape.
pub type Body = Arc<dyn Fn() -> String + Send + Sync>;

/// Starts the scrape target serving `exposition`, then Alertmanager (when asked), then Prometheus.
pub async fn start_stack(with_alertmanager: bool) -> Stack {
    let started = Instant::now();
    start_stack_with(
        Arc::new(move || exposition(started.elapsed().as_secs_f64())),
        with_alertmanager,
    )
    .await
}

/// Starts the scrape target serving `body`, then Alertmanager (when asked), then Prometheus
/// pointing at both.
pub async fn start_stack_with(body: Body, with_alertmanager: bool) -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let text = body();
            async move {
                (
                    [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
                    text,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_port = listener.local_addr().unwrap().port();
    let target = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let alertmanager = if with_alertmanager {
        let cfg = "route: {receiver: default, group_by: [alertname], group_wait: 1s, group_interval: 2s, repeat_interval: 1h}\nreceivers:\n  - name: default\n";
        std::fs::write(dir.path().join("alertmanager.yml"), cfg).unwrap();
        std::fs::create_dir(dir.path().join("am-data")).unwrap();
        Some(spawn(
            "prometheus-alertmanager",
            &[
                "--config.file=alertmanager.yml".into(),
                "--storage.path=am-data".into(),
                "--web.listen-address=127.0.0.1:0".into(),
                "--cluster.listen-address=".into(),
            ],
            dir.path(),
        ))
    } else {
        None
    };
    let alerting = match &alertmanager {
        Some(am) => format!(
            "alerting:\n  alertmanagers: [{{static_configs: [{{targets: [\"127.0.0.1:{}\"]}}]}}]\n",
            am.port
        ),
        None => String::new(),
    };
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    let prom_cfg = format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\nrule_files: [rules.yml]\n{alerting}scrape_configs:\n  - job_name: shipdeck\n    static_configs: [{{targets: [\"127.0.0.1:{target_port}\"]}}]\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), prom_cfg).unwrap();
    std::fs::create_dir(dir.path().join("prom-data")).unwrap();
    let prometheus = spawn(
        "prometheus",
        &[
            "--config.file=prometheus.yml".into(),
            "--storage.tsdb.path=prom-data".into(),
            "--web.listen-address=127.0.0.1:0".into(),
            "--web.external-url=http://prometheus.test/".into(),
        ],
        dir.path(),
    );
    Stack {
        prometheus,
        alertmanager,
        _target: target,
        _dir: dir,
    }
}

/// Polls `f` until it returns `Some`, or panics after `timeout` with `what` and the server logs.
pub async fn eventually<T, F, Fut>(
    timeout: Duration,
    what: &str,
    logs: impl Fn() -> String,
    mut f: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}\n{}", logs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
