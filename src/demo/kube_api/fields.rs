//! Field validation of written objects: unknown fields at the levels we know the schema of
//! (top level, `metadata`, a Deployment's `spec`) are dropped with a warning, or rejected (400)
//! under `fieldValidation=Strict`.
use crate::demo::store::{ApiError, Kind};
use serde_json::Value;

const METADATA: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

const DEPLOYMENT_SPEC: &[&str] = &[
    "replicas",
    "selector",
    "template",
    "strategy",
    "minReadySeconds",
    "revisionHistoryLimit",
    "paused",
    "progressDeadlineSeconds",
];

const EVENT: &[&str] = &[
    "involvedObject",
    "reason",
    "message",
    "source",
    "firstTimestamp",
    "lastTimestamp",
    "count",
    "type",
    "eventTime",
    "series",
    "action",
    "related",
    "reportingComponent",
    "reportingInstance",
];

fn top_level(kind: Kind) -> Vec<&'static str> {
    let mut v = vec!["apiVersion", "kind", "metadata"];
    if kind == Kind::Event {
        v.extend_from_slice(EVENT);
    } else {
        v.extend_from_slice(&["spec", "status"]);
    }
    v
}

/// The unknown fields of `obj` as dotted paths.
pub fn unknown_fields(kind: Kind, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let check = |o: Option<&Value>, known: &[&str], prefix: &str, out: &mut Vec<String>| {
        if let Some(Value::Object(m)) = o {
            for k in m.keys() {
                if !known.contains(&k.as_str()) {
                    out.push(format!("{prefix}{k}"));
                }
            }
        }
    };
    check(Some(obj), &top_level(kind), "", &mut out);
    check(obj.get("metadata"), METADATA, "metadata.", &mut out);
    if kind == Kind::Deployment {
        check(obj.get("spec"), DEPLOYMENT_SPEC, "spec.", &mut out);
    }
    out
}

fn remove_path(obj: &mut Value, path: &str) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else {
        return;
    };
    let mut cur = obj;
    for p in parts {
        match cur.get_mut(p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

/// Applies the request's `fieldValidation`: returns the warnings to send, or 400 when Strict.
pub fn enforce(
    kind: Kind,
    obj: &mut Value,
    validation: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    let unknown = unknown_fields(kind, obj);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    if validation == Some("Strict") {
        let list: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field {f:?}"))
            .collect();
        return Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            list.join(", ")
        )));
    }
    for f in &unknown {
        remove_path(obj, f);
    }
    if validation == Some("Ignore") {
        return Ok(Vec::new());
    }
    Ok(unknown
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_dropped_or_rejected() {
        let mut d = json!({"metadata": {"name": "x", "bogus": 1}, "spec": {"replicas": 1, "replica": 2}, "extra": true});
        let err = enforce(Kind::Deployment, &mut d.clone(), Some("Strict")).unwrap_err();
        assert_eq!(err.code, 400);
        let w = enforce(Kind::Deployment, &mut d, None).unwrap();
        assert_eq!(w.len(), 3);
        assert_eq!(
            d,
            json!({"metadata": {"name": "x"}, "spec": {"replicas": 1}})
        );
    }
}
