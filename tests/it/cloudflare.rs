//! Cloudflare API v4 client against the simulated Cloudflare: exact requests, pagination, the
//! envelope's errors (1056, 81044, 7003/7000), 429 + Retry-After, 401, timeouts, edge status.
use serde_json::{Value, json};
use shipdeck::backend::cloudflare::{
    CfError, CloudflareClient, IngressRule, RuleRemoval, TunnelConfig, edge_status, edge_statuses,
};
use shipdeck::demo::cloudflare::{CloudflareSeed, CloudflareSim, Fault, start_cloudflare};
use std::time::{Duration, Instant};

async fn sim(seed: CloudflareSeed) -> (CloudflareSim, CloudflareClient) {
    let sim = start_cloudflare(seed, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = CloudflareClient::new(&sim.config()).unwrap();
    (sim, client)
}

fn lines(sim: &CloudflareSim) -> Vec<String> {
    sim.requests().iter().map(|r| r.line()).collect()
}

#[tokio::test]
async fn zone_lookup_and_dns_filter_send_exact_queries() {
    let (sim, c) = sim(CloudflareSeed::default()).await;
    let seed = sim.seed();
    let zone = c.zone_id("shop.example").await.unwrap().unwrap();
    assert_eq!(zone, seed.zone_id);
    assert_eq!(c.zone_id("other.example").await.unwrap(), None);
    let recs = c
        .dns_records(&zone, Some("web.shop.example"))
        .await
        .unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].kind, "CNAME");
    assert!(recs[0].proxied);
    assert_eq!(
        recs[0].content,
        format!("{}.cfargotunnel.com", seed.tunnel_id)
    );
    assert_eq!(
        lines(&sim),
        vec![
            "GET /zones?name=shop.example&page=1&per_page=50".to_string(),
            "GET /zones?name=other.example&page=1&per_page=50".to_string(),
            format!("GET /zones/{zone}/dns_records?name=web.shop.example&page=1&per_page=50"),
        ]
    );
    assert!(sim.requests().iter().all(|r| r.body.is_empty()));
}

#[tokio::test]
async fn dns_records_follow_every_page() {
    let (sim, c) = sim(CloudflareSeed::default()).await;
    sim.add_records("host", 120);
    let zone = sim.seed().zone_id;
    let all = c.dns_records(&zone, None).await.unwrap();
    assert_eq!(all.len(), 126);
    let mut ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 126, "no record twice");
    assert_eq!(
        lines(&sim),
        (1..=3)
            .map(|p| format!("GET /zones/{zone}/dns_records?page={p}&per_page=50"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn remove_ingress_rule_is_read_modify_write_keeping_the_catch_all_last() {
    let (sim, c) = sim(CloudflareSeed::default()).await;
    let seed = sim.seed();
    let before = sim.ingress();
    assert_eq!(before.len(), 4);
    let r = c
        .remove_ingress_rule(&seed.account_id, &seed.tunnel_id, "web.shop.example")
        .await
        .unwrap();
    assert_eq!(
        r,
        RuleRemoval::Removed {
            rules: 1,
            version: 2
        }
    );
    let after = sim.ingress();
    assert_eq!(after.len(), 3);
    assert!(
        after
            .iter()
            .all(|r| r.hostname.as_deref() != Some("web.shop.example"))
    );
    assert_eq!(
        after.last(),
        Some(&IngressRule::new(None, "http_status:404"))
    );
    let path = format!(
        "/accounts/{}/cfd_tunnel/{}/configurations",
        seed.account_id, seed.tunnel_id
    );
    let reqs = sim.requests();
    assert_eq!(
        lines(&sim),
        vec![format!("GET {path}"), format!("PUT {path}")]
    );
    let body: Value = serde_json::from_str(&reqs[1].body).unwrap();
    assert_eq!(
        body,
        json!({"config": {
            "ingress": [
                {"hostname": "api.shop.example", "service": "http://api.shop-blue.svc.cluster.local:80", "originRequest": {}},
                {"hostname": "worker.shop.example", "service": "http://worker.shop-blue.svc.cluster.local:80", "originRequest": {}},
                {"service": "http_status:404"}
            ],
            "warp-routing": {"enabled": false}
        }})
    );
    // Again: nothing to remove, nothing written.
    sim.clear_requests();
    let r = c
        .remove_ingress_rule(&seed.account_id, &seed.tunnel_id, "web.shop.example")
        .await
        .unwrap();
    assert_eq!(r, RuleRemoval::AlreadyGone);
    assert_eq!(lines(&sim), vec![format!("GET {path}")]);
    assert_eq!(sim.tunnel_version(), 2);
}

#[tokio::test]
async fn a_config_without_catch_all_is_refused_locally_and_by_the_server_with_1056() {
    let (sim, c) = sim(CloudflareSeed::default()).await;
    let seed = sim.seed();
    let mut cfg = c
        .tunnel_config(&seed.account_id, &seed.tunnel_id)
        .await
        .unwrap()
        .config;
    cfg.ingress.pop();
    sim.clear_requests();
    let e = c
        .put_tunnel_config(&seed.account_id, &seed.tunnel_id, &cfg)
        .await
        .unwrap_err();
    assert!(matches!(e, CfError::NoCatchAll { .. }), "{e}");
    assert!(sim.requests().is_empty(), "refused before sending");
    let e = c
        .put_tunnel_config_unchecked(&seed.account_id, &seed.tunnel_id, &cfg)
        .await
        .unwrap_err();
    assert!(matches!(e, CfError::Api { status: 400, .. }), "{e}");
    assert!(e.has_code(1056), "{e}");
    assert!(
        e.to_string()
            .contains("last ingress rule must match all URLs"),
        "{e}"
    );
    assert_eq!(sim.ingress().len(), 4, "unchanged");
    assert_eq!(sim.tunnel_version(), 1);
    // An empty document is no better.
    let e = c
        .put_tunnel_config_unchecked(&seed.account_id, &seed.tunnel_id, &TunnelConfig::default())
        .await
        .unwrap_err();
    assert!(e.has_code(1056), "{e}");
}

#[tokio::test]
async fn injected_1056_fails_the_removal_and_leaves_the_tunnel_alone() {
    let (sim, c) = sim(CloudflareSeed::default()).await;
    let seed = sim.seed();
    sim.inject(Fault::bad_tunnel_config());
    let e = c
        .remove_ingress_rule(&seed.account_id, &seed.tunnel_id, "api.shop.example")
        .await
        .unwrap_err();
    assert!(e.has_code(1056), "{e}");
    assert_eq!(sim.ingress().len(), 4);
    // The fault was one-shot: the retry goes through.
    c.remove_ingress_rule(&seed.account_id, &seed.tunnel_id, "api.shop.example")
        .await
        .unwrap();
    assert_eq!(sim.ingress().len(), 3);
}

#[tokio::test]
async fn deletes_and_envelope_errors() {
    let (sim, c) = sim(CloudflareSeed::default()).await;
    let seed = sim.seed();
    let zone = seed.zone_id.clone();
    let rec = c
        .dns_records(&zone, Some("api.shop.example"))
        .await
        .unwrap()
        .remove(0);
    sim.clear_requests();
    c.delete_dns_record(&zone, &rec.id).await.unwrap();
    let e = c.delete_dns_record(&zone, &rec.id).await.unwrap_err();
    assert!(e.has_code(81044) && e.is_not_found(), "{e}");
    assert_eq!(
        lines(&sim),
        vec![
            format!("DELETE /zones/{zone}/dns_records/{}", rec.id),
            format!("DELETE /zones/{zone}/dns_records/{}", rec.id),
        ]
    );
    // An unknown zone id: 7003 + 7000, as Cloudflare answers.
    let e = c.dns_records("nope", None).await.unwrap_err();
    assert!(e.has_code(7003) && e.has_code(7000), "{e}");
    assert!(matches!(e, CfError::Api { status: 400, .. }));

    let apps = c
        .access_apps(&seed.account_id, Some("api.shop.example"))
        .await
        .unwrap();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].kind.as_deref(), Some("self_hosted"));
    sim.clear_requests();
    c.delete_access_app(&seed.account_id, &apps[0].id)
        .await
        .unwrap();
    let e = c
        .delete_access_app(&seed.account_id, &apps[0].id)
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(
        lines(&sim)[0],
        format!(
            "DELETE /accounts/{}/access/apps/{}",
            seed.account_id, apps[0].id
        )
    );
    assert_eq!(sim.access_apps().len(), 2);
}

#[tokio::test]
async fn rate_limit_is_retried_after_retry_after_then_bounded() {
    let (sim, c) = sim(CloudflareSeed::default()).await;
    sim.inject(Fault::rate_limited(1));
    let t = Instant::now();
    let zones = c.zones(None).await.unwrap();
    assert_eq!(zones.len(), 1);
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(sim.requests().len(), 2);

    // Retries exhausted: the 429 surfaces with its Retry-After.
    let c0 = c.clone().with_retries(0, Duration::from_secs(30));
    sim.inject(Fault::rate_limited(7));
    let e = c0.zones(None).await.unwrap_err();
    assert_eq!(
        e,
        CfError::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    // A wait longer than allowed is not slept through.
    let short = c.clone().with_retries(3, Duration::from_secs(5));
    sim.inject(Fault::rate_limited(300));
    let t = Instant::now();
    let e = short.zones(None).await.unwrap_err();
    assert!(matches!(e, CfError::RateLimited { .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn token_is_sent_and_401_is_unauthorized() {
    let seed = CloudflareSeed {
        token: Some("cf-secret".into()),
        ..CloudflareSeed::default()
    };
    let (sim, anonymous) = sim(seed).await;
    let e = anonymous.zones(None).await.unwrap_err();
    assert!(
        matches!(e, CfError::Unauthorized(ref m) if m.contains("10000")),
        "{e}"
    );
    let c =
        CloudflareClient::with_token(&sim.url(), Some("cf-secret".into()), Duration::from_secs(5));
    assert_eq!(c.verify_token().await.unwrap(), "active");
    assert_eq!(
        sim.requests().last().unwrap().authorization.as_deref(),
        Some("Bearer cf-secret")
    );
    let wrong =
        CloudflareClient::with_token(&sim.url(), Some("nope".into()), Duration::from_secs(5));
    assert!(matches!(
        wrong.zones(None).await,
        Err(CfError::Unauthorized(_))
    ));
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let c = CloudflareClient::with_token(
        &format!("http://{addr}/client/v4"),
        None,
        Duration::from_millis(300),
    );
    let t = Instant::now();
    assert_eq!(c.zones(None).await.unwrap_err(), CfError::Timeout);
    assert!(t.elapsed() < Duration::from_secs(3));
    hold.abort();
}

#[tokio::test]
async fn edge_status_follows_the_entries() {
    let (sim, c) = sim(CloudflareSeed::default()).await;
    let cfg = sim.config();
    let seed = sim.seed();
    let s = edge_status(&c, &cfg, "web").await.unwrap();
    assert_eq!(s.hostname, "web.shop.example");
    assert!(s.dns && s.tunnel_rule && s.access_app && s.reachable());
    c.remove_ingress_rule(&seed.account_id, &seed.tunnel_id, "web.shop.example")
        .await
        .unwrap();
    let s = edge_status(&c, &cfg, "web").await.unwrap();
    assert!(s.dns && !s.tunnel_rule && s.access_app && !s.reachable());
    let s = edge_status(&c, &cfg, "unknown").await.unwrap();
    assert!(!s.dns && !s.tunnel_rule && !s.access_app);
}

#[tokio::test]
async fn edge_statuses_cost_a_fixed_number_of_calls() {
    let (sim, c) = sim(CloudflareSeed::default()).await;
    let cfg = sim.config();
    let seed = sim.seed();
    c.delete_access_app(
        &seed.account_id,
        &sim.access_apps()
            .into_iter()
            .find(|a| a.domain.as_deref() == Some("api.shop.example"))
            .unwrap()
            .id,
    )
    .await
    .unwrap();
    sim.clear_requests();
    let apps: Vec<String> = ["web", "api", "worker", "gone"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let all = edge_statuses(&c, &cfg, &apps).await.unwrap();
    let flags: Vec<(bool, bool, bool)> = all
        .iter()
        .map(|s| (s.dns, s.tunnel_rule, s.access_app))
        .collect();
    assert_eq!(
        flags,
        vec![
            (true, true, true),
            (true, true, false),
            (true, true, true),
            (false, false, false)
        ]
    );
    assert_eq!(all[3].hostname, "gone.shop.example");
    // zones, dns_records, one tunnel, access apps: 4 calls for 4 apps (and for 400).
    assert_eq!(sim.requests().len(), 4, "{:?}", lines(&sim));
    for (one, app) in all.iter().zip(&apps) {
        assert_eq!(one, &edge_status(&c, &cfg, app).await.unwrap());
    }
}

#[tokio::test]
async fn a_locally_configured_tunnel_is_not_written() {
    let (sim, c) = sim(CloudflareSeed::default()).await;
    let seed = sim.seed();
    sim.make_tunnel_local();
    let e = c
        .remove_ingress_rule(&seed.account_id, &seed.tunnel_id, "web.shop.example")
        .await
        .unwrap_err();
    assert!(matches!(e, CfError::LocalTunnel { .. }), "{e}");
    assert!(e.to_string().contains("cloudflared config file"), "{e}");
    assert!(sim.requests().iter().all(|r| r.method == "GET"));
}

/// The commented `[cloudflare]` section of config.example.toml, uncommented, is a valid config.
#[test]
fn example_config_cloudflare_section_parses() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("# [cloudflare]").unwrap();
    let section: String = text[start..]
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim_start())
        .filter(|l| l.starts_with('[') || l.contains(" = "))
        .collect::<Vec<_>>()
        .join("\n");
    let head = text[..text.find("[ui]").unwrap()].to_string();
    let config = shipdeck::config::Config::parse(&format!("{head}\n{section}\n"), &path).unwrap();
    let cf = config.cloudflare.unwrap();
    assert_eq!(cf.zone, "shop.example");
    assert_eq!(cf.token_env.as_deref(), Some("CLOUDFLARE_API_TOKEN"));
    assert_eq!(cf.max_retries, 2);
    let web = cf.edge_for("web");
    assert_eq!(web.hostname, "www.shop.example");
    assert_eq!(web.access_app.as_deref(), Some("Shop web"));
    assert_eq!(cf.edge_for("api").hostname, "api.shop.example");
    // Unknown keys are named.
    let bad = format!("{head}\n[cloudflare]\naccount_id = 'a'\nzone = 'z'\ntunel_id = 'x'\n");
    let err = shipdeck::config::Config::parse(&bad, &path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("tunel_id"), "{err}");
}
