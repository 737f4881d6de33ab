//! The background life of the estate: access-log lines for running pods and, in develop, a new
//! build now and then (until CI drives it).
use super::controller::{Controller, LOG_EVERY_MS, LOG_FEED_MAX_PODS, Task};
use super::model::{Deploy, Key, key};
use crate::demo::store::Kind;
use rand::Rng;
use serde_json::{Value, json};

impl Controller {
    pub(super) fn log_line(&mut self, pk: &Key, container: &str, text: &str) {
        if !self.rec.enabled {
            return;
        }
        if let Some((ns, pod)) = pk.split_once('/') {
            self.logs.append(ns, pod, container, self.clock.now(), text);
        }
    }

    /// Starts the periodic access-log feed (small estates only; large ones get lifecycle lines).
    pub fn start_log_feed(&mut self) {
        let due = self.now_ms() + LOG_EVERY_MS;
        self.schedule(due, Task::Logs);
    }

    pub(super) fn log_step(&mut self) {
        let now = self.clock.now();
        let running = self.traffic.running();
        if running.len() <= LOG_FEED_MAX_PODS {
            for (ns, pod, app, bad, ready) in running {
                if !ready && !bad {
                    continue;
                }
                self.log_seq += 1;
                let h = super::rollout::fnv32a(format!("{pod}{}", self.log_seq).as_bytes());
                let line = access_line(&app, h, bad);
                let container = self
                    .pods
                    .get(&key(&ns, &pod))
                    .and_then(|p| p.containers.first())
                    .map(|c| c.name.clone())
                    .unwrap_or(app);
                self.logs.append(&ns, &pod, &container, now, &line);
            }
        }
        let due = self.now_ms() + LOG_EVERY_MS;
        self.schedule(due, Task::Logs);
    }

    /// Starts the life loop: every `every_ms` one app in `ns` gets a new build.
    pub fn start_life(&mut self, ns: &str, every_ms: i64) {
        self.life_ns = Some(ns.to_string());
        self.timings.life_every_ms = Some(every_ms);
        let due = self.now_ms() + every_ms;
        self.schedule(due, Task::Life);
    }

    pub(super) fn life_step(&mut self) {
        let (Some(ns), Some(every)) = (self.life_ns.clone(), self.timings.life_every_ms) else {
            return;
        };
        let mut candidates: Vec<Key> = self
            .deploys
            .values()
            .filter(|d| d.ns == ns && !d.paused)
            .map(Deploy::key)
            .collect();
        candidates.sort();
        if !candidates.is_empty() {
            let k = candidates[self.rng.random_range(0..candidates.len())].clone();
            if let Some(d) = self.deploys.get(&k) {
                let image = d
                    .template_norm
                    .pointer("/spec/containers/0/image")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let next = next_build(&image);
                let tag = next
                    .rsplit_once(':')
                    .map(|(_, t)| t.to_string())
                    .unwrap_or_default();
                let (dns, name) = (d.ns.clone(), d.name.clone());
                let _ = self.store.modify(Kind::Deployment, &dns, &name, |v| {
                    v["spec"]["template"]["spec"]["containers"][0]["image"] = json!(next);
                    if !v["metadata"]
                        .get("annotations")
                        .is_some_and(Value::is_object)
                    {
                        v["metadata"]["annotations"] = json!({});
                    }
                    v["metadata"]["annotations"]["kubernetes.io/change-cause"] =
                        json!(format!("deploy {tag} from CI"));
                });
            }
        }
        let due = self.now_ms() + every;
        self.schedule(due, Task::Life);
    }
}

/// The image with its tag's last number bumped (`web:1.5.1` → `web:1.5.2`); bad markers dropped.
pub fn next_build(image: &str) -> String {
    let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "0.0.0"));
    let tag = tag.split('-').next().unwrap_or(tag);
    let mut parts: Vec<String> = tag.split('.').map(str::to_string).collect();
    if let Some(last) = parts.last_mut() {
        *last = last
            .parse::<u64>()
            .map(|n| (n + 1).to_string())
            .unwrap_or_else(|_| "1".into());
    }
    format!("{repo}:{}", parts.join("."))
}

/// One access-log-like line, varied by `h`; bad pods log errors.
fn access_line(app: &str, h: u32, bad: bool) -> String {
    const PATHS: [&str; 6] = [
        "/",
        "/healthz",
        "/api/items",
        "/api/cart",
        "/api/orders",
        "/static/app.js",
    ];
    const METHODS: [&str; 3] = ["GET", "GET", "POST"];
    let path = PATHS[(h as usize) % PATHS.len()];
    let method = METHODS[(h as usize >> 4) % METHODS.len()];
    let ms = 3 + (h >> 8) % 120;
    let status = if bad && h.is_multiple_of(3) {
        500
    } else if h.is_multiple_of(97) {
        404
    } else {
        200
    };
    if status == 500 {
        return format!(
            "level=error app={app} msg=\"upstream failed\" method={method} path={path} status=500 duration={ms}ms"
        );
    }
    format!("level=info app={app} method={method} path={path} status={status} duration={ms}ms")
}
