//! Pod logs: the `LogBook` the world writes lines into, and `GET pods/{name}/log`
//! (`container`, `tailLines`, `timestamps`, `previous`, `follow=true` streams new lines).
use super::select::Query;
use super::{Ctx, error_response};
use crate::demo::store::{ApiError, Kind};
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Lines kept per container.
const KEEP: usize = 2_000;

/// One log line as the world appends it.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub time: jiff::Timestamp,
    pub text: String,
}

type Key = (String, String, String);

#[derive(Default)]
struct Book {
    lines: HashMap<Key, VecDeque<(jiff::Timestamp, String)>>,
}

/// Per-container log buffers (the last 2,000 lines each) with a live feed for `follow`.
/// Cheap to clone. The world calls `append`; the server reads.
#[derive(Clone)]
pub struct LogBook {
    book: Arc<Mutex<Book>>,
    tx: broadcast::Sender<Arc<LogLine>>,
}

impl Default for LogBook {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(4096);
        LogBook {
            book: Arc::default(),
            tx,
        }
    }
}

impl std::fmt::Debug for LogBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogBook")
    }
}

impl LogBook {
    /// Appends a line (without trailing newline) to a container's log.
    pub fn append(&self, ns: &str, pod: &str, container: &str, time: jiff::Timestamp, text: &str) {
        let key = (ns.to_string(), pod.to_string(), container.to_string());
        if let Ok(mut b) = self.book.lock() {
            let q = b.lines.entry(key).or_default();
            q.push_back((time, text.to_string()));
            while q.len() > KEEP {
                q.pop_front();
            }
        }
        let _ = self.tx.send(Arc::new(LogLine {
            namespace: ns.into(),
            pod: pod.into(),
            container: container.into(),
            time,
            text: text.into(),
        }));
    }

    /// Drops a pod's logs (when the world deletes the pod).
    pub fn forget_pod(&self, ns: &str, pod: &str) {
        if let Ok(mut b) = self.book.lock() {
            b.lines.retain(|(n, p, _), _| !(n == ns && p == pod));
        }
    }

    /// The lines of one container so far, or None when nothing was ever appended for it.
    pub fn lines(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
    ) -> Option<Vec<(jiff::Timestamp, String)>> {
        let key = (ns.to_string(), pod.to_string(), container.to_string());
        let b = self.book.lock().ok()?;
        b.lines.get(&key).map(|q| q.iter().cloned().collect())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LogLine>> {
        self.tx.subscribe()
    }
}

/// A few plausible lines for a pod the world wrote nothing for.
fn synthetic(pod: &Value, container: &str) -> Vec<(jiff::Timestamp, String)> {
    let start = pod
        .pointer("/status/startTime")
        .or_else(|| pod.pointer("/metadata/creationTimestamp"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let image = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        })
        .and_then(|c| c.get("image"))
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let at = |s: i64| {
        start
            .checked_add(jiff::SignedDuration::from_secs(s))
            .unwrap_or(start)
    };
    vec![
        (at(0), format!("starting {container} ({image})")),
        (at(1), "loaded configuration".to_string()),
        (at(2), "listening on :8080".to_string()),
        (at(3), "ready to serve requests".to_string()),
    ]
}

fn render(lines: &[(jiff::Timestamp, String)], timestamps: bool) -> String {
    let mut s = String::new();
    for (t, l) in lines {
        if timestamps {
            s.push_str(&t.strftime("%Y-%m-%dT%H:%M:%S%.9fZ ").to_string());
        }
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// GET pods/{name}/log.
pub async fn serve(ctx: &Ctx, ns: &str, name: &str, q: &Query) -> Response {
    match serve_inner(ctx, ns, name, q) {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

fn serve_inner(ctx: &Ctx, ns: &str, name: &str, q: &Query) -> Result<Response, ApiError> {
    let store = &ctx.shared.store;
    let pod = store
        .get_arc(Kind::Pod, ns, name)
        .ok_or_else(|| ApiError::not_found("pods", name))?;
    let names: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) if names.iter().any(|n| n == c) => c.to_string(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let logs = &ctx.shared.opts.logs;
    let mut lines = logs
        .lines(ns, name, &container)
        .unwrap_or_else(|| synthetic(&pod, &container));
    if let Some(n) = q.u64("tailLines")? {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if lines.len() > n {
            lines.drain(..lines.len() - n);
        }
    }
    if let Some(secs) = q.u64("sinceSeconds")? {
        let since = store
            .now()
            .checked_sub(jiff::SignedDuration::from_secs(
                i64::try_from(secs).unwrap_or(i64::MAX),
            ))
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        lines.retain(|(t, _)| *t >= since);
    }
    let timestamps = q.flag("timestamps");
    let head = render(&lines, timestamps);
    let text_plain = [(header::CONTENT_TYPE, "text/plain")];
    if !q.flag("follow") {
        return Ok((StatusCode::OK, text_plain, head).into_response());
    }
    // Follow: what is there, then new lines until the pod goes, the client leaves or we stop.
    let (mut tx, rx) =
        futures::channel::mpsc::channel::<Result<bytes::Bytes, std::convert::Infallible>>(64);
    let mut feed = logs.subscribe();
    let (ctx, ns, name) = (ctx.clone(), ns.to_string(), name.to_string());
    tokio::spawn(async move {
        use futures::SinkExt;
        if tx.send(Ok(head.into())).await.is_err() {
            return;
        }
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = ctx.shutdown.cancelled() => return,
                _ = tick.tick() => {
                    if !ctx.shared.store.contains(Kind::Pod, &ns, &name) {
                        return;
                    }
                }
                line = feed.recv() => match line {
                    Ok(l) if l.namespace == ns && l.pod == name && l.container == container => {
                        let text = render(&[(l.time, l.text.clone())], timestamps);
                        if tx.send(Ok(text.into())).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    Ok((StatusCode::OK, text_plain, Body::from_stream(rx)).into_response())
}
