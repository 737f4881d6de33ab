//! Hostile input: every bad request gets the right Status and leaves the store unchanged.
use crate::support::*;
use serde_json::{Value, json};
use shipdeck::demo::store::{Kind, Store};

const DEPLOY: &str = "/apis/apps/v1/namespaces/shop/deployments";

/// Everything in the store plus its resourceVersion.
fn snapshot(store: &Store) -> (Vec<Value>, u64) {
    let all: Vec<Value> = Kind::ALL
        .into_iter()
        .flat_map(|k| store.list(k, None).0)
        .collect();
    (all, store.resource_version())
}

struct Hostile {
    t: TestApi,
    http: reqwest::Client,
}

impl Hostile {
    async fn new() -> Hostile {
        let store = test_store();
        seed_namespace(&store, "shop");
        seed_deployment(&store, "shop", "web", "registry.local/shop/web:1.0", 3);
        shipdeck::install_crypto();
        Hostile {
            t: start_api(store).await,
            http: reqwest::Client::new(),
        }
    }

    /// Sends a request and checks it fails with `code`/`reason` without touching the store.
    async fn rejects(
        &self,
        method: &str,
        path: &str,
        ct: Option<&str>,
        body: Vec<u8>,
        code: u16,
        reason: &str,
    ) -> Value {
        let before = snapshot(&self.t.store);
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(m, format!("{}{path}", self.t.url()))
            .body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.expect("a Status body");
        assert_eq!(
            (status, v["code"].as_u64()),
            (code, Some(u64::from(code))),
            "{method} {path}: {v}"
        );
        assert_eq!(
            (v["kind"].as_str(), v["status"].as_str()),
            (Some("Status"), Some("Failure")),
            "{v}"
        );
        assert_eq!(v["reason"], reason, "{v}");
        assert_eq!(
            snapshot(&self.t.store),
            before,
            "{method} {path} changed the store"
        );
        v
    }
}

fn patch_path() -> String {
    format!("{DEPLOY}/web")
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let h = Hostile::new().await;
    let json = Some("application/json");
    h.rejects(
        "POST",
        DEPLOY,
        json,
        b"{\"metadata\": ".to_vec(),
        400,
        "BadRequest",
    )
    .await;
    h.rejects("POST", DEPLOY, json, b"[1,2]".to_vec(), 400, "BadRequest")
        .await;
    h.rejects(
        "POST",
        DEPLOY,
        json,
        vec![0xff, 0xfe, 0x00],
        400,
        "BadRequest",
    )
    .await;
    h.rejects(
        "PUT",
        &patch_path(),
        json,
        b"nope".to_vec(),
        400,
        "BadRequest",
    )
    .await;
    let merge = Some("application/merge-patch+json");
    h.rejects(
        "PATCH",
        &patch_path(),
        merge,
        b"{".to_vec(),
        400,
        "BadRequest",
    )
    .await;
    h.rejects(
        "PATCH",
        &patch_path(),
        merge,
        b"[]".to_vec(),
        400,
        "BadRequest",
    )
    .await;
    let jp = Some("application/json-patch+json");
    h.rejects(
        "PATCH",
        &patch_path(),
        jp,
        br#"{"op":"add"}"#.to_vec(),
        400,
        "BadRequest",
    )
    .await;
    let apply = format!("{}?fieldManager=x", patch_path());
    h.rejects(
        "PATCH",
        &apply,
        Some("application/apply-patch+yaml"),
        b"a: [b".to_vec(),
        400,
        "BadRequest",
    )
    .await;
    // Nesting past serde's recursion limit is a parse error, not a stack overflow.
    let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    h.rejects(
        "PATCH",
        &patch_path(),
        merge,
        deep.into_bytes(),
        400,
        "BadRequest",
    )
    .await;
    // A body naming another object than the URL.
    let mut other = deployment("shop", "other", "img:1", 1);
    other["metadata"]["resourceVersion"] = json!("1");
    h.rejects(
        "PUT",
        &patch_path(),
        json,
        other.to_string().into_bytes(),
        400,
        "BadRequest",
    )
    .await;
    h.rejects(
        "GET",
        &format!("{DEPLOY}?labelSelector=app%20in%20web"),
        None,
        vec![],
        400,
        "BadRequest",
    )
    .await;
    h.rejects(
        "GET",
        &format!("{DEPLOY}?limit=2&continue=zz"),
        None,
        vec![],
        400,
        "BadRequest",
    )
    .await;
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let h = Hostile::new().await;
    let body = br#"{"spec":{"replicas":1}}"#.to_vec();
    h.rejects(
        "PATCH",
        &patch_path(),
        Some("application/json"),
        body.clone(),
        415,
        "UnsupportedMediaType",
    )
    .await;
    h.rejects(
        "PATCH",
        &patch_path(),
        Some("text/plain"),
        body.clone(),
        415,
        "UnsupportedMediaType",
    )
    .await;
    h.rejects(
        "PATCH",
        &patch_path(),
        None,
        body,
        415,
        "UnsupportedMediaType",
    )
    .await;
}

#[tokio::test]
async fn huge_body_is_413() {
    let h = Hostile::new().await;
    let mut d = deployment("shop", "big", "img:1", 1);
    d["metadata"]["annotations"] = json!({"blob": "x".repeat(4 * 1024 * 1024)});
    let body = d.to_string().into_bytes();
    h.rejects(
        "POST",
        DEPLOY,
        Some("application/json"),
        body.clone(),
        413,
        "RequestEntityTooLarge",
    )
    .await;
    h.rejects(
        "PUT",
        &patch_path(),
        Some("application/json"),
        body,
        413,
        "RequestEntityTooLarge",
    )
    .await;
}

#[tokio::test]
async fn unknown_fields_are_dropped_with_a_warning_or_rejected_when_strict() {
    let h = Hostile::new().await;
    let mut d = deployment("shop", "extra", "img:1", 1);
    d["spec"]["bogus"] = json!(true);
    d["surprise"] = json!(1);
    let strict = format!("{DEPLOY}?fieldValidation=Strict");
    let v = h
        .rejects(
            "POST",
            &strict,
            Some("application/json"),
            d.to_string().into_bytes(),
            400,
            "BadRequest",
        )
        .await;
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"spec.bogus\""),
        "{v}"
    );
    let resp = h
        .http
        .post(format!("{}{DEPLOY}", h.t.url()))
        .header("content-type", "application/json")
        .body(d.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let warnings: Vec<String> = resp
        .headers()
        .get_all("warning")
        .iter()
        .map(|w| w.to_str().unwrap().to_string())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    let stored = h.t.store.get(Kind::Deployment, "shop", "extra").unwrap();
    assert!(stored["spec"].get("bogus").is_none() && stored.get("surprise").is_none());
}

#[tokio::test]
async fn invalid_patches_are_422_and_change_nothing() {
    let h = Hostile::new().await;
    let jp = Some("application/json-patch+json");
    let cases: [&str; 5] = [
        r#"[{"op":"replace","path":"/spec/nope/x","value":1}]"#,
        r#"[{"op":"remove","path":"/spec/template/spec/containers/7"}]"#,
        r#"[{"op":"test","path":"/spec/replicas","value":42}]"#,
        r#"[{"op":"replace","path":"/spec/replicas","value":2},{"op":"remove","path":"/metadata"}]"#,
        r#"[{"op":"replace","path":"/spec/replicas","value":-3}]"#,
    ];
    for body in cases {
        h.rejects(
            "PATCH",
            &patch_path(),
            jp,
            body.as_bytes().to_vec(),
            422,
            "Invalid",
        )
        .await;
    }
    let v = h
        .rejects(
            "PATCH",
            &patch_path(),
            Some("application/merge-patch+json"),
            br#"{"spec":{"template":{"spec":{"containers":[{"name":"web"}]}}}}"#.to_vec(),
            422,
            "Invalid",
        )
        .await;
    assert_eq!(
        v["details"]["causes"][0]["field"], "spec.template.spec.containers[0].image",
        "{v}"
    );
    // Server-side apply without a fieldManager.
    let apply = Some("application/apply-patch+yaml");
    h.rejects(
        "PATCH",
        &patch_path(),
        apply,
        b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n".to_vec(),
        422,
        "Invalid",
    )
    .await;
    // Scale below zero.
    let scale = format!("{}/scale", patch_path());
    h.rejects(
        "PATCH",
        &scale,
        Some("application/merge-patch+json"),
        br#"{"spec":{"replicas":-1}}"#.to_vec(),
        422,
        "Invalid",
    )
    .await;
}

#[tokio::test]
async fn unknown_paths_and_objects_are_404_and_stale_writes_409() {
    let h = Hostile::new().await;
    h.rejects(
        "GET",
        "/apis/apps/v1/namespaces/shop/widgets",
        None,
        vec![],
        404,
        "NotFound",
    )
    .await;
    h.rejects(
        "GET",
        "/apis/nope.io/v1/things",
        None,
        vec![],
        404,
        "NotFound",
    )
    .await;
    h.rejects(
        "GET",
        "/api/v1/namespaces/shop/pods/x/exec",
        None,
        vec![],
        404,
        "NotFound",
    )
    .await;
    h.rejects(
        "GET",
        &format!("{DEPLOY}/missing"),
        None,
        vec![],
        404,
        "NotFound",
    )
    .await;
    h.rejects(
        "DELETE",
        &format!("{DEPLOY}/missing"),
        None,
        vec![],
        404,
        "NotFound",
    )
    .await;
    let d = deployment("nowhere", "x", "img:1", 1)
        .to_string()
        .into_bytes();
    h.rejects(
        "POST",
        "/apis/apps/v1/namespaces/nowhere/deployments",
        Some("application/json"),
        d,
        404,
        "NotFound",
    )
    .await;
    let mut stale = h.t.store.get(Kind::Deployment, "shop", "web").unwrap();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["spec"]["replicas"] = json!(1);
    h.rejects(
        "PUT",
        &patch_path(),
        Some("application/json"),
        stale.to_string().into_bytes(),
        409,
        "Conflict",
    )
    .await;
    let dup = deployment("shop", "web", "img:1", 1)
        .to_string()
        .into_bytes();
    h.rejects(
        "POST",
        DEPLOY,
        Some("application/json"),
        dup,
        409,
        "AlreadyExists",
    )
    .await;
}
