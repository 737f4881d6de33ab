//! Discovery (`/version`, `/api`, `/apis`, resource lists) and SelfSubjectAccessReview.
use super::handlers::Req;
use super::{Counted, Ctx, error_response, json_response, read_body};
use crate::demo::store::ApiError;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

/// Group versions served, besides core `v1`.
const GROUPS: [&str; 4] = [
    "apps",
    "networking.k8s.io",
    "events.k8s.io",
    "authorization.k8s.io",
];

const RW: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn res(
    name: &str,
    singular: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    all: bool,
) -> Value {
    let mut r = json!({
        "name": name, "singularName": singular, "namespaced": namespaced, "kind": kind,
        "verbs": RW, "storageVersionHash": "",
    });
    if !short.is_empty() {
        r["shortNames"] = json!(short);
    }
    if all {
        r["categories"] = json!(["all"]);
    }
    r
}

fn sub(name: &str, kind: &str, verbs: &[&str]) -> Value {
    json!({"name": name, "singularName": "", "namespaced": true, "kind": kind, "verbs": verbs})
}

fn scale(name: &str) -> Value {
    let mut s = sub(name, "Scale", &["get", "patch", "update"]);
    s["group"] = json!("autoscaling");
    s["version"] = json!("v1");
    s
}

fn resources(group_version: &str) -> Option<Vec<Value>> {
    let status = ["get", "patch", "update"];
    Some(match group_version {
        "v1" => vec![
            res("events", "event", "Event", true, &["ev"], false),
            res(
                "namespaces",
                "namespace",
                "Namespace",
                false,
                &["ns"],
                false,
            ),
            sub("namespaces/status", "Namespace", &status),
            res("pods", "pod", "Pod", true, &["po"], true),
            sub("pods/log", "Pod", &["get"]),
            sub("pods/proxy", "NodeProxyOptions", &["get"]),
            sub("pods/status", "Pod", &status),
            res("services", "service", "Service", true, &["svc"], true),
            sub("services/status", "Service", &status),
        ],
        "apps/v1" => vec![
            res(
                "deployments",
                "deployment",
                "Deployment",
                true,
                &["deploy"],
                true,
            ),
            scale("deployments/scale"),
            sub("deployments/status", "Deployment", &status),
            res(
                "replicasets",
                "replicaset",
                "ReplicaSet",
                true,
                &["rs"],
                true,
            ),
            scale("replicasets/scale"),
            sub("replicasets/status", "ReplicaSet", &status),
        ],
        "networking.k8s.io/v1" => vec![
            res("ingresses", "ingress", "Ingress", true, &["ing"], false),
            sub("ingresses/status", "Ingress", &status),
        ],
        // A read-only view of the core Events.
        "events.k8s.io/v1" => vec![json!({
            "name": "events", "singularName": "event", "namespaced": true, "kind": "Event",
            "verbs": ["get", "list", "watch"], "shortNames": ["ev"],
        })],
        "authorization.k8s.io/v1" => vec![json!({
            "name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview",
            "namespaced": false, "kind": "SelfSubjectAccessReview", "verbs": ["create"],
        })],
        _ => return None,
    })
}

fn version() -> Value {
    json!({
        "major": "1", "minor": "32", "gitVersion": "v1.32.0", "emulationMajor": "1", "emulationMinor": "32",
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn group_list() -> Value {
    let groups: Vec<Value> = GROUPS
        .iter()
        .map(|g| {
            let gv = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// Answers discovery paths; None for anything else.
pub fn serve(ctx: &Ctx, segs: &[&str], _headers: &HeaderMap) -> Option<Response> {
    let ok = |v: Value| Some(json_response(StatusCode::OK, &v));
    match segs {
        ["version"] => ok(version()),
        ["api"] => ok(json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ctx.bound_addr().to_string()}],
        })),
        ["apis"] => ok(group_list()),
        ["apis", g] if GROUPS.contains(g) => {
            let gv = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
            ok(
                json!({"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": [gv.clone()], "preferredVersion": gv}),
            )
        }
        ["api", "v1"] => ok(resource_list("v1")),
        ["apis", g, "v1"] if GROUPS.contains(g) => ok(resource_list(&format!("{g}/v1"))),
        ["openapi", "v3"] => ok(openapi_root()),
        ["openapi", "v3", "api", "v1"] => ok(openapi_gv("", "v1")),
        ["openapi", "v3", "apis", g, "v1"] if GROUPS.contains(g) => ok(openapi_gv(g, "v1")),
        ["healthz" | "livez" | "readyz"] => Some(axum::response::IntoResponse::into_response((
            StatusCode::OK,
            "ok",
        ))),
        _ => None,
    }
}

/// `/openapi/v3`: where each group version's document is. kubectl reads these only to learn that
/// the server validates fields itself (`fieldValidation` on PATCH), so it sends
/// `fieldValidation=Strict` instead of validating against schemas it would need to download.
fn openapi_root() -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert(
        "api/v1".into(),
        json!({"serverRelativeURL": "/openapi/v3/api/v1?hash=sim"}),
    );
    for g in GROUPS {
        paths.insert(
            format!("apis/{g}/v1"),
            json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/v1?hash=sim")}),
        );
    }
    json!({"paths": paths})
}

/// A group version's OpenAPI v3 document: one PATCH operation per kind, with its GVK and the
/// `fieldValidation` parameter; no schemas.
fn openapi_gv(group: &str, version: &str) -> Value {
    let mut paths = serde_json::Map::new();
    for k in crate::demo::store::Kind::ALL
        .into_iter()
        .filter(|k| k.group() == group)
    {
        let prefix = if group.is_empty() {
            "/api/v1".to_string()
        } else {
            format!("/apis/{group}/{version}")
        };
        let path = if k.namespaced() {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", k.plural())
        } else {
            format!("{prefix}/{}/{{name}}", k.plural())
        };
        let param = |n: &str| json!({"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
        paths.insert(path, json!({"patch": {
            "operationId": format!("patch{}", k.kind()),
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": k.kind()},
            "parameters": [param("dryRun"), param("fieldManager"), param("fieldValidation"), param("force")],
            "responses": {"200": {"description": "OK"}},
        }}));
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    })
}

fn resource_list(gv: &str) -> Value {
    json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
        "resources": resources(gv).unwrap_or_default(),
    })
}

/// POST selfsubjectaccessreviews: allowed unless `(verb, resource)` is in `denied`.
pub async fn access_review(ctx: &Ctx, req: Req) -> Response {
    if req.method != axum::http::Method::POST {
        return error_response(&ApiError::method_not_allowed(
            "only create is supported on selfsubjectaccessreviews",
        ));
    }
    ctx.count(Counted::Write);
    let body = match read_body(req.body).await {
        Ok(b) => b,
        Err(e) => return error_response(&e),
    };
    // kubectl's typed client sends this one as protobuf; kube-rs and curl send JSON.
    let decoded = if body.starts_with(b"k8s\0") {
        super::protobuf::decode_access_review(&body)
    } else {
        serde_json::from_slice(&body).ok()
    };
    let mut review = match decoded {
        Some(v @ Value::Object(_)) => v,
        _ => return error_response(&ApiError::bad_request("malformed SelfSubjectAccessReview")),
    };
    let attr = |k: &str| {
        review
            .pointer(&format!("/spec/resourceAttributes/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (verb, resource) = (attr("verb"), attr("resource"));
    let denied = ctx
        .shared
        .opts
        .denied
        .iter()
        .any(|(v, r)| (v == "*" || *v == verb) && (r == "*" || *r == resource));
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    review["status"] = if denied {
        json!({"allowed": false, "denied": true, "reason": format!("the simulated estate denies {verb} on {resource}")})
    } else {
        json!({"allowed": true, "reason": "the simulated estate allows everything"})
    };
    json_response(StatusCode::CREATED, &review)
}
