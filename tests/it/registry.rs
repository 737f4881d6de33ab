//! Registry client: one contract run against the simulated registry and the real docker-registry
//! 2.8.2 (Debian package, started here on a loopback port with deletion enabled, seeded over HTTP),
//! plus token/basic auth and error bodies asserted exactly against a recorder.
#![allow(clippy::unwrap_used)] // tests may unwrap
use super::ci_support::{Recorder, Reply, fixture, lines};
use shipdeck::backend::registry::{
    MANIFEST_ACCEPT, OCI_MANIFEST, RegistryClient, RegistryConfig, RegistryError, sha256_digest,
};
use shipdeck::demo::registry::{SimRegistry, serve_registry};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A docker-registry process on 127.0.0.1:<ephemeral>, in-memory storage; killed on drop.
struct RealRegistry {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for RealRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn registry_binary() -> std::path::PathBuf {
    let candidates = ["/usr/bin/docker-registry"];
    if let Some(p) = candidates
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
    {
        return p;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("docker-registry"))
            .find(|p| p.exists())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "docker-registry not found: install the Debian package docker-registry \
             (apt-get install --no-install-recommends docker-registry)"
        )
    })
}

fn start_real(delete_enabled: bool) -> RealRegistry {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("registry.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog: {{level: info, accesslog: {{disabled: true}}}}\n\
             storage: {{inmemory: {{}}, delete: {{enabled: {delete_enabled}}}}}\n\
             http: {{addr: \"127.0.0.1:0\", secret: \"test-secret\"}}\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(registry_binary())
        .arg("serve")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn docker-registry");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Keep draining stderr for the life of the process, or it blocks once the pipe fills.
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    let port = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "docker-registry did not report its port:\n{}",
                seen.join("\n")
            )
        });
        if let Some(rest) = line.split("listening on 127.0.0.1:").nth(1) {
            let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
            break port;
        }
        seen.push(line);
    };
    RealRegistry {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}

fn client(url: &str) -> RegistryClient {
    RegistryClient::new(&RegistryConfig::new(url)).unwrap()
}

fn not_found(code: &str) -> impl Fn(&RegistryError) -> bool + '_ {
    move |e| matches!(e, RegistryError::NotFound { code: c, .. } if c == code)
}

/// The same assertions for every registry with deletion enabled.
async fn contract(url: &str) {
    let c = client(url);
    c.ping().await.unwrap();
    let base = reqwest::get(format!("{url}/v2/")).await.unwrap();
    assert_eq!(base.status(), 200);
    assert_eq!(
        base.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    assert_eq!(base.text().await.unwrap(), "{}");
    let e = c.tags("shop/none").await.unwrap_err();
    assert!(not_found("NAME_UNKNOWN")(&e), "{e:?}");

    let d1 = c.push_test_image("shop/web", "v1", "1").await.unwrap();
    let d2 = c.push_test_image("shop/web", "v2", "2").await.unwrap();
    let d10 = c.push_test_image("shop/web", "v10", "10").await.unwrap();
    assert_ne!(d1, d2);
    let m1 = c.get_manifest("shop/web", "v1").await.unwrap();
    assert_eq!(m1.info.digest, d1);
    assert_eq!(m1.info.media_type, OCI_MANIFEST);
    assert_eq!(sha256_digest(&m1.body), d1);
    // Same bytes under another tag: same digest.
    let dl = c
        .put_manifest("shop/web", "latest", OCI_MANIFEST, &m1.body)
        .await
        .unwrap();
    assert_eq!(dl, d1);

    assert_eq!(
        c.tags("shop/web").await.unwrap(),
        vec!["latest", "v1", "v2", "v10"]
    );
    // With a page size: the simulation pages with Link, 2.8.2 ignores `n`; the result is the same.
    assert_eq!(
        c.tags_paged("shop/web", Some(2)).await.unwrap(),
        vec!["latest", "v1", "v2", "v10"]
    );

    let h = c.head_manifest("shop/web", "v2").await.unwrap();
    assert_eq!(h.digest, d2);
    assert_eq!(h.media_type, OCI_MANIFEST);
    assert!(h.size.unwrap() > 100);
    assert_eq!(c.head_manifest("shop/web", &d10).await.unwrap().digest, d10);
    let e = c.head_manifest("shop/web", "nope").await.unwrap_err();
    assert!(matches!(e, RegistryError::NotFound { .. }), "{e:?}");
    let e = c.get_manifest("shop/web", "nope").await.unwrap_err();
    assert!(not_found("MANIFEST_UNKNOWN")(&e), "{e:?}");

    // Without the OCI types in Accept, an OCI manifest is "unknown".
    let raw = reqwest::Client::new()
        .get(format!("{url}/v2/shop/web/manifests/v1"))
        .header(
            "accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 404);
    assert!(raw.text().await.unwrap().contains("MANIFEST_UNKNOWN"));
    // If-None-Match with the digest's ETag → 304.
    let raw = reqwest::Client::new()
        .get(format!("{url}/v2/shop/web/manifests/v1"))
        .header("accept", MANIFEST_ACCEPT)
        .header("if-none-match", format!("\"{d1}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 304);

    let pairs = vec![
        ("shop/web".to_string(), "v1".to_string()),
        ("shop/web".to_string(), "gone".to_string()),
    ];
    let digests = c.tag_digests(&pairs).await;
    assert_eq!(digests[&pairs[0]], Ok(d1.clone()));
    assert!(matches!(
        digests[&pairs[1]],
        Err(RegistryError::NotFound { .. })
    ));

    assert!(matches!(
        c.delete_manifest("shop/web", "v2").await,
        Err(RegistryError::DigestInvalid(_))
    ));
    c.delete_manifest("shop/web", &d1).await.unwrap();
    // Deleting a digest untags every tag on it.
    assert_eq!(c.tags("shop/web").await.unwrap(), vec!["v2", "v10"]);
    assert!(c.head_manifest("shop/web", "latest").await.is_err());
    let e = c.delete_manifest("shop/web", &d1).await.unwrap_err();
    assert!(not_found("MANIFEST_UNKNOWN")(&e), "{e:?}");
    c.delete_manifest("shop/web", &d2).await.unwrap();
    c.delete_manifest("shop/web", &d10).await.unwrap();
    // `tags: null` once everything is gone.
    assert_eq!(c.tags("shop/web").await.unwrap(), Vec::<String>::new());
}

async fn contract_delete_disabled(url: &str) {
    let c = client(url);
    let d = c.push_test_image("shop/api", "v1", "a").await.unwrap();
    let e = c.delete_manifest("shop/api", &d).await.unwrap_err();
    assert!(matches!(e, RegistryError::Unsupported(_)), "{e:?}");
    assert_eq!(c.tags("shop/api").await.unwrap(), vec!["v1"]);
}

#[tokio::test]
async fn contract_simulated() {
    let s = serve_registry(SimRegistry::new(true)).await.unwrap();
    contract(s.url()).await;
    let s = serve_registry(SimRegistry::new(false)).await.unwrap();
    contract_delete_disabled(s.url()).await;
}

#[tokio::test]
async fn contract_real_docker_registry() {
    let r = start_real(true);
    contract(&r.url).await;
    let r = start_real(false);
    contract_delete_disabled(&r.url).await;
}

#[tokio::test]
async fn sim_paginates_tags_with_link_when_n_is_given() {
    let s = shipdeck::demo::registry::start_registry(&[("shop/web", &["v1", "v2", "v3"])])
        .await
        .unwrap();
    let resp = reqwest::get(format!("{}/v2/shop/web/tags/list?n=2", s.url()))
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["link"].to_str().unwrap(),
        "</v2/shop/web/tags/list?last=v2&n=2>; rel=\"next\""
    );
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"name":"shop/web","tags":["v1","v2"]}"#
    );
    let resp = reqwest::get(format!("{}/v2/shop/web/tags/list?last=v2&n=2", s.url()))
        .await
        .unwrap();
    assert!(resp.headers().get("link").is_none());
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"name":"shop/web","tags":["v3"]}"#
    );
    assert_eq!(s.registry().tags("shop/web"), vec!["v1", "v2", "v3"]);
}

#[tokio::test]
async fn link_pagination_and_client_side_sort() {
    let rec = Recorder::start().await;
    rec.on(
        "GET",
        "/v2/shop/web/tags/list",
        Reply::json(200, &fixture("registry/tags_page1.json"))
            .header("link", "</v2/shop/web/tags/list?last=v1&n=2>; rel=\"next\""),
    );
    rec.on(
        "GET",
        "/v2/shop/web/tags/list?last=v1&n=2",
        Reply::json(200, &fixture("registry/tags_page2.json")),
    );
    rec.on(
        "GET",
        "/v2/shop/api/tags/list",
        Reply::json(200, &fixture("registry/tags_null.json")),
    );
    let c = client(&rec.url);
    assert_eq!(
        c.tags("shop/web").await.unwrap(),
        vec!["latest", "v1", "v10", "v77"]
    );
    assert!(c.tags("shop/api").await.unwrap().is_empty());
    assert_eq!(
        lines(&rec.take()),
        vec![
            "GET /v2/shop/web/tags/list",
            "GET /v2/shop/web/tags/list?last=v1&n=2",
            "GET /v2/shop/api/tags/list"
        ]
    );
}

#[tokio::test]
async fn bearer_challenge_fetches_a_token_and_retries() {
    let rec = Recorder::start().await;
    let challenge = format!(
        "Bearer realm=\"{}/token\",service=\"registry.test\",scope=\"repository:shop/web:pull\"",
        rec.url
    );
    rec.on(
        "HEAD",
        "/v2/shop/web/manifests/v1",
        Reply::json(401, &fixture("registry/unauthorized_401.json"))
            .header("www-authenticate", &challenge),
    );
    rec.on(
        "HEAD",
        "/v2/shop/web/manifests/v1",
        Reply::text(200, "")
            .header("docker-content-digest", "sha256:aaaa")
            .header("content-type", OCI_MANIFEST),
    );
    rec.on(
        "GET",
        "/token?service=registry.test&scope=repository%3Ashop%2Fweb%3Apull",
        Reply::json(200, &fixture("registry/token.json")),
    );
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let mut cfg = RegistryConfig::new(&rec.url);
    cfg.username = Some("ci".into());
    cfg.password_file = Some(pw);
    let c = RegistryClient::new(&cfg).unwrap();
    assert_eq!(
        c.head_manifest("shop/web", "v1").await.unwrap().digest,
        "sha256:aaaa"
    );
    let reqs = rec.take();
    assert_eq!(
        lines(&reqs),
        vec![
            "HEAD /v2/shop/web/manifests/v1",
            "GET /token?service=registry.test&scope=repository%3Ashop%2Fweb%3Apull",
            "HEAD /v2/shop/web/manifests/v1",
        ]
    );
    assert_eq!(reqs[0].header("accept"), Some(MANIFEST_ACCEPT));
    assert_eq!(reqs[0].header("authorization"), Some("Basic Y2k6czNjcmV0")); // ci:s3cret
    assert_eq!(reqs[1].header("authorization"), Some("Basic Y2k6czNjcmV0"));
    assert_eq!(
        reqs[2].header("authorization"),
        Some("Bearer eyJhbGciOiJSUzI1NiJ9.sim")
    );
    assert_eq!(reqs[2].header("accept"), Some(MANIFEST_ACCEPT));
    // The token is reused.
    c.head_manifest("shop/web", "v1").await.unwrap();
    let reqs = rec.take();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].header("authorization"),
        Some("Bearer eyJhbGciOiJSUzI1NiJ9.sim")
    );
}

#[tokio::test]
async fn error_bodies_become_typed_errors() {
    let rec = Recorder::start().await;
    let c = client(&rec.url);
    rec.on(
        "DELETE",
        "/v2/shop/web/manifests/sha256:1111",
        Reply::json(405, &fixture("registry/unsupported_405.json")),
    );
    assert_eq!(
        c.delete_manifest("shop/web", "sha256:1111").await,
        Err(RegistryError::Unsupported(
            "The operation is unsupported.".into()
        ))
    );
    rec.on(
        "GET",
        "/v2/shop/web/manifests/nope",
        Reply::json(404, &fixture("registry/manifest_unknown_404.json")),
    );
    assert_eq!(
        c.get_manifest("shop/web", "nope").await,
        Err(RegistryError::NotFound {
            code: "MANIFEST_UNKNOWN".into(),
            message: "manifest unknown".into()
        })
    );
    rec.on(
        "GET",
        "/v2/shop/web/tags/list",
        Reply::json(429, &fixture("registry/toomanyrequests_429.json")).header("retry-after", "12"),
    );
    assert_eq!(
        c.tags("shop/web").await,
        Err(RegistryError::RateLimited {
            retry_after: Some(Duration::from_secs(12))
        })
    );
    // 401 without a challenge, and a truncated body.
    rec.on(
        "GET",
        "/v2/",
        Reply::json(401, &fixture("registry/unauthorized_401.json")),
    );
    assert!(matches!(
        c.ping().await,
        Err(RegistryError::Unauthorized(_))
    ));
    rec.on(
        "GET",
        "/v2/shop/api/tags/list",
        Reply::json(200, "{\"name\":\"shop/api\",\"tags\":[\"v1\""),
    );
    assert!(matches!(
        c.tags("shop/api").await,
        Err(RegistryError::Decode(_))
    ));
    // HEAD without Docker-Content-Digest cannot say which image the tag is.
    rec.on("HEAD", "/v2/shop/api/manifests/v1", Reply::text(200, ""));
    assert!(matches!(
        c.head_manifest("shop/api", "v1").await,
        Err(RegistryError::Decode(_))
    ));
}

#[tokio::test]
async fn digest_poller_flags_a_moved_tag() {
    use shipdeck::backend::pipelines::{RegistryEvent, TagState, spawn_registry_poller};
    let s = shipdeck::demo::registry::start_registry(&[("shop/web", &["v1"])])
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let cancel = tokio_util::sync::CancellationToken::new();
    let h = spawn_registry_poller(
        std::sync::Arc::new(client(s.url())),
        Duration::from_millis(50),
        tx,
        cancel.clone(),
    );
    let v1 = ("shop/web".to_string(), "v1".to_string());
    let gone = ("shop/web".to_string(), "gone".to_string());
    h.watch(vec![v1.clone(), gone.clone()]);
    async fn recv(rx: &mut tokio::sync::mpsc::Receiver<RegistryEvent>) -> RegistryEvent {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap()
    }
    let RegistryEvent::Tags(first) = recv(&mut rx).await else {
        panic!()
    };
    let before = s.registry().digest("shop/web", "v1").unwrap();
    assert_eq!(first[&v1], TagState::Digest(before.clone()));
    assert_eq!(first[&gone], TagState::Missing);
    // Unchanged: no message; then the tag moves to another image.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), rx.recv())
            .await
            .is_err()
    );
    let after = s.registry().push_image("shop/web", "v1", "rebuilt");
    let RegistryEvent::Tags(second) = recv(&mut rx).await else {
        panic!()
    };
    assert_ne!(before, after);
    assert_eq!(second[&v1], TagState::Digest(after));
    cancel.cancel();
}
