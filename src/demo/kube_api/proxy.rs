//! `GET pods/{name}[:{port}]/proxy/metrics`: the pod's own Prometheus metrics, as the console
//! scrapes them through the API server (apis.md §1.3), rendered from the world's traffic figures.
use super::{Ctx, error_response};
use crate::demo::store::{ApiError, Kind};
use crate::demo::traffic::{LATENCY_BUCKETS, PodTraffic};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

/// The pod name and port of a `{name}[:{port}]` or `https:{name}:{port}` proxy segment.
pub fn split_target(seg: &str) -> (&str, Option<&str>) {
    let seg = seg
        .strip_prefix("https:")
        .or_else(|| seg.strip_prefix("http:"))
        .unwrap_or(seg);
    match seg.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (seg, None),
    }
}

fn unavailable(pod: &str) -> ApiError {
    ApiError::new(
        503,
        "ServiceUnavailable",
        format!(
            "error trying to reach service: pod {pod} has no running container serving metrics"
        ),
    )
}

/// Serves `path` (after `/proxy`) of pod `name` in `ns`.
pub fn serve(ctx: &Ctx, ns: &str, target: &str, path: &str) -> Response {
    let (name, _port) = split_target(target);
    if !ctx.shared.store.contains(Kind::Pod, ns, name) {
        return error_response(&ApiError::not_found("pods", name));
    }
    let Some(source) = &ctx.shared.opts.traffic else {
        return error_response(&unavailable(name));
    };
    let Some(pod) = source.pod(ns, name) else {
        return error_response(&unavailable(name));
    };
    match path.trim_end_matches('/') {
        "/metrics" => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            render(&pod),
        )
            .into_response(),
        "" | "/" => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain")],
            "ok\n",
        )
            .into_response(),
        _ => (StatusCode::NOT_FOUND, "404 page not found\n").into_response(),
    }
}

fn num(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else {
        format!("{v}")
    }
}

/// The exposition a pod of the simulated apps serves (classic text format 0.0.4).
pub fn render(p: &PodTraffic) -> String {
    let mut s = String::new();
    let ok = (p.requests_total - p.errors_total).max(0.0);
    let _ = writeln!(
        s,
        "# HELP http_requests_total Requests served, by status code."
    );
    let _ = writeln!(s, "# TYPE http_requests_total counter");
    let _ = writeln!(s, "http_requests_total{{code=\"200\"}} {}", num(ok));
    let _ = writeln!(
        s,
        "http_requests_total{{code=\"500\"}} {}",
        num(p.errors_total)
    );
    let _ = writeln!(s, "# HELP http_request_duration_seconds Request latency.");
    let _ = writeln!(s, "# TYPE http_request_duration_seconds histogram");
    for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
        let count = p.latency_bucket_counts.get(i).copied().unwrap_or(0.0);
        let _ = writeln!(
            s,
            "http_request_duration_seconds_bucket{{le=\"{}\"}} {}",
            num(*le),
            num(count)
        );
    }
    let _ = writeln!(
        s,
        "http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}",
        num(p.requests_total)
    );
    let _ = writeln!(
        s,
        "http_request_duration_seconds_sum {}",
        num(p.latency_sum_seconds)
    );
    let _ = writeln!(
        s,
        "http_request_duration_seconds_count {}",
        num(p.requests_total)
    );
    let _ = writeln!(
        s,
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds."
    );
    let _ = writeln!(s, "# TYPE process_cpu_seconds_total counter");
    let _ = writeln!(s, "process_cpu_seconds_total {}", num(p.cpu_seconds_total));
    let _ = writeln!(
        s,
        "# HELP process_resident_memory_bytes Resident memory size in bytes."
    );
    let _ = writeln!(s, "# TYPE process_resident_memory_bytes gauge");
    let _ = writeln!(s, "process_resident_memory_bytes {}", num(p.memory_bytes));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_exposition() {
        assert_eq!(split_target("web-1:9090"), ("web-1", Some("9090")));
        assert_eq!(split_target("https:web-1:443"), ("web-1", Some("443")));
        assert_eq!(split_target("web-1"), ("web-1", None));
        let p = PodTraffic {
            namespace: "n".into(),
            pod: "web-1".into(),
            app: "web".into(),
            image: "web:1".into(),
            requests_total: 100.0,
            errors_total: 5.0,
            latency_bucket_counts: vec![10.0; LATENCY_BUCKETS.len()],
            latency_sum_seconds: 2.5,
            cpu_seconds_total: 1.5,
            memory_bytes: 1e8,
            restarts: 0,
            ready: true,
        };
        let text = render(&p);
        assert!(
            text.contains("http_requests_total{code=\"200\"} 95\n"),
            "{text}"
        );
        assert!(
            text.contains("http_request_duration_seconds_bucket{le=\"0.005\"} 10\n"),
            "{text}"
        );
        assert!(
            text.contains("http_request_duration_seconds_bucket{le=\"+Inf\"} 100\n"),
            "{text}"
        );
        assert!(
            text.contains("process_resident_memory_bytes 100000000\n"),
            "{text}"
        );
    }
}
