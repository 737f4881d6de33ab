//! PATCH bodies: JSON Patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge patch (lists
//! of named items merged by key, `$patch`/`$retainKeys`/`$setElementOrder` directives) and
//! server-side apply (YAML, merged like a strategic patch).
use crate::demo::store::ApiError;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

/// The patch type from a Content-Type header (parameters ignored); 415 for anything else.
pub fn patch_type(content_type: Option<&str>) -> Result<PatchType, ApiError> {
    let ct = content_type.unwrap_or("");
    let base = ct.split(';').next().unwrap_or("").trim();
    match base {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        "application/apply-patch+yaml"
        | "application/apply-patch+json"
        | "application/apply-patch+cbor" => Ok(PatchType::Apply),
        _ => Err(ApiError::unsupported_media_type(ct)),
    }
}

/// A decoded patch body.
#[derive(Debug, Clone)]
pub enum Parsed {
    Ops(json_patch::Patch),
    Doc(Value),
}

pub fn parse(pt: PatchType, body: &[u8]) -> Result<Parsed, ApiError> {
    let bad =
        |e: &dyn std::fmt::Display| ApiError::bad_request(format!("error decoding patch: {e}"));
    match pt {
        PatchType::Json => serde_json::from_slice::<json_patch::Patch>(body)
            .map(Parsed::Ops)
            .map_err(|e| bad(&e)),
        PatchType::Merge | PatchType::Strategic => match serde_json::from_slice::<Value>(body) {
            Ok(v @ Value::Object(_)) => Ok(Parsed::Doc(v)),
            Ok(_) => Err(ApiError::bad_request("a merge patch must be a JSON object")),
            Err(e) => Err(bad(&e)),
        },
        PatchType::Apply => {
            let text = std::str::from_utf8(body).map_err(|e| bad(&e))?;
            match serde_saphyr::from_str::<Value>(text) {
                Ok(v @ Value::Object(_)) => Ok(Parsed::Doc(v)),
                Ok(_) => Err(ApiError::bad_request("an apply patch must be an object")),
                Err(e) => Err(bad(&e)),
            }
        }
    }
}

/// Applies a parsed patch to `doc` (which is changed only on success for JSON Patch: the crate
/// undoes partial application).
pub fn apply(
    pt: PatchType,
    doc: &mut Value,
    p: &Parsed,
    kind: &str,
    name: &str,
) -> Result<(), ApiError> {
    match (pt, p) {
        (PatchType::Json, Parsed::Ops(ops)) => json_patch::patch(doc, &ops.0).map_err(|e| {
            ApiError::invalid(
                kind,
                name,
                &[(String::new(), format!("the JSON patch failed: {e}"))],
            )
        }),
        (PatchType::Merge, Parsed::Doc(m)) => {
            json_patch::merge(doc, m);
            Ok(())
        }
        (PatchType::Strategic | PatchType::Apply, Parsed::Doc(m)) => {
            strategic_merge(doc, m);
            Ok(())
        }
        _ => Err(ApiError::internal("patch body does not match its type")),
    }
}

/// The merge key of a list field, by its name (and, for `ports`, by what the items carry).
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "hostAliases" => Some(if field == "hostAliases" { "ip" } else { "name" }),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "topologySpreadConstraints" => Some("topologyKey"),
        "ports" => {
            let container = items.iter().any(|i| i.get("containerPort").is_some());
            Some(if container { "containerPort" } else { "port" })
        }
        _ => None,
    }
}

/// Lists of strings merged as sets rather than replaced.
fn merges_primitives(field: &str) -> bool {
    field == "finalizers"
}

/// Strategic merge of `patch` into `doc`.
pub fn strategic_merge(doc: &mut Value, patch: &Value) {
    let Value::Object(pm) = patch else {
        *doc = patch.clone();
        return;
    };
    if pm.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut m = pm.clone();
        m.remove("$patch");
        *doc = Value::Object(strip_directives(m));
        return;
    }
    if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
        *doc = Value::Object(Map::new());
        return;
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let Some(dm) = doc.as_object_mut() else {
        return;
    };
    for (k, v) in pm {
        if let Some(list) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(cur)), Value::Array(del)) = (dm.get_mut(list), v) {
                cur.retain(|x| !del.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        match v {
            Value::Null => {
                dm.remove(k);
            }
            Value::Object(_) => {
                let slot = dm.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(slot, v);
            }
            Value::Array(items) => {
                let merged = merge_list(dm.get(k), items, k);
                dm.insert(k.clone(), merged);
            }
            _ => {
                dm.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(Value::Array(keep)) = pm.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        dm.retain(|k, _| keep.contains(&k.as_str()));
    }
}

fn strip_directives(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| match v {
            Value::Object(o) => (k, Value::Object(strip_directives(o))),
            v => (k, v),
        })
        .collect()
}

fn merge_list(current: Option<&Value>, items: &[Value], field: &str) -> Value {
    let cur: Vec<Value> = current
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if merges_primitives(field) {
        let mut out = cur;
        for i in items {
            if !out.contains(i) {
                out.push(i.clone());
            }
        }
        return Value::Array(out);
    }
    let Some(key) = merge_key(field, items) else {
        // Atomic list: replaced, minus directive-only entries.
        return Value::Array(
            items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .map(|i| match i {
                    Value::Object(o) => Value::Object(strip_directives(o.clone())),
                    v => v.clone(),
                })
                .collect(),
        );
    };
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Value::Array(
            items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .cloned()
                .collect(),
        );
    }
    let mut out = cur;
    for item in items {
        let id = item.get(key);
        let pos = id.and_then(|id| out.iter().position(|c| c.get(key) == Some(id)));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(p), true) => {
                out.remove(p);
            }
            (None, true) => {}
            (Some(p), false) => strategic_merge(&mut out[p], item),
            (None, false) => {
                let mut new = Value::Null;
                strategic_merge(&mut new, item);
                out.push(new);
            }
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "a:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "s:1"}]}}}});
        let p = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}, {"name": "side"}],
            "containers": [{"name": "web", "image": "a:2", "env": [{"name": "B", "value": "2"}]},
                {"name": "side", "$patch": "delete"}]}}}});
        strategic_merge(&mut d, &p);
        assert_eq!(
            d,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "web", "image": "a:2", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}}}})
        );
    }

    #[test]
    fn strategic_directives_and_atomic_lists() {
        let mut d = json!({"a": {"x": 1, "y": 2}, "args": ["1", "2"], "finalizers": ["f"], "s": {"p": 1, "q": 2}});
        let p = json!({"a": {"$patch": "replace", "z": 3}, "args": ["3"], "finalizers": ["g"],
            "s": {"$retainKeys": ["p"], "p": 5}, "gone": null});
        strategic_merge(&mut d, &p);
        assert_eq!(
            d,
            json!({"a": {"z": 3}, "args": ["3"], "finalizers": ["f", "g"], "s": {"p": 5}})
        );
    }

    #[test]
    fn patch_types_and_parse_errors() {
        assert_eq!(
            patch_type(Some("application/merge-patch+json; charset=utf-8")).unwrap(),
            PatchType::Merge
        );
        assert_eq!(patch_type(Some("application/json")).unwrap_err().code, 415);
        assert_eq!(patch_type(None).unwrap_err().code, 415);
        assert_eq!(parse(PatchType::Json, b"{}").unwrap_err().code, 400);
        assert_eq!(parse(PatchType::Merge, b"[1]").unwrap_err().code, 400);
        let Parsed::Doc(v) = parse(PatchType::Apply, b"metadata:\n  name: x\n").unwrap() else {
            panic!()
        };
        assert_eq!(v, json!({"metadata": {"name": "x"}}));
        let mut doc = json!({"a": 1});
        let p = parse(PatchType::Json, br#"[{"op":"test","path":"/a","value":2}]"#).unwrap();
        assert_eq!(
            apply(PatchType::Json, &mut doc, &p, "Deployment.apps", "x")
                .unwrap_err()
                .code,
            422
        );
        assert_eq!(doc, json!({"a": 1}));
    }

    #[test]
    fn deep_yaml_is_rejected_not_overflowing() {
        for body in [
            format!("a: {}{}", "[".repeat(200_000), "]".repeat(200_000)),
            format!("{}x", "- ".repeat(100_000)),
            format!("a: {}1{}", "{b: ".repeat(100_000), "}".repeat(100_000)),
        ] {
            let r = parse(PatchType::Apply, body.as_bytes());
            assert!(r.is_err(), "deep YAML should be refused");
        }
    }
}
