//! The simulated Cloudflare's HTTP side: routing under `/client/v4`, the envelope, pagination,
//! Cloudflare's error codes, and the tunnel configuration validation (catch-all last, else 1056).
use super::{BAD_CONFIG_MESSAGE, MAX_PER_PAGE, PREFIX, SimRequest, State, Tunnel};
use crate::backend::cloudflare::{AccessApp, DnsRecord, IngressRule, Zone};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

fn envelope(status: StatusCode, result: Value, info: Option<Value>) -> Response {
    let mut body = json!({"success": true, "errors": [], "messages": [], "result": result});
    if let Some(i) = info {
        body["result_info"] = i;
    }
    (status, axum::Json(body)).into_response()
}

fn failure(status: u16, errors: &[(i64, String)]) -> Response {
    let errors: Vec<Value> = errors
        .iter()
        .map(|(c, m)| json!({"code": c, "message": m}))
        .collect();
    let body = json!({"success": false, "errors": errors, "messages": [], "result": null});
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(body)).into_response()
}

/// Cloudflare's answer for an unknown route or identifier.
fn no_route(path: &str) -> Response {
    failure(
        400,
        &[
            (
                7003,
                format!("Could not route to {path}, perhaps your object identifier is invalid?"),
            ),
            (7000, "No route for that URI".into()),
        ],
    )
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    Some((decode(k)?, decode(v)?))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// One page of `items`: `(result, result_info)`; a bad `page`/`per_page` is a 400.
fn paginate<T: serde::Serialize>(
    items: &[T],
    q: &HashMap<String, String>,
) -> Result<(Value, Value), String> {
    let num = |k: &str, d: usize| -> Result<usize, String> {
        match q.get(k) {
            None => Ok(d),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("Invalid {k}: {v}")),
        }
    };
    let page = num("page", 1)?;
    let per_page = num("per_page", 20)?.min(MAX_PER_PAGE);
    let total = items.len();
    let start = (page - 1).saturating_mul(per_page).min(total);
    let end = (start + per_page).min(total);
    let result = serde_json::to_value(&items[start..end]).unwrap_or(Value::Null);
    let info = json!({
        "page": page, "per_page": per_page, "count": end - start,
        "total_count": total, "total_pages": total.div_ceil(per_page).max(1),
    });
    Ok((result, info))
}

pub(super) fn handle(
    state: &Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(mut st) = state.lock() else {
        return failure(500, &[(10001, "internal error".into())]);
    };
    let path = uri.path().to_string();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    st.log.push(SimRequest {
        method: method.to_string(),
        uri: uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        body: String::from_utf8_lossy(&body).to_string(),
        authorization: authorization.clone(),
    });
    if let Some(i) = st.faults.iter().position(|f| f.matches(&method, &path)) {
        let f = st.faults[i].clone();
        if f.times <= 1 {
            st.faults.remove(i);
        } else {
            st.faults[i].times -= 1;
        }
        let mut resp = failure(f.status, &f.errors);
        if let Some(s) = f.retry_after
            && let Ok(v) = s.to_string().parse()
        {
            resp.headers_mut().insert("retry-after", v);
        }
        return resp;
    }
    if let Some(token) = &st.seed.token
        && authorization.as_deref() != Some(&format!("Bearer {token}"))
    {
        return failure(401, &[(10000, "Authentication error".into())]);
    }
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return no_route(&path);
    };
    let q = query_map(&uri);
    let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
    route(&mut st, &method, &segs, &q, &body, &path)
}

fn route(
    st: &mut State,
    method: &Method,
    segs: &[&str],
    q: &HashMap<String, String>,
    body: &[u8],
    path: &str,
) -> Response {
    let ok = |r: Result<(Value, Value), String>| match r {
        Ok((result, info)) => envelope(StatusCode::OK, result, Some(info)),
        Err(e) => failure(400, &[(1001, e)]),
    };
    match (method, segs) {
        (&Method::GET, ["user", "tokens", "verify"]) => envelope(
            StatusCode::OK,
            json!({"id": "sim-token", "status": "active"}),
            None,
        ),
        (&Method::GET, ["zones"]) => {
            let zones: Vec<&Zone> = st
                .zones
                .iter()
                .filter(|z| q.get("name").is_none_or(|n| &z.name == n))
                .collect();
            ok(paginate(&zones, q))
        }
        (_, ["zones", zone, "dns_records", ..]) if !st.zones.iter().any(|z| z.id == *zone) => {
            no_route(path)
        }
        (&Method::GET, ["zones", _, "dns_records"]) => {
            let recs: Vec<&DnsRecord> = st
                .records
                .iter()
                .filter(|r| {
                    q.get("name")
                        .or_else(|| q.get("name.exact"))
                        .is_none_or(|n| &r.name == n)
                        && q.get("type").is_none_or(|t| &r.kind == t)
                })
                .collect();
            ok(paginate(&recs, q))
        }
        (&Method::DELETE, ["zones", _, "dns_records", id]) => {
            match st.records.iter().position(|r| r.id == *id) {
                Some(i) => {
                    st.records.remove(i);
                    envelope(StatusCode::OK, json!({"id": id}), None)
                }
                None => failure(404, &[(81044, "Record does not exist.".into())]),
            }
        }
        (_, ["accounts", acc, ..]) if *acc != st.seed.account_id => no_route(path),
        (_, ["accounts", _, "cfd_tunnel", tunnel, "configurations"]) => {
            let account = st.seed.account_id.clone();
            let Some(t) = st.tunnels.get_mut(*tunnel) else {
                return no_route(path);
            };
            match *method {
                Method::GET => envelope(StatusCode::OK, tunnel_result(&account, tunnel, t), None),
                Method::PUT => put_tunnel(&account, tunnel, t, body),
                _ => no_route(path),
            }
        }
        (&Method::GET, ["accounts", _, "access", "apps"]) => {
            let apps: Vec<&AccessApp> = st
                .access
                .iter()
                .filter(|a| {
                    q.get("domain").is_none_or(|d| a.domain.as_ref() == Some(d))
                        && q.get("name").is_none_or(|n| &a.name == n)
                })
                .collect();
            ok(paginate(&apps, q))
        }
        (&Method::DELETE, ["accounts", _, "access", "apps", id]) => {
            match st.access.iter().position(|a| a.id == *id) {
                Some(i) => {
                    st.access.remove(i);
                    envelope(StatusCode::ACCEPTED, json!({"id": id}), None)
                }
                // Unconfirmed code; the status is what callers branch on.
                None => failure(404, &[(12130, "access.api.error.not_found".into())]),
            }
        }
        _ => no_route(path),
    }
}

fn tunnel_result(account: &str, tunnel: &str, t: &Tunnel) -> Value {
    json!({
        "tunnel_id": tunnel, "account_id": account, "version": t.version,
        "source": t.source, "created_at": "2026-01-05T10:00:00Z", "config": t.config,
    })
}

/// Replaces the whole document after cloudflared's validation: the last rule must be a catch-all.
fn put_tunnel(account: &str, tunnel: &str, t: &mut Tunnel, body: &[u8]) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return failure(400, &[(1001, "Invalid JSON body".into())]);
    };
    let Some(config) = v.get("config").filter(|c| c.is_object()) else {
        return failure(400, &[(1055, "Missing config".into())]);
    };
    let rules: Result<Vec<IngressRule>, _> = serde_json::from_value(
        config
            .get("ingress")
            .cloned()
            .unwrap_or(Value::Array(vec![])),
    );
    let Ok(rules) = rules else {
        return failure(
            400,
            &[(1056, "Bad Configuration: invalid ingress rule".into())],
        );
    };
    if !rules.last().is_some_and(IngressRule::is_catch_all) {
        return failure(400, &[(1056, BAD_CONFIG_MESSAGE.into())]);
    }
    t.version += 1;
    t.config = config.clone();
    envelope(StatusCode::OK, tunnel_result(account, tunnel, t), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        assert_eq!(
            decode("web.shop.example").as_deref(),
            Some("web.shop.example")
        );
        assert_eq!(decode("a%2Fb+c").as_deref(), Some("a/b c"));
        assert_eq!(decode("%4").as_deref(), Some("%4"));
    }
}
