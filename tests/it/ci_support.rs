//! Test support for the CI and registry tests: an axum recorder that logs every request exactly
//! (method, path and query, headers, body) and answers from a scripted table; fixture loading.
#![allow(clippy::unwrap_used)] // tests may unwrap
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query exactly as sent.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }
    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

type Routes = Arc<Mutex<HashMap<(String, String), Vec<Reply>>>>;

pub struct Recorder {
    pub url: String,
    log: Arc<Mutex<Vec<Recorded>>>,
    routes: Routes,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorder {
    pub async fn start() -> Recorder {
        let log: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let routes: Routes = Arc::default();
        let (l, r) = (log.clone(), routes.clone());
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (log, routes) = (l.clone(), r.clone());
                async move {
                    let uri = uri
                        .path_and_query()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default();
                    log.lock().unwrap().push(Recorded {
                        method: method.to_string(),
                        uri: uri.clone(),
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let reply = {
                        let mut routes = routes.lock().unwrap();
                        match routes.get_mut(&(method.to_string(), uri)) {
                            // Replies are used in order; the last one stays.
                            Some(q) if q.len() > 1 => Some(q.remove(0)),
                            Some(q) => q.first().cloned(),
                            None => None,
                        }
                    };
                    let Some(reply) = reply else {
                        return (StatusCode::from_u16(599).unwrap(), "unscripted").into_response();
                    };
                    let mut resp: Response =
                        (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
                    for (k, v) in reply.headers {
                        resp.headers_mut().append(
                            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                            v.parse().unwrap(),
                        );
                    }
                    resp
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Recorder {
            url,
            log,
            routes,
            task,
        }
    }

    /// Scripts the reply to `method uri` (path and query, exact).
    pub fn on(&self, method: &str, uri: &str, reply: Reply) {
        self.routes
            .lock()
            .unwrap()
            .entry((method.to_string(), uri.to_string()))
            .or_default()
            .push(reply);
    }

    /// The requests received so far, clearing the log.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

/// `METHOD uri` of each request, for exact sequence assertions.
pub fn lines(reqs: &[Recorded]) -> Vec<String> {
    reqs.iter()
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect()
}

pub fn fixture(path: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A deploy hook that remembers every call.
#[derive(Default)]
pub struct RecordingHook {
    pub calls: Mutex<Vec<(String, String, String)>>,
}

impl shipdeck::demo::ci::DeployHook for RecordingHook {
    fn deploy(&self, app: &str, branch: &str, image: &str) {
        self.calls
            .lock()
            .unwrap()
            .push((app.into(), branch.into(), image.into()));
    }
}

/// A manual clock and the `ClockFn` the engine reads it through.
pub fn manual_clock() -> (shipdeck::clock::Clock, shipdeck::demo::ci::ClockFn) {
    let clock = shipdeck::clock::Clock::fixed("2026-11-27T10:00:00Z".parse().unwrap());
    let c = clock.clone();
    (clock, Arc::new(move || c.now()))
}

pub fn secs(s: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_secs(s)
}
