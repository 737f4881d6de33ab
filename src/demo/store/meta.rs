//! Object metadata as the apiserver maintains it: uid, resourceVersion, generation, timestamps,
//! managedFields; and the minimal validation of written objects.
use super::{ApiError, Kind, WriteOptions};
use serde_json::{Map, Value, json};

/// RFC 3339 with whole seconds, as Kubernetes `Time` is serialised.
pub fn format_time(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn new_uid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn random_suffix() -> String {
    // The alphabet the apiserver uses for generateName (no vowels, no confusable digits).
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn invalid_field(kind: Kind, name: &str, field: &str, msg: &str) -> ApiError {
    ApiError::invalid(
        &format!("{}{}", kind.kind(), group_suffix(kind)),
        name,
        &[(field.to_string(), msg.to_string())],
    )
}

fn group_suffix(kind: Kind) -> String {
    match kind.group() {
        "" => String::new(),
        g => format!(".{g}"),
    }
}

/// The object must be a JSON object with a `metadata` object; apiVersion/kind, when present, must
/// match the resource.
pub fn check_shape(kind: Kind, obj: &Value) -> Result<(), ApiError> {
    let Some(o) = obj.as_object() else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    match o.get("metadata") {
        Some(Value::Object(_)) => {}
        _ => return Err(invalid_field(kind, "", "metadata", "Required value")),
    }
    if let Some(v) = o.get("apiVersion")
        && v.as_str() != Some(kind.api_version())
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({})",
            v.as_str().unwrap_or(""),
            kind.api_version()
        )));
    }
    if let Some(v) = o.get("kind")
        && v.as_str() != Some(kind.kind())
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({}) does not match the expected kind ({})",
            v.as_str().unwrap_or(""),
            kind.kind()
        )));
    }
    Ok(())
}

/// Checks a new object and fills its name from generateName; clears server-set fields.
pub fn prepare_new(kind: Kind, obj: &mut Value) -> Result<(), ApiError> {
    check_shape(kind, obj)?;
    if let Some(o) = obj.as_object_mut() {
        o.insert(
            "apiVersion".into(),
            Value::String(kind.api_version().into()),
        );
        o.insert("kind".into(), Value::String(kind.kind().into()));
    }
    let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return Err(invalid_field(kind, "", "metadata", "Required value"));
    };
    let name = md.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        match md.get("generateName").and_then(Value::as_str) {
            Some(prefix) if !prefix.is_empty() => {
                let n = format!("{prefix}{}", random_suffix());
                md.insert("name".into(), Value::String(n));
            }
            _ => {
                return Err(invalid_field(
                    kind,
                    "",
                    "metadata.name",
                    "Required value: name or generateName is required",
                ));
            }
        }
    }
    if !kind.namespaced() {
        md.remove("namespace");
    } else if md
        .get("namespace")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::bad_request(
            "the namespace of the object is required for a namespaced resource",
        ));
    }
    for k in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
        "generation",
    ] {
        md.remove(k);
    }
    apply_defaults(kind, obj);
    validate(kind, obj)
}

/// Sets the fields a create assigns.
pub fn stamp_created(obj: &mut Value, rv: u64, now: jiff::Timestamp, opts: &WriteOptions) {
    let kind_str = obj.get("kind").cloned();
    if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        md.insert("uid".into(), Value::String(new_uid()));
        md.insert("resourceVersion".into(), Value::String(rv.to_string()));
        md.insert("creationTimestamp".into(), Value::String(format_time(now)));
        if kind_str.as_ref().and_then(Value::as_str) != Some("Event")
            && kind_str.as_ref().and_then(Value::as_str) != Some("Namespace")
        {
            md.insert("generation".into(), json!(1));
        }
    }
    record_manager(obj, now, opts);
}

/// Builds the stored form of an update: identity fields from `old`, new rv, generation bump when
/// the spec changed, managedFields for the writer.
pub fn carry_over(
    old: &Value,
    new: &mut Value,
    rv: u64,
    now: jiff::Timestamp,
    opts: &WriteOptions,
) {
    for k in ["apiVersion", "kind"] {
        if let Some(v) = old.get(k) {
            new[k] = v.clone();
        }
    }
    let gen_old = old.pointer("/metadata/generation").and_then(Value::as_i64);
    let spec_changed = old.get("spec") != new.get("spec");
    if let Some(md) = new.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["uid", "creationTimestamp", "deletionTimestamp"] {
            match old.pointer(&format!("/metadata/{k}")) {
                Some(v) => md.insert(k.into(), v.clone()),
                // Graceful deletion sets the timestamp once; after that it never changes.
                None if k == "deletionTimestamp" && opts.graceful_delete => None,
                None => md.remove(k),
            };
        }
        if !opts.graceful_delete && old.pointer("/metadata/deletionTimestamp").is_none() {
            md.remove("deletionGracePeriodSeconds");
        }
        if old.pointer("/metadata/managedFields").is_some() && !md.contains_key("managedFields") {
            // A writer that drops managedFields does not clear them (only an explicit [] would).
            if let Some(v) = old.pointer("/metadata/managedFields") {
                md.insert("managedFields".into(), v.clone());
            }
        }
        md.insert("resourceVersion".into(), Value::String(rv.to_string()));
        match gen_old {
            Some(g) => {
                let g = if spec_changed { g + 1 } else { g };
                md.insert("generation".into(), json!(g));
            }
            None => {
                md.remove("generation");
            }
        }
    }
    record_manager(new, now, opts);
}

pub fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        md.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

/// Coarse fieldsV1: the top-level fields the writer sent.
fn fields_v1(obj: &Value, subresource: Option<&str>) -> Value {
    let mut f = Map::new();
    let Some(o) = obj.as_object() else {
        return Value::Object(f);
    };
    for (k, v) in o {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            // Only whether labels/annotations were written: one small map per object matters
            // at 45,000 objects (each JSON map costs ~600 bytes).
            "metadata" if v.get("labels").is_some() || v.get("annotations").is_some() => {
                f.insert("f:metadata".into(), json!({}));
            }
            "metadata" => {}
            "status" if subresource != Some("status") => {}
            _ if subresource == Some("status") && k != "status" => {}
            _ => {
                f.insert(format!("f:{k}"), json!({}));
            }
        }
    }
    Value::Object(f)
}

/// Adds or refreshes the writer's managedFields entry.
fn record_manager(obj: &mut Value, now: jiff::Timestamp, opts: &WriteOptions) {
    let manager = opts
        .field_manager
        .clone()
        .unwrap_or_else(|| super::DEFAULT_MANAGER.to_string());
    let operation = if opts.apply { "Apply" } else { "Update" };
    let api_version = obj.get("apiVersion").cloned().unwrap_or(Value::Null);
    let fields = fields_v1(obj, opts.subresource.as_deref());
    let mut entry = json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": format_time(now),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    });
    if let Some(s) = &opts.subresource {
        entry["subresource"] = Value::String(s.clone());
    }
    let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let list = md
        .entry("managedFields")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    if let Some(arr) = list.as_array_mut() {
        let same = |e: &Value| {
            e.get("manager") == entry.get("manager")
                && e.get("operation") == entry.get("operation")
                && e.get("subresource") == entry.get("subresource")
        };
        match arr.iter_mut().find(|e| same(e)) {
            Some(e) => *e = entry,
            None => arr.push(entry),
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphanumeric)
        && name
            .as_bytes()
            .last()
            .is_some_and(u8::is_ascii_alphanumeric)
}

/// Minimal validation: names, string maps, and for Deployments replicas ≥ 0 and containers with a
/// name and an image.
pub fn validate(kind: Kind, obj: &Value) -> Result<(), ApiError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut causes: Vec<(String, String)> = Vec::new();
    if !valid_name(name) {
        causes.push((
            "metadata.name".into(),
            format!("Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"),
        ));
    }
    for key in ["labels", "annotations"] {
        match obj.pointer(&format!("/metadata/{key}")) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) if m.values().all(Value::is_string) => {}
            Some(_) => causes.push((
                format!("metadata.{key}"),
                "Invalid value: must be a map of strings".into(),
            )),
        }
    }
    if matches!(kind, Kind::Deployment | Kind::ReplicaSet) {
        match obj.pointer("/spec/replicas") {
            None | Some(Value::Null) => {}
            Some(v)
                if v.as_i64()
                    .is_some_and(|n| (0..=i32::MAX as i64).contains(&n)) => {}
            Some(v) => causes.push((
                "spec.replicas".into(),
                format!("Invalid value: {v}: must be greater than or equal to 0"),
            )),
        }
        match obj
            .pointer("/spec/template/spec/containers")
            .and_then(Value::as_array)
        {
            Some(cs) if !cs.is_empty() => {
                for (i, c) in cs.iter().enumerate() {
                    for field in ["name", "image"] {
                        if c.get(field)
                            .and_then(Value::as_str)
                            .is_none_or(str::is_empty)
                        {
                            causes.push((
                                format!("spec.template.spec.containers[{i}].{field}"),
                                "Required value".into(),
                            ));
                        }
                    }
                }
            }
            _ => causes.push((
                "spec.template.spec.containers".into(),
                "Required value".into(),
            )),
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            &format!("{}{}", kind.kind(), group_suffix(kind)),
            name,
            &causes,
        ))
    }
}

/// Defaults the apiserver fills in on every write (only the Deployment fields clients read).
pub fn apply_defaults(kind: Kind, obj: &mut Value) {
    if kind != Kind::Deployment {
        return;
    }
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let mut default = |k: &str, v: Value| {
        if spec.get(k).is_none_or(Value::is_null) {
            spec.insert(k.into(), v);
        }
    };
    default("replicas", json!(1));
    default("revisionHistoryLimit", json!(10));
    default("progressDeadlineSeconds", json!(600));
    default(
        "strategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
    );
}
