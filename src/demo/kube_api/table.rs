//! `Table` responses (`Accept: ...;as=Table;g=meta.k8s.io`): the columns `kubectl get` prints.
use crate::demo::store::Kind;
use axum::http::{HeaderMap, header};
use serde_json::{Value, json};

/// Does the client ask for a Table?
pub fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("as=Table"))
}

/// Kubernetes' `duration.HumanDuration`, which the AGE columns use.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let s = secs.max(0);
    let (m, h) = (s / 60, s / 3600);
    let d = h / 24;
    let y = d / 365;
    let pair = |a: i64, ua: &str, b: i64, ub: &str| {
        if b == 0 {
            format!("{a}{ua}")
        } else {
            format!("{a}{ua}{b}{ub}")
        }
    };
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        pair(m, "m", s % 60, "s")
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        pair(h, "h", m % 60, "m")
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        pair(d, "d", h % 24, "h")
    } else if d < 365 * 2 {
        format!("{d}d")
    } else if d < 365 * 8 {
        pair(y, "y", d % 365, "d")
    } else {
        format!("{y}y")
    }
}

fn col(name: &str, ty: &str, priority: u8, description: &str) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

pub fn columns(kind: Kind) -> Vec<Value> {
    let name = col(
        "Name",
        "string",
        0,
        "Name must be unique within a namespace.",
    );
    let age = col("Age", "string", 0, "CreationTimestamp of the object.");
    let s = |n: &str, p: u8| col(n, "string", p, "");
    let i = |n: &str| col(n, "integer", 0, "");
    match kind {
        Kind::Deployment => vec![
            name,
            s("Ready", 0),
            i("Up-to-date"),
            i("Available"),
            age,
            s("Containers", 1),
            s("Images", 1),
            s("Selector", 1),
        ],
        Kind::ReplicaSet => vec![
            name,
            i("Desired"),
            i("Current"),
            i("Ready"),
            age,
            s("Containers", 1),
            s("Images", 1),
            s("Selector", 1),
        ],
        Kind::Pod => vec![
            name,
            s("Ready", 0),
            s("Status", 0),
            s("Restarts", 0),
            age,
            s("IP", 1),
            s("Node", 1),
        ],
        Kind::Service => vec![
            name,
            s("Type", 0),
            s("Cluster-IP", 0),
            s("External-IP", 0),
            s("Port(s)", 0),
            age,
            s("Selector", 1),
        ],
        Kind::Ingress => vec![
            name,
            s("Class", 0),
            s("Hosts", 0),
            s("Address", 0),
            s("Ports", 0),
            age,
        ],
        Kind::Namespace => vec![name, s("Status", 0), age],
        Kind::Event => vec![
            s("Last Seen", 0),
            s("Type", 0),
            s("Reason", 0),
            s("Object", 0),
            s("Message", 0),
        ],
    }
}

fn str_at<'a>(o: &'a Value, p: &str) -> &'a str {
    o.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn int_at(o: &Value, p: &str) -> i64 {
    o.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

fn age_of(o: &Value, p: &str, now: jiff::Timestamp) -> String {
    match str_at(o, p).parse::<jiff::Timestamp>() {
        Ok(t) => human_duration(now.duration_since(t).as_secs()),
        Err(_) => "<unknown>".into(),
    }
}

fn containers(o: &Value, p: &str) -> (String, String) {
    let cs = o
        .pointer(p)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = cs.iter().map(|c| str_at(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| str_at(c, "/image")).collect();
    (names.join(","), images.join(","))
}

fn selector(o: &Value) -> String {
    o.pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// The Status column of `kubectl get pods`.
fn pod_status(o: &Value) -> String {
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".into();
    }
    let statuses = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &statuses {
        for state in ["waiting", "terminated"] {
            let reason = str_at(c, &format!("/state/{state}/reason"));
            if !reason.is_empty() {
                return reason.to_string();
            }
        }
    }
    match str_at(o, "/status/phase") {
        "" => "Pending".into(),
        p => p.to_string(),
    }
}

fn pod_row(o: &Value) -> (String, String) {
    let total = o
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let statuses = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ready = statuses
        .iter()
        .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    let restarts: i64 = statuses.iter().map(|c| int_at(c, "/restartCount")).sum();
    (format!("{ready}/{total}"), restarts.to_string())
}

fn cells(kind: Kind, o: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let name = json!(str_at(o, "/metadata/name"));
    let age = json!(age_of(o, "/metadata/creationTimestamp", now));
    match kind {
        Kind::Deployment => {
            let (c, i) = containers(o, "/spec/template/spec/containers");
            let ready = format!(
                "{}/{}",
                int_at(o, "/status/readyReplicas"),
                o.pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1)
            );
            vec![
                name,
                json!(ready),
                json!(int_at(o, "/status/updatedReplicas")),
                json!(int_at(o, "/status/availableReplicas")),
                age,
                json!(c),
                json!(i),
                json!(selector(o)),
            ]
        }
        Kind::ReplicaSet => {
            let (c, i) = containers(o, "/spec/template/spec/containers");
            vec![
                name,
                json!(
                    o.pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                ),
                json!(int_at(o, "/status/replicas")),
                json!(int_at(o, "/status/readyReplicas")),
                age,
                json!(c),
                json!(i),
                json!(selector(o)),
            ]
        }
        Kind::Pod => {
            let (ready, restarts) = pod_row(o);
            let ip = match str_at(o, "/status/podIP") {
                "" => "<none>",
                ip => ip,
            };
            let node = match str_at(o, "/spec/nodeName") {
                "" => "<none>",
                n => n,
            };
            vec![
                name,
                json!(ready),
                json!(pod_status(o)),
                json!(restarts),
                age,
                json!(ip),
                json!(node),
            ]
        }
        Kind::Service => {
            let ports: Vec<String> = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|p| {
                    let proto = match str_at(p, "/protocol") {
                        "" => "TCP",
                        x => x,
                    };
                    format!("{}/{proto}", int_at(p, "/port"))
                })
                .collect();
            let ty = match str_at(o, "/spec/type") {
                "" => "ClusterIP",
                t => t,
            };
            let cip = match str_at(o, "/spec/clusterIP") {
                "" => "<none>",
                c => c,
            };
            let sel = o
                .pointer("/spec/selector")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_else(|| "<none>".into());
            vec![
                name,
                json!(ty),
                json!(cip),
                json!("<none>"),
                json!(ports.join(",")),
                age,
                json!(sel),
            ]
        }
        Kind::Ingress => {
            let hosts: Vec<&str> = o
                .pointer("/spec/rules")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .map(|r| str_at(r, "/host"))
                        .filter(|h| !h.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let hosts = if hosts.is_empty() {
                "*".to_string()
            } else {
                hosts.join(",")
            };
            let class = match str_at(o, "/spec/ingressClassName") {
                "" => "<none>",
                c => c,
            };
            let tls = o
                .pointer("/spec/tls")
                .and_then(Value::as_array)
                .is_some_and(|t| !t.is_empty());
            vec![
                name,
                json!(class),
                json!(hosts),
                json!(""),
                json!(if tls { "80, 443" } else { "80" }),
                age,
            ]
        }
        Kind::Namespace => {
            let phase = match str_at(o, "/status/phase") {
                "" => "Active",
                p => p,
            };
            vec![name, json!(phase), age]
        }
        Kind::Event => {
            // Core fields, or their events.k8s.io/v1 names.
            let last = [
                "/lastTimestamp",
                "/deprecatedLastTimestamp",
                "/eventTime",
                "/metadata/creationTimestamp",
            ]
            .into_iter()
            .find(|p| !str_at(o, p).is_empty())
            .map_or_else(|| "<unknown>".to_string(), |p| age_of(o, p, now));
            let regarding = if o.get("involvedObject").is_some() {
                "/involvedObject"
            } else {
                "/regarding"
            };
            let message = if o.get("message").is_some() {
                "/message"
            } else {
                "/note"
            };
            let object = format!(
                "{}/{}",
                str_at(o, &format!("{regarding}/kind")).to_lowercase(),
                str_at(o, &format!("{regarding}/name"))
            );
            vec![
                json!(last),
                json!(str_at(o, "/type")),
                json!(str_at(o, "/reason")),
                json!(object),
                json!(str_at(o, message)),
            ]
        }
    }
}

/// One row: cells plus the object as `includeObject` asks (None, Metadata by default, Object).
pub fn row(kind: Kind, o: &Value, now: jiff::Timestamp, include: Option<&str>) -> Value {
    let object = match include {
        Some("None") => Value::Null,
        Some("Object") => o.clone(),
        _ => json!({
            "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": o.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    };
    let mut r = json!({"cells": cells(kind, o, now)});
    if !object.is_null() {
        r["object"] = object;
    }
    r
}

/// A Table of `rows` with the list metadata.
pub fn table(kind: Kind, rows: Vec<Value>, metadata: Value) -> Value {
    json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
        "columnDefinitions": columns(kind), "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl() {
        for (s, want) in [
            (5, "5s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (3 * 86400 + 3600, "3d1h"),
            (40 * 86400, "40d"),
        ] {
            assert_eq!(human_duration(s), want);
        }
    }

    #[test]
    fn deployment_row_has_ready_counts() {
        let d = json!({"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": "x:1"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let now: jiff::Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        let r = row(Kind::Deployment, &d, now, None);
        assert_eq!(
            r["cells"],
            json!(["web", "2/3", 3, 2, "5m", "web", "x:1", ""])
        );
        assert_eq!(r["object"]["kind"], "PartialObjectMetadata");
    }
}
