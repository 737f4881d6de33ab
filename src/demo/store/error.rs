//! `ApiError`: a failed API call as the apiserver reports it, convertible to a `Status` object.
use serde_json::{Value, json};

/// A failed call: HTTP code, Kubernetes reason and message, optional `details`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// The `details` object of the Status (name, group, kind, causes), when known.
    pub details: Option<Value>,
}

fn details(kind: &str, name: &str) -> Option<Value> {
    let (group, kind) = group_kind(kind);
    Some(json!({"name": name, "group": group, "kind": kind}))
}

/// "deployments.apps" → ("apps", "deployments"); "pods" → ("", "pods").
fn group_kind(resource: &str) -> (&str, &str) {
    match resource.split_once('.') {
        Some((k, g)) => (g, k),
        None => ("", resource),
    }
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
        }
    }

    /// `resource` is the plural with its group, e.g. `deployments.apps` (as the apiserver words it).
    pub fn not_found(resource: &str, name: &str) -> ApiError {
        ApiError {
            details: details(resource, name),
            ..ApiError::new(404, "NotFound", format!("{resource} \"{name}\" not found"))
        }
    }

    pub fn already_exists(resource: &str, name: &str) -> ApiError {
        ApiError {
            details: details(resource, name),
            ..ApiError::new(
                409,
                "AlreadyExists",
                format!("{resource} \"{name}\" already exists"),
            )
        }
    }

    pub fn conflict(resource: &str, name: &str) -> ApiError {
        let msg = format!(
            "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
        );
        ApiError {
            details: details(resource, name),
            ..ApiError::new(409, "Conflict", msg)
        }
    }

    /// 422 Invalid with `details.causes` as `(field, message)` pairs.
    pub fn invalid(kind: &str, name: &str, causes: &[(String, String)]) -> ApiError {
        let text: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let causes: Vec<Value> = causes
            .iter()
            .map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f}))
            .collect();
        let (group, _) = group_kind(kind);
        ApiError {
            details: Some(
                json!({"name": name, "group": group, "kind": kind_of(kind), "causes": causes}),
            ),
            ..ApiError::new(
                422,
                "Invalid",
                format!("{kind} \"{name}\" is invalid: {}", text.join(", ")),
            )
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn expired(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        )
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError::new(405, "MethodNotAllowed", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "InternalError", message)
    }

    /// The Kubernetes `Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

/// "deployments.apps" → "Deployment" style kind name for `details.kind` of Invalid errors.
fn kind_of(resource: &str) -> &str {
    group_kind(resource).1
}
