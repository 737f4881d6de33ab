//! Writes: create, update (PUT), patch (four content types), delete, deletecollection, the
//! `status` and `scale` subresources. Every write honours `dryRun=All` and `fieldManager`, and
//! leaves the store unchanged when it fails.
use super::handlers::{Req, Target};
use super::patch::{self, PatchType};
use super::protobuf;
use super::select::Filter;
use super::{Counted, Ctx, fields, json_response, read_body};
use crate::demo::store::{ApiError, Kind, WriteOptions};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

/// A create/update body: JSON, or protobuf from kubectl's typed clients.
fn parse_object(req_ct: Option<&str>, kind: Kind, body: &[u8]) -> Result<Value, ApiError> {
    if protobuf::is_protobuf(req_ct, body) {
        return protobuf::decode(kind, body);
    }
    parse_json(body)
}

fn content_type(req: &Req) -> Option<String> {
    req.headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!(
            "the object provided is unrecognized: {e}"
        ))),
    }
}

/// The manager: `fieldManager`, else the User-Agent's program name (as the apiserver does).
fn options(req: &Req, sub: Option<&str>) -> WriteOptions {
    let manager = req
        .query
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .or_else(|| {
            req.headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .and_then(|ua| ua.split('/').next())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        });
    WriteOptions {
        field_manager: manager,
        dry_run: req.query.dry_run(),
        subresource: sub.map(str::to_string),
        ..Default::default()
    }
}

fn respond(code: StatusCode, obj: &Value, warnings: &[String]) -> Response {
    let mut r = json_response(code, obj);
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "'"));
        if let Ok(v) = HeaderValue::from_str(&text) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    r
}

fn names(t: &Target) -> (&str, &str) {
    (
        t.ns.as_deref().unwrap_or(""),
        t.name.as_deref().unwrap_or(""),
    )
}

/// Kinds whose status a write to the main resource must not change.
fn has_status(kind: Kind) -> bool {
    kind != Kind::Event
}

/// Sets the path's namespace on the object (400 when the body names another).
fn set_namespace(t: &Target, obj: &mut Value) -> Result<(), ApiError> {
    let Some(ns) = t.ns.as_deref().filter(|_| t.kind.namespaced()) else {
        return Ok(());
    };
    match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(b) if !b.is_empty() && b != ns => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                md.insert("namespace".into(), json!(ns));
            }
            Ok(())
        }
    }
}

fn require_namespace(ctx: &Ctx, t: &Target) -> Result<(), ApiError> {
    match t.ns.as_deref() {
        Some(ns) if t.kind.namespaced() && !ctx.shared.store.contains(Kind::Namespace, "", ns) => {
            Err(ApiError::not_found("namespaces", ns))
        }
        _ => Ok(()),
    }
}

pub async fn create(ctx: &Ctx, t: &Target, req: Req) -> Result<Response, ApiError> {
    ctx.count(Counted::Write);
    if t.kind.namespaced() && t.ns.is_none() {
        return Err(ApiError::method_not_allowed(
            "create needs a namespace in the path",
        ));
    }
    let opts = options(&req, None);
    let validation = req.query.get("fieldValidation").map(str::to_string);
    let ct = content_type(&req);
    let mut obj = parse_object(ct.as_deref(), t.kind, &read_body(req.body).await?)?;
    let warnings = fields::enforce(t.kind, &mut obj, validation.as_deref())?;
    set_namespace(t, &mut obj)?;
    require_namespace(ctx, t)?;
    let created = ctx.shared.store.create_with(t.kind, obj, &opts)?;
    Ok(respond(StatusCode::CREATED, &created, &warnings))
}

/// Checks a client's resourceVersion (if any) against the current object.
fn check_rv(t: &Target, cur: &Value, sent: Option<&Value>) -> Result<(), ApiError> {
    match sent.and_then(Value::as_str).filter(|s| !s.is_empty()) {
        Some(rv)
            if cur
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                != Some(rv) =>
        {
            Err(ApiError::conflict(&t.kind.resource(), names(t).1))
        }
        _ => Ok(()),
    }
}

/// Builds the stored object from the current one and the written one: a write to the main
/// resource keeps the current status; a write to `status` keeps everything but the status.
fn combine(t: &Target, cur: &Value, mut new: Value) -> Value {
    if t.sub.as_deref() == Some("status") {
        let mut out = cur.clone();
        match new.get_mut("status").map(Value::take) {
            Some(s) => out["status"] = s,
            None => {
                if let Some(o) = out.as_object_mut() {
                    o.remove("status");
                }
            }
        }
        return out;
    }
    if has_status(t.kind)
        && let Some(o) = new.as_object_mut()
    {
        match cur.get("status") {
            Some(s) => o.insert("status".into(), s.clone()),
            None => o.remove("status"),
        };
    }
    new
}

pub async fn update(ctx: &Ctx, t: &Target, req: Req) -> Result<Response, ApiError> {
    ctx.count(Counted::Write);
    let opts = options(&req, t.sub.as_deref());
    let validation = req.query.get("fieldValidation").map(str::to_string);
    let ct = content_type(&req);
    let mut obj = parse_object(ct.as_deref(), t.kind, &read_body(req.body).await?)?;
    let warnings = fields::enforce(t.kind, &mut obj, validation.as_deref())?;
    let (ns, name) = names(t);
    match obj.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) if n != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        Some(_) => {}
        None => {
            if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                md.insert("name".into(), json!(name));
            }
        }
    }
    set_namespace(t, &mut obj)?;
    let updated = ctx
        .shared
        .store
        .modify_with(t.kind, ns, name, &opts, |cur| {
            check_rv(t, cur, obj.pointer("/metadata/resourceVersion"))?;
            *cur = combine(t, cur, obj);
            Ok(())
        })?;
    Ok(respond(StatusCode::OK, &updated, &warnings))
}

pub async fn patch(ctx: &Ctx, t: &Target, req: Req) -> Result<Response, ApiError> {
    ctx.count(Counted::Write);
    let ct = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let pt = patch::patch_type(ct)?;
    let mut opts = options(&req, t.sub.as_deref());
    let validation = req.query.get("fieldValidation").map(str::to_string);
    let body = read_body(req.body).await?;
    let parsed = patch::parse(pt, &body)?;
    let (ns, name) = names(t);
    let kind_name = format!(
        "{}{}",
        t.kind.kind(),
        if t.kind.group().is_empty() {
            String::new()
        } else {
            format!(".{}", t.kind.group())
        }
    );
    if pt == PatchType::Apply {
        if req.query.get("fieldManager").is_none_or(str::is_empty) {
            return Err(ApiError::invalid(
                "PatchOptions.meta.k8s.io",
                "",
                &[(
                    "fieldManager".into(),
                    "Required value: is required for apply patch".into(),
                )],
            ));
        }
        opts.apply = true;
        if let patch::Parsed::Doc(doc) = &parsed {
            check_apply_body(t, doc)?;
            let exists = ctx.shared.store.contains(t.kind, ns, name);
            if !exists && t.sub.is_none() {
                // Server-side apply creates what does not exist yet.
                let mut obj = doc.clone();
                let warnings = fields::enforce(t.kind, &mut obj, validation.as_deref())?;
                set_namespace(t, &mut obj)?;
                require_namespace(ctx, t)?;
                let created = ctx.shared.store.create_with(t.kind, obj, &opts)?;
                return Ok(respond(StatusCode::CREATED, &created, &warnings));
            }
        }
    }
    let mut warnings = Vec::new();
    let updated = ctx
        .shared
        .store
        .modify_with(t.kind, ns, name, &opts, |cur| {
            let mut doc = cur.clone();
            patch::apply(pt, &mut doc, &parsed, &kind_name, name)?;
            warnings = fields::enforce(t.kind, &mut doc, validation.as_deref())?;
            check_rv(t, cur, doc.pointer("/metadata/resourceVersion"))?;
            *cur = combine(t, cur, doc);
            Ok(())
        })?;
    Ok(respond(StatusCode::OK, &updated, &warnings))
}

fn check_apply_body(t: &Target, doc: &Value) -> Result<(), ApiError> {
    let s = |p: &str| doc.pointer(p).and_then(Value::as_str).unwrap_or("");
    if s("/apiVersion").is_empty() || s("/kind").is_empty() {
        return Err(ApiError::bad_request(
            "apiVersion and kind must be set in an apply patch",
        ));
    }
    if s("/metadata/name") != names(t).1 {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({})",
            s("/metadata/name"),
            names(t).1
        )));
    }
    Ok(())
}

/// `propagationPolicy` from the query or the DeleteOptions body.
async fn delete_options(req: Req) -> Result<WriteOptions, ApiError> {
    let mut opts = options(&req, None);
    let body = read_body(req.body).await?;
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        parse_json(&body)?
    };
    let policy = req
        .query
        .get("propagationPolicy")
        .map(str::to_string)
        .or_else(|| {
            from_body
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    opts.orphan = policy.as_deref() == Some("Orphan");
    let dry = from_body.get("dryRun").and_then(Value::as_array);
    if dry.is_some_and(|d| d.iter().any(|x| x == "All")) {
        opts.dry_run = true;
    }
    Ok(opts)
}

pub async fn delete(ctx: &Ctx, t: &Target, req: Req) -> Result<Response, ApiError> {
    ctx.count(Counted::Write);
    let opts = delete_options(req).await?;
    let (ns, name) = names(t);
    let gone = ctx.shared.store.delete_with(t.kind, ns, name, &opts)?;
    Ok(json_response(StatusCode::OK, &gone))
}

pub async fn delete_collection(ctx: &Ctx, t: &Target, req: Req) -> Result<Response, ApiError> {
    ctx.count(Counted::Write);
    let filter = Filter::from_query(&req.query)?;
    let opts = delete_options(req).await?;
    let store = &ctx.shared.store;
    let (items, _) = store.list_arc(t.kind, t.ns.as_deref());
    let mut deleted = Vec::new();
    for o in items.iter().filter(|o| filter.matches(o)) {
        let s = |p: &str| {
            o.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        if let Ok(v) = store.delete_with(
            t.kind,
            &s("/metadata/namespace"),
            &s("/metadata/name"),
            &opts,
        ) {
            deleted.push(v);
        }
    }
    let list = json!({
        "kind": format!("{}List", t.kind.kind()), "apiVersion": t.kind.api_version(),
        "metadata": {"resourceVersion": store.resource_version().to_string()}, "items": deleted,
    });
    Ok(json_response(StatusCode::OK, &list))
}

/// The autoscaling/v1 Scale view of a Deployment or ReplicaSet.
fn scale_of(o: &Value) -> Value {
    let md = |k: &str| {
        o.pointer(&format!("/metadata/{k}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let selector = o
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": md("name"), "namespace": md("namespace"), "uid": md("uid"),
            "resourceVersion": md("resourceVersion"), "creationTimestamp": md("creationTimestamp")},
        "spec": {"replicas": o.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
        "status": {"replicas": o.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0), "selector": selector},
    })
}

pub fn get_scale(ctx: &Ctx, t: &Target) -> Result<Response, ApiError> {
    let (ns, name) = names(t);
    let o = ctx
        .shared
        .store
        .get_arc(t.kind, ns, name)
        .ok_or_else(|| ApiError::not_found(&t.kind.resource(), name))?;
    Ok(json_response(StatusCode::OK, &scale_of(&o)))
}

/// PUT (a Scale body, Content-Type optional: kubectl sends none) or PATCH of `scale`.
pub async fn write_scale(ctx: &Ctx, t: &Target, req: Req) -> Result<Response, ApiError> {
    ctx.count(Counted::Write);
    let is_patch = req.method == axum::http::Method::PATCH;
    let pt = if is_patch {
        let ct = req
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        Some(patch::patch_type(ct)?)
    } else {
        None
    };
    let opts = options(&req, Some("scale"));
    let body = read_body(req.body).await?;
    let (ns, name) = names(t);
    let parsed = match pt {
        Some(pt) => Some((pt, patch::parse(pt, &body)?)),
        None => None,
    };
    let sent = match &parsed {
        None => Some(parse_json(&body)?),
        Some(_) => None,
    };
    let updated = ctx
        .shared
        .store
        .modify_with(t.kind, ns, name, &opts, |cur| {
            let mut scale = scale_of(cur);
            match (&parsed, sent) {
                (Some((pt, p)), _) => patch::apply(*pt, &mut scale, p, "Scale.autoscaling", name)?,
                (None, Some(s)) => scale = s,
                (None, None) => {}
            }
            check_rv(t, cur, scale.pointer("/metadata/resourceVersion"))?;
            let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
            if replicas.as_i64().is_none_or(|r| r < 0) {
                return Err(ApiError::invalid(
                    "Scale.autoscaling",
                    name,
                    &[(
                        "spec.replicas".into(),
                        format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                    )],
                ));
            }
            match cur.get_mut("spec").and_then(Value::as_object_mut) {
                Some(spec) => {
                    spec.insert("replicas".into(), replicas);
                    Ok(())
                }
                None => Err(ApiError::invalid(
                    "Scale.autoscaling",
                    name,
                    &[("spec".into(), "Required value".into())],
                )),
            }
        })?;
    Ok(json_response(StatusCode::OK, &scale_of(&updated)))
}
