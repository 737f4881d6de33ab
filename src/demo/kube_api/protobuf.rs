//! Request bodies in Kubernetes protobuf (`application/vnd.kubernetes.protobuf`), which kubectl's
//! typed clients always send (`kubectl create namespace|deployment|service`, `auth can-i`).
//! A schema-driven decoder for the fields those commands write, into the JSON the store keeps.
//!
//! Field numbers are those of k8s.io/api's generated.proto (checked against kubectl 1.32's own
//! messages). The Go encoder writes every non-pointer field, so empty strings, zeros and empty
//! messages are dropped, except for fields where zero means something (`replicas`).
use crate::demo::store::{ApiError, Kind};
use serde_json::{Map, Value, json};

/// One protobuf field: number and wire value.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&x, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(x & 0x7f) << shift;
        if x & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The fields of one message, in order; None when malformed.
fn fields(mut b: &[u8]) -> Option<Vec<(u64, Wire<'_>)>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let tag = varint(&mut b)?;
        let wire = match tag & 7 {
            0 => Wire::Varint(varint(&mut b)?),
            2 => {
                let len = usize::try_from(varint(&mut b)?).ok()?;
                if len > b.len() {
                    return None;
                }
                let (field, rest) = b.split_at(len);
                b = rest;
                Wire::Bytes(field)
            }
            // Fixed-width fields do not occur in the messages we decode.
            1 => {
                b = b.get(8..)?;
                continue;
            }
            5 => {
                b = b.get(4..)?;
                continue;
            }
            _ => return None,
        };
        out.push((tag >> 3, wire));
    }
    Some(out)
}

/// How a field maps to JSON.
#[derive(Clone, Copy)]
enum F {
    Str,
    Int,
    /// An integer kept even when zero (a pointer in Go).
    IntKeep,
    Bool,
    Msg(&'static [Field]),
    RepMsg(&'static [Field]),
    RepStr,
    /// map<string,string>
    MapStr,
    /// map<string,Quantity>
    MapQuantity,
    IntOrStr,
}

type Field = (u64, &'static str, F);

const OBJECT_META: &[Field] = &[
    (1, "name", F::Str),
    (2, "generateName", F::Str),
    (3, "namespace", F::Str),
    (6, "resourceVersion", F::Str),
    (11, "labels", F::MapStr),
    (12, "annotations", F::MapStr),
    (14, "finalizers", F::RepStr),
];
const SELECTOR_REQ: &[Field] = &[
    (1, "key", F::Str),
    (2, "operator", F::Str),
    (3, "values", F::RepStr),
];
const LABEL_SELECTOR: &[Field] = &[
    (1, "matchLabels", F::MapStr),
    (2, "matchExpressions", F::RepMsg(SELECTOR_REQ)),
];
const CONTAINER_PORT: &[Field] = &[
    (1, "name", F::Str),
    (2, "hostPort", F::Int),
    (3, "containerPort", F::Int),
    (4, "protocol", F::Str),
];
const ENV_VAR: &[Field] = &[(1, "name", F::Str), (2, "value", F::Str)];
const RESOURCES: &[Field] = &[
    (1, "limits", F::MapQuantity),
    (2, "requests", F::MapQuantity),
];
const CONTAINER: &[Field] = &[
    (1, "name", F::Str),
    (2, "image", F::Str),
    (3, "command", F::RepStr),
    (4, "args", F::RepStr),
    (5, "workingDir", F::Str),
    (6, "ports", F::RepMsg(CONTAINER_PORT)),
    (7, "env", F::RepMsg(ENV_VAR)),
    (8, "resources", F::Msg(RESOURCES)),
    (14, "imagePullPolicy", F::Str),
];
const POD_SPEC: &[Field] = &[
    (2, "containers", F::RepMsg(CONTAINER)),
    (3, "restartPolicy", F::Str),
    (4, "terminationGracePeriodSeconds", F::Int),
    (7, "nodeSelector", F::MapStr),
    (8, "serviceAccountName", F::Str),
    (20, "initContainers", F::RepMsg(CONTAINER)),
];
const POD_TEMPLATE: &[Field] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "spec", F::Msg(POD_SPEC)),
];
const ROLLING_UPDATE: &[Field] = &[
    (1, "maxUnavailable", F::IntOrStr),
    (2, "maxSurge", F::IntOrStr),
];
const STRATEGY: &[Field] = &[
    (1, "type", F::Str),
    (2, "rollingUpdate", F::Msg(ROLLING_UPDATE)),
];
const DEPLOYMENT_SPEC: &[Field] = &[
    (1, "replicas", F::IntKeep),
    (2, "selector", F::Msg(LABEL_SELECTOR)),
    (3, "template", F::Msg(POD_TEMPLATE)),
    (4, "strategy", F::Msg(STRATEGY)),
    (5, "minReadySeconds", F::Int),
    (6, "revisionHistoryLimit", F::IntKeep),
    (7, "paused", F::Bool),
    (9, "progressDeadlineSeconds", F::IntKeep),
];
const REPLICA_SET_SPEC: &[Field] = &[
    (1, "replicas", F::IntKeep),
    (2, "selector", F::Msg(LABEL_SELECTOR)),
    (3, "template", F::Msg(POD_TEMPLATE)),
    (4, "minReadySeconds", F::Int),
];
const SERVICE_PORT: &[Field] = &[
    (1, "name", F::Str),
    (2, "protocol", F::Str),
    (3, "port", F::Int),
    (4, "targetPort", F::IntOrStr),
    (5, "nodePort", F::Int),
];
const SERVICE_SPEC: &[Field] = &[
    (1, "ports", F::RepMsg(SERVICE_PORT)),
    (2, "selector", F::MapStr),
    (3, "clusterIP", F::Str),
    (4, "type", F::Str),
];
const NAMESPACE_SPEC: &[Field] = &[(1, "finalizers", F::RepStr)];

fn object_fields(kind: Kind) -> Option<[Field; 2]> {
    let spec = match kind {
        Kind::Namespace => NAMESPACE_SPEC,
        Kind::Deployment => DEPLOYMENT_SPEC,
        Kind::ReplicaSet => REPLICA_SET_SPEC,
        Kind::Service => SERVICE_SPEC,
        Kind::Pod => POD_SPEC,
        Kind::Event | Kind::Ingress => return None,
    };
    // Only metadata and spec are taken: status is the server's.
    Some([
        (1, "metadata", F::Msg(OBJECT_META)),
        (2, "spec", F::Msg(spec)),
    ])
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Bool(b) => !b,
    }
}

fn string(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

/// A signed int32/int64 as Go encodes it (negative numbers are 10-byte varints).
fn int(v: u64) -> Value {
    json!(v as i64)
}

fn map_entry(b: &[u8], quantity: bool) -> Option<(String, Value)> {
    let (mut key, mut val) = (String::new(), Value::String(String::new()));
    for (n, w) in fields(b)? {
        match (n, w) {
            (1, Wire::Bytes(k)) => key = String::from_utf8_lossy(k).into_owned(),
            (2, Wire::Bytes(v)) if quantity => {
                val = fields(v)?
                    .into_iter()
                    .find_map(|(n, w)| match (n, w) {
                        (1, Wire::Bytes(s)) => Some(string(s)),
                        _ => None,
                    })
                    .unwrap_or_default();
            }
            (2, Wire::Bytes(v)) => val = string(v),
            _ => {}
        }
    }
    Some((key, val))
}

fn int_or_string(b: &[u8]) -> Option<Value> {
    let (mut ty, mut i, mut s) = (0, 0, Value::Null);
    for (n, w) in fields(b)? {
        match (n, w) {
            (1, Wire::Varint(v)) => ty = v,
            (2, Wire::Varint(v)) => i = v,
            (3, Wire::Bytes(v)) => s = string(v),
            _ => {}
        }
    }
    Some(if ty == 1 { s } else { int(i) })
}

/// Decodes a message with `schema` into a JSON object (None when malformed).
fn message(b: &[u8], schema: &[Field], depth: usize) -> Option<Value> {
    if depth > 32 {
        return None;
    }
    let mut out = Map::new();
    for (n, w) in fields(b)? {
        let Some(&(_, name, f)) = schema.iter().find(|(num, _, _)| *num == n) else {
            continue;
        };
        let value = match (f, w) {
            (F::Str, Wire::Bytes(v)) => string(v),
            (F::Int | F::IntKeep, Wire::Varint(v)) => int(v),
            (F::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
            (F::Msg(s), Wire::Bytes(v)) => message(v, s, depth + 1)?,
            (F::IntOrStr, Wire::Bytes(v)) => int_or_string(v)?,
            (F::RepMsg(s), Wire::Bytes(v)) => {
                let item = message(v, s, depth + 1)?;
                push(&mut out, name, item);
                continue;
            }
            (F::RepStr, Wire::Bytes(v)) => {
                push(&mut out, name, string(v));
                continue;
            }
            (F::MapStr | F::MapQuantity, Wire::Bytes(v)) => {
                let (k, val) = map_entry(v, matches!(f, F::MapQuantity))?;
                let m = out.entry(name).or_insert_with(|| json!({}));
                if let Some(m) = m.as_object_mut() {
                    m.insert(k, val);
                }
                continue;
            }
            _ => return None,
        };
        if matches!(f, F::IntKeep) || !is_empty(&value) {
            out.insert(name.to_string(), value);
        }
    }
    Some(Value::Object(out))
}

fn push(out: &mut Map<String, Value>, name: &str, item: Value) {
    let list = out.entry(name).or_insert_with(|| json!([]));
    if let Some(a) = list.as_array_mut() {
        a.push(item);
    }
}

/// Is this a protobuf body (by Content-Type or by the `k8s\0` magic)?
pub fn is_protobuf(content_type: Option<&str>, body: &[u8]) -> bool {
    content_type.is_some_and(|c| c.starts_with("application/vnd.kubernetes.protobuf"))
        || body.starts_with(b"k8s\0")
}

/// The `raw` object inside the `runtime.Unknown` envelope.
pub fn unwrap_envelope(body: &[u8]) -> Option<&[u8]> {
    let unknown = body.strip_prefix(b"k8s\0")?;
    fields(unknown)?
        .into_iter()
        .find_map(|(n, w)| match (n, w) {
            (2, Wire::Bytes(raw)) => Some(raw),
            _ => None,
        })
}

/// Decodes a protobuf object of `kind` into JSON (metadata and spec).
pub fn decode(kind: Kind, body: &[u8]) -> Result<Value, ApiError> {
    let Some(schema) = object_fields(kind) else {
        return Err(ApiError::unsupported_media_type(
            "application/vnd.kubernetes.protobuf (send JSON for this resource)",
        ));
    };
    let bad = || ApiError::bad_request("the protobuf body could not be decoded");
    let raw = unwrap_envelope(body).ok_or_else(bad)?;
    let mut obj = message(raw, &schema, 0).ok_or_else(bad)?;
    obj["apiVersion"] = json!(kind.api_version());
    obj["kind"] = json!(kind.kind());
    if obj.get("metadata").is_none() {
        obj["metadata"] = json!({});
    }
    Ok(obj)
}

const ACCESS_ATTRS: &[Field] = &[
    (1, "namespace", F::Str),
    (2, "verb", F::Str),
    (3, "group", F::Str),
    (4, "version", F::Str),
    (5, "resource", F::Str),
    (6, "subresource", F::Str),
    (7, "name", F::Str),
];
const ACCESS_SPEC: &[Field] = &[(1, "resourceAttributes", F::Msg(ACCESS_ATTRS))];
const ACCESS_REVIEW: &[Field] = &[(2, "spec", F::Msg(ACCESS_SPEC))];

/// A SelfSubjectAccessReview (`kubectl auth can-i`).
pub fn decode_access_review(body: &[u8]) -> Option<Value> {
    message(unwrap_envelope(body)?, ACCESS_REVIEW, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes a length-delimited field.
    fn ld(n: u64, b: &[u8]) -> Vec<u8> {
        let mut out = vec![((n << 3) | 2) as u8, b.len() as u8];
        out.extend_from_slice(b);
        out
    }

    #[test]
    fn decodes_a_namespace_like_kubectl_sends_it() {
        // metadata{name:"foo", generateName:""}, spec{}, status{phase:""} inside the envelope.
        let meta = [ld(1, b"foo"), ld(2, b"")].concat();
        let raw = [ld(1, &meta), ld(2, b""), ld(3, &ld(1, b""))].concat();
        let tm = [ld(1, b"v1"), ld(2, b"Namespace")].concat();
        let body = [b"k8s\0".to_vec(), ld(1, &tm), ld(2, &raw)].concat();
        let v = decode(Kind::Namespace, &body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}})
        );
        assert!(decode(Kind::Namespace, b"k8s\0\x12\x05ab").is_err());
        assert_eq!(decode(Kind::Ingress, &body).unwrap_err().code, 415);
    }
}
