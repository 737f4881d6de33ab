//! Resource paths: routing of `/api/v1/...` and `/apis/{group}/v1/...`, get and list (with
//! selectors, pagination and Tables); writes live in `writes.rs`.
use super::select::{Filter, Query, decode_continue, encode_continue};
use super::watch::{self, WatchReq};
use super::{Counted, Ctx, error_response, events_v1, json_response, logs, proxy, table, writes};
use crate::demo::store::{ApiError, Kind, RawObject};
use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

/// A request with its path already taken apart.
pub struct Req {
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Query,
    pub body: Body,
}

/// What a resource path names.
pub struct Target {
    pub kind: Kind,
    /// The namespace in the path (None: cluster-scoped or all namespaces).
    pub ns: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
    /// events.k8s.io/v1: a read-only view of the core Events.
    pub events_v1: bool,
}

fn not_found_path() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

fn resolve(group: &str, rest: &[&str]) -> Result<Target, ApiError> {
    let events_v1 = group == "events.k8s.io";
    let kind = |plural: &str| match (events_v1, plural) {
        (true, "events") => Ok(Kind::Event),
        _ => Kind::from_group_plural(group, plural).ok_or_else(not_found_path),
    };
    let t = |kind: Kind, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| Target {
        kind,
        ns: ns.map(str::to_string),
        name: name.map(str::to_string),
        sub: sub.map(str::to_string),
        events_v1,
    };
    let target = match rest {
        [plural] => t(kind(plural)?, None, None, None),
        ["namespaces", name] if group.is_empty() => t(Kind::Namespace, None, Some(name), None),
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            t(Kind::Namespace, None, Some(name), Some(sub))
        }
        ["namespaces", ns, plural] => t(kind(plural)?, Some(ns), None, None),
        ["namespaces", ns, plural, name] => t(kind(plural)?, Some(ns), Some(name), None),
        ["namespaces", ns, plural, name, sub] => t(kind(plural)?, Some(ns), Some(name), Some(sub)),
        _ => return Err(not_found_path()),
    };
    // A namespaced kind without a namespace is only a collection (the all-namespaces list).
    if (target.kind.namespaced() && target.ns.is_none() && target.name.is_some())
        || (!target.kind.namespaced() && target.ns.is_some())
    {
        return Err(not_found_path());
    }
    let sub_ok = match (target.kind, target.sub.as_deref()) {
        (_, None) => true,
        (Kind::Deployment | Kind::ReplicaSet, Some("scale")) => true,
        (Kind::Pod, Some("log")) => true,
        (Kind::Event, Some("status")) => false,
        (_, Some("status")) => true,
        _ => false,
    };
    if !sub_ok {
        return Err(not_found_path());
    }
    Ok(target)
}

pub async fn route(ctx: &Ctx, group: &str, rest: &[&str], req: Req) -> Response {
    if let ("", ["namespaces", ns, "pods", target, "proxy", tail @ ..]) = (group, rest) {
        if req.method != Method::GET {
            return error_response(&ApiError::method_not_allowed("only GET is proxied to pods"));
        }
        ctx.count(Counted::Get);
        return proxy::serve(ctx, ns, target, &format!("/{}", tail.join("/")));
    }
    let t = match resolve(group, rest) {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    let m = req.method.clone();
    if t.events_v1 && (m != Method::GET || t.sub.is_some()) {
        return error_response(&ApiError::method_not_allowed(
            "events.k8s.io/v1 is served read-only here; write core/v1 Events",
        ));
    }
    let result = match (&t.name, t.sub.as_deref(), m) {
        (None, _, Method::GET) if req.query.flag("watch") => {
            ctx.count(Counted::Watch);
            return start_watch(ctx, t, &req);
        }
        (None, _, Method::GET) => {
            ctx.count(Counted::List);
            list(ctx, &t, &req)
        }
        (None, _, Method::POST) => writes::create(ctx, &t, req).await,
        (None, _, Method::DELETE) => writes::delete_collection(ctx, &t, req).await,
        (Some(name), Some("log"), Method::GET) => {
            ctx.count(Counted::Get);
            let ns = t.ns.clone().unwrap_or_default();
            return logs::serve(ctx, &ns, name, &req.query).await;
        }
        (Some(_), Some("scale"), Method::GET) => {
            ctx.count(Counted::Get);
            writes::get_scale(ctx, &t)
        }
        (Some(_), _, Method::GET) => {
            ctx.count(Counted::Get);
            get(ctx, &t, &req)
        }
        (Some(_), Some("scale"), Method::PUT | Method::PATCH) => {
            writes::write_scale(ctx, &t, req).await
        }
        (Some(_), _, Method::PUT) => writes::update(ctx, &t, req).await,
        (Some(_), _, Method::PATCH) => writes::patch(ctx, &t, req).await,
        (Some(_), None, Method::DELETE) => writes::delete(ctx, &t, req).await,
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({})",
            req.method
        ))),
    };
    match result {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

fn get(ctx: &Ctx, t: &Target, req: &Req) -> Result<Response, ApiError> {
    let name = t.name.as_deref().unwrap_or("");
    let raw = ctx
        .shared
        .store
        .get_raw(t.kind, t.ns.as_deref().unwrap_or(""), name)
        .ok_or_else(|| ApiError::not_found(&t.kind.resource(), name))?;
    if t.events_v1 || table::wants_table(&req.headers) {
        let mut obj: Value = serde_json::from_slice(&raw).unwrap_or_default();
        if t.events_v1 {
            obj = events_v1::convert(&obj);
        }
        if !table::wants_table(&req.headers) {
            return Ok(json_response(StatusCode::OK, &obj));
        }
        let now = ctx.shared.store.now();
        let row = table::row(t.kind, &obj, now, req.query.get("includeObject"));
        let rv = obj.pointer("/metadata/resourceVersion").cloned();
        return Ok(json_response(
            StatusCode::OK,
            &table::table(t.kind, vec![row], json!({"resourceVersion": rv})),
        ));
    }
    Ok(raw_json(raw))
}

fn start_watch(ctx: &Ctx, t: Target, req: &Req) -> Response {
    let filter = match Filter::from_query(&req.query) {
        Ok(f) => f,
        Err(e) => return error_response(&e),
    };
    let table = table::wants_table(&req.headers)
        .then(|| req.query.get("includeObject").map(str::to_string));
    let w = WatchReq {
        kind: t.kind,
        ns: t.ns,
        filter,
        table,
        events_v1: t.events_v1,
    };
    watch::serve(ctx, w, &req.query)
}

/// One page of a list: the matching items after the continue key, up to `limit`; the continue
/// token when more match, and how many more.
pub fn page(
    items: &[RawObject],
    filter: &Filter,
    after: Option<(String, String)>,
    limit: Option<u64>,
) -> (Vec<RawObject>, Option<String>, usize) {
    let start = match &after {
        Some((ns, name)) => items
            .partition_point(|o| (&*o.namespace, o.name.as_str()) <= (ns.as_str(), name.as_str())),
        None => 0,
    };
    let limit = limit
        .filter(|l| *l > 0)
        .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let all = filter.is_empty();
    let mut matching = items[start..]
        .iter()
        .filter(|o| all || filter.matches(&o.parse()));
    let out: Vec<RawObject> = matching.by_ref().take(limit).cloned().collect();
    let remaining = matching.count();
    let token = (remaining > 0)
        .then(|| out.last().map(|o| encode_continue(&o.namespace, &o.name)))
        .flatten();
    (out, token, remaining)
}

fn list(ctx: &Ctx, t: &Target, req: &Req) -> Result<Response, ApiError> {
    let q = &req.query;
    let filter = Filter::from_query(q)?;
    let after = q
        .get("continue")
        .filter(|c| !c.is_empty())
        .map(decode_continue)
        .transpose()?;
    let limit = q.u64("limit")?;
    let (mut items, rv) = ctx.shared.store.list_raw(t.kind, t.ns.as_deref());
    if t.events_v1 {
        for o in &mut items {
            let v = events_v1::convert(&o.parse());
            o.json = serde_json::to_vec(&v).unwrap_or_default().into();
        }
    }
    let (items, token, remaining) = page(&items, &filter, after, limit);
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(tok) = token {
        metadata["continue"] = json!(tok);
        metadata["remainingItemCount"] = json!(remaining);
    }
    if table::wants_table(&req.headers) {
        let now = ctx.shared.store.now();
        let include = q.get("includeObject");
        let rows = items
            .iter()
            .map(|o| table::row(t.kind, &o.parse(), now, include))
            .collect();
        return Ok(json_response(
            StatusCode::OK,
            &table::table(t.kind, rows, metadata),
        ));
    }
    // The stored bytes go out as they are.
    let api_version = if t.events_v1 {
        "events.k8s.io/v1"
    } else {
        t.kind.api_version()
    };
    let head = json!({
        "kind": format!("{}List", t.kind.kind()),
        "apiVersion": api_version,
        "metadata": metadata,
    });
    let mut body = serde_json::to_vec(&head).map_err(|e| ApiError::internal(e.to_string()))?;
    body.pop(); // the closing brace
    let size: usize = items.iter().map(|o| o.json.len() + 1).sum();
    body.reserve(size + 16);
    body.extend_from_slice(b",\"items\":[");
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&o.json);
    }
    body.extend_from_slice(b"]}");
    Ok(raw_json(body))
}

/// A 200 response with a JSON body already encoded.
pub fn raw_json(body: impl Into<Body>) -> Response {
    axum::response::IntoResponse::into_response((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.into(),
    ))
}
