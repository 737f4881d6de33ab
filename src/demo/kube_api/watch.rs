//! Watches: a chunked stream of `{"type","object"}` lines from a resourceVersion (or from the
//! current state), with bookmarks, `timeoutSeconds`, 410 Expired, and Table objects for kubectl.
use super::select::{Filter, Query};
use super::{Ctx, error_response};
use super::{events_v1, table};
use crate::demo::store::{ApiError, EventType, Kind, StoreEvent};
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::SinkExt;
use futures::channel::mpsc;
use serde_json::{Value, json};
use std::collections::HashSet;
use tokio::sync::broadcast::error::RecvError;

/// What a watch request asked for.
pub struct WatchReq {
    pub kind: Kind,
    pub ns: Option<String>,
    pub filter: Filter,
    /// `Some(includeObject)` when the client wants Table objects.
    pub table: Option<Option<String>>,
    /// Objects are core Events shown as events.k8s.io/v1.
    pub events_v1: bool,
}

type Tx = mpsc::Sender<Result<bytes::Bytes, std::convert::Infallible>>;

struct Streamer {
    ctx: Ctx,
    w: WatchReq,
    tx: Tx,
    /// Every event up to here was handled (sent or filtered out).
    last: u64,
    /// With a selector: which objects the client holds, so an object that stops matching is
    /// sent as DELETED and one that starts matching as ADDED, as the apiserver does.
    sel: Option<Visibility>,
}

type Key = (String, String);

#[derive(Default)]
struct Visibility {
    visible: HashSet<Key>,
    /// False when the watch resumed from a resourceVersion: what the client holds is unknown
    /// until an object's first event here.
    complete: bool,
    decided: HashSet<Key>,
    /// On a resumed watch: the objects matching when it started. Only these may be held by the
    /// client, so only these may get a DELETED when an unknown change makes them stop matching.
    matching_at_start: HashSet<Key>,
}

impl Visibility {
    /// The event type to send for a change, or None to send nothing.
    fn classify(&mut self, key: Key, type_: EventType, matches: bool) -> Option<&'static str> {
        let unknown = !self.complete && self.decided.insert(key.clone());
        match (type_, matches) {
            (EventType::Deleted, _) => {
                let was = self.visible.remove(&key);
                (matches || was || unknown).then_some("DELETED")
            }
            (_, true) => {
                let new = self.visible.insert(key);
                Some(match (self.complete || !unknown, new) {
                    (true, true) => "ADDED",
                    (true, false) => "MODIFIED",
                    // First sight after a resume: the change as it happened.
                    (false, _) => type_.as_str(),
                })
            }
            (_, false) => {
                let was = self.visible.remove(&key);
                // Leaving the selection; or, unknown, it may have been held. An object that never
                // matched gets nothing: a spurious DELETED makes clients drop what they watch.
                let maybe_held = unknown
                    && type_ == EventType::Modified
                    && self.matching_at_start.contains(&key);
                (was || maybe_held).then_some("DELETED")
            }
        }
    }
}

fn key_of(obj: &Value) -> Key {
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}

impl Streamer {
    /// The object as this watch shows it (converted for events.k8s.io).
    fn view(&self, obj: &Value) -> Option<Value> {
        self.w.events_v1.then(|| events_v1::convert(obj))
    }

    fn in_namespace(&self, ev: &StoreEvent) -> bool {
        self.w.ns.as_deref().is_none_or(|ns| {
            ev.object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                == Some(ns)
        })
    }

    fn object(&self, obj: &Value) -> Value {
        match &self.w.table {
            None => obj.clone(),
            Some(include) => {
                let now = self.ctx.shared.store.now();
                let row = table::row(self.w.kind, obj, now, include.as_deref());
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(Value::Null);
                table::table(self.w.kind, vec![row], json!({"resourceVersion": rv}))
            }
        }
    }

    /// Sends one line; false when the client has gone.
    async fn send(&mut self, type_: &str, object: Value) -> bool {
        let mut line =
            serde_json::to_vec(&json!({"type": type_, "object": object})).unwrap_or_default();
        line.push(b'\n');
        self.tx.send(Ok(line.into())).await.is_ok()
    }

    /// Sends one line around an object already encoded.
    async fn send_raw(&mut self, type_: &str, json: &[u8]) -> bool {
        let mut line = Vec::with_capacity(json.len() + 32);
        line.extend_from_slice(format!("{{\"type\":\"{type_}\",\"object\":").as_bytes());
        line.extend_from_slice(json);
        line.extend_from_slice(b"}\n");
        self.tx.send(Ok(line.into())).await.is_ok()
    }

    async fn send_event(&mut self, ev: &StoreEvent) -> bool {
        self.last = self.last.max(ev.resource_version);
        if ev.kind != self.w.kind || !self.in_namespace(ev) {
            return true;
        }
        let view = self.view(&ev.object);
        let shown = view.as_ref().unwrap_or(&ev.object);
        let matches = self.w.filter.matches(shown);
        let type_ = match &mut self.sel {
            Some(sel) => match sel.classify(key_of(&ev.object), ev.type_, matches) {
                Some(t) => t,
                None => return true,
            },
            None if matches => ev.type_.as_str(),
            None => return true,
        };
        let obj = self.object(shown);
        self.send(type_, obj).await
    }

    async fn bookmark(&mut self, annotations: Option<Value>) -> bool {
        let mut md = json!({"resourceVersion": self.last.to_string()});
        if let Some(a) = annotations {
            md["annotations"] = a;
        }
        let obj = json!({"kind": self.w.kind.kind(), "apiVersion": self.w.kind.api_version(), "metadata": md});
        self.send("BOOKMARK", obj).await
    }

    async fn expired(&mut self, e: &ApiError) {
        self.send("ERROR", e.to_status()).await;
    }

    /// Replays history after `last`; false when it is gone (410 sent) or the client left.
    async fn replay(&mut self) -> bool {
        let kind = self.w.kind;
        match self.ctx.shared.store.events_since(self.last, kind) {
            Ok(evs) => {
                for ev in evs {
                    if !self.send_event(&ev).await {
                        return false;
                    }
                }
                true
            }
            Err(e) => {
                self.expired(&e).await;
                false
            }
        }
    }
}

/// Starts a watch; errors in the parameters come back as a plain error response.
pub fn serve(ctx: &Ctx, w: WatchReq, q: &Query) -> Response {
    let rv = match q.get("resourceVersion").filter(|s| !s.is_empty()) {
        None | Some("0") => None,
        Some(s) => match s.parse::<u64>() {
            Ok(v) => Some(v),
            Err(_) => {
                return error_response(&ApiError::bad_request(format!(
                    "invalid resource version {s:?}"
                )));
            }
        },
    };
    let timeout = match q.u64("timeoutSeconds") {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    let bookmarks = q.flag("allowWatchBookmarks");
    let initial_events = q.flag("sendInitialEvents");
    let interval = ctx.shared.opts.bookmark_interval;
    // Subscribe before reading the state, so nothing falls between the two.
    let mut rx = ctx.shared.store.subscribe();
    let (tx, body) = mpsc::channel(256);
    let mut s = Streamer {
        ctx: ctx.clone(),
        w,
        tx,
        last: 0,
        sel: None,
    };
    if !s.w.filter.is_empty() {
        s.sel = Some(Visibility::default());
    }
    tokio::spawn(async move {
        let store = s.ctx.shared.store.clone();
        match rv {
            Some(rv) if !initial_events => {
                s.last = rv;
                if s.sel.is_some() {
                    let (items, _) = store.list_raw(s.w.kind, s.w.ns.as_deref());
                    let matching: HashSet<Key> = items
                        .into_iter()
                        .map(|raw| raw.parse())
                        .map(|obj| s.view(&obj).unwrap_or(obj))
                        .filter(|obj| s.w.filter.matches(obj))
                        .map(|obj| key_of(&obj))
                        .collect();
                    if let Some(sel) = &mut s.sel {
                        sel.matching_at_start = matching;
                    }
                }
                if !s.replay().await {
                    return;
                }
            }
            _ => {
                if let Some(sel) = &mut s.sel {
                    sel.complete = true;
                }
                let (items, list_rv) = store.list_raw(s.w.kind, s.w.ns.as_deref());
                s.last = list_rv;
                let plain = s.w.filter.is_empty() && s.w.table.is_none() && !s.w.events_v1;
                for raw in items {
                    let sent = if plain {
                        s.send_raw(EventType::Added.as_str(), &raw.json).await
                    } else {
                        let parsed = raw.parse();
                        let obj = s.view(&parsed).unwrap_or(parsed);
                        if !s.w.filter.matches(&obj) {
                            continue;
                        }
                        if let Some(sel) = &mut s.sel {
                            sel.visible.insert(key_of(&obj));
                        }
                        let o = s.object(&obj);
                        s.send(EventType::Added.as_str(), o).await
                    };
                    if !sent {
                        return;
                    }
                }
                if initial_events
                    && !s
                        .bookmark(Some(json!({"k8s.io/initial-events-end": "true"})))
                        .await
                {
                    return;
                }
            }
        }
        let deadline = tokio::time::sleep(std::time::Duration::from_secs(timeout.unwrap_or(1800)));
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = s.ctx.shutdown.cancelled() => return,
                _ = &mut deadline => {
                    if bookmarks {
                        s.bookmark(None).await;
                    }
                    return;
                }
                _ = ticker.tick(), if bookmarks => {
                    if !s.bookmark(None).await {
                        return;
                    }
                }
                ev = rx.recv() => match ev {
                    Ok(ev) if ev.resource_version > s.last => {
                        if !s.send_event(&ev).await {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // Fell behind the broadcast: catch up from history (or 410).
                    Err(RecvError::Lagged(_)) => {
                        if !s.replay().await {
                            return;
                        }
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: &str) -> Key {
        ("ns".into(), n.into())
    }

    #[test]
    fn resumed_watches_pass_first_changes_through_and_then_track() {
        let mut v = Visibility::default();
        assert_eq!(
            v.classify(k("a"), EventType::Modified, true),
            Some("MODIFIED")
        );
        assert_eq!(
            v.classify(k("a"), EventType::Modified, false),
            Some("DELETED")
        );
        assert_eq!(v.classify(k("a"), EventType::Modified, false), None);
        assert_eq!(v.classify(k("a"), EventType::Modified, true), Some("ADDED"));
        // Unknown and not matching: it may have been held only if it matched when the watch began.
        v.matching_at_start.insert(k("b"));
        assert_eq!(
            v.classify(k("b"), EventType::Modified, false),
            Some("DELETED")
        );
        // Never matched: nothing (a spurious DELETED makes a client drop what it watches).
        assert_eq!(v.classify(k("d"), EventType::Modified, false), None);
        assert_eq!(v.classify(k("c"), EventType::Added, false), None);
        assert_eq!(v.classify(k("c"), EventType::Deleted, false), None);
    }
}
