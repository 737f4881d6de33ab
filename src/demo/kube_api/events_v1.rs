//! `events.k8s.io/v1` Events, served read-only as a view of the stored core/v1 Events (the same
//! data renamed: `regarding`, `note`, `reportingController`, `deprecated*`).
use serde_json::{Map, Value, json};

/// The events.k8s.io/v1 form of a core/v1 Event.
pub fn convert(core: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    out.insert("kind".into(), json!("Event"));
    let get = |k: &str| core.get(k).filter(|v| !v.is_null()).cloned();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            out.insert(k.into(), v);
        }
    };
    put("metadata", get("metadata"));
    put("eventTime", Some(get("eventTime").unwrap_or(Value::Null)));
    put("regarding", get("involvedObject"));
    put("related", get("related"));
    put("note", get("message"));
    put("reason", get("reason"));
    put("type", get("type"));
    put("action", get("action"));
    let source = core.get("source");
    put(
        "reportingController",
        get("reportingComponent")
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
            .or_else(|| source.and_then(|s| s.get("component")).cloned()),
    );
    put(
        "reportingInstance",
        get("reportingInstance")
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
            .or_else(|| source.and_then(|s| s.get("host")).cloned()),
    );
    if let Some(series) = core.get("series").and_then(Value::as_object) {
        put(
            "series",
            Some(
                json!({"count": series.get("count"), "lastObservedTime": series.get("lastObservedTime")}),
            ),
        );
    }
    put("deprecatedSource", get("source"));
    put("deprecatedFirstTimestamp", get("firstTimestamp"));
    put("deprecatedLastTimestamp", get("lastTimestamp"));
    put("deprecatedCount", get("count"));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_the_core_fields() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "n"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "message": "Back-off restarting", "reason": "BackOff",
            "type": "Warning", "source": {"component": "kubelet", "host": "node-1"}, "count": 5,
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:05:00Z"});
        let v = convert(&core);
        assert_eq!(v["apiVersion"], "events.k8s.io/v1");
        assert_eq!(v["regarding"]["name"], "p");
        assert_eq!(v["note"], "Back-off restarting");
        assert_eq!(v["reportingController"], "kubelet");
        assert_eq!(v["reportingInstance"], "node-1");
        assert_eq!(v["deprecatedCount"], 5);
        assert_eq!(v["deprecatedLastTimestamp"], "2026-01-01T00:05:00Z");
    }
}
