//! Query parameters, label and field selectors, and continue tokens of list/watch requests.
use crate::demo::store::ApiError;
use serde_json::Value;
use std::collections::HashMap;

/// Decoded query parameters (last value wins).
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    pub fn parse(q: &str) -> Query {
        Query(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (percent_decode(k), percent_decode(v)),
                    None => (percent_decode(p), String::new()),
                })
                .collect(),
        )
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// `true`/`1` (as the apiserver parses booleans).
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | "True"))
    }

    pub fn dry_run(&self) -> bool {
        self.get("dryRun") == Some("All")
    }

    pub fn u64(&self, k: &str) -> Result<Option<u64>, ApiError> {
        match self.get(k).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid {k}: {s:?}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label or field selector (all requirements must hold).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    reqs: Vec<Req>,
    /// Field selectors read dotted paths of the object; label selectors read metadata.labels.
    fields: bool,
}

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn set_values(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

impl Selector {
    pub fn labels(s: &str) -> Result<Selector, ApiError> {
        Selector::parse(s, false)
    }

    pub fn fields(s: &str) -> Result<Selector, ApiError> {
        Selector::parse(s, true)
    }

    fn parse(s: &str, fields: bool) -> Result<Selector, ApiError> {
        let bad = |p: &str| {
            ApiError::bad_request(format!(
                "unable to parse requirement: {p:?} in {} selector {s:?}",
                if fields { "field" } else { "label" }
            ))
        };
        let mut reqs = Vec::new();
        for part in split_top(s)
            .into_iter()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let req = if let Some((k, v)) = part.split_once("!=") {
                Req::Ne(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==") {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once('=') {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if fields {
                return Err(bad(part));
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                Req::NotIn(k.trim().into(), set_values(rest).ok_or_else(|| bad(part))?)
            } else if let Some((k, rest)) = part.split_once(" in ") {
                Req::In(k.trim().into(), set_values(rest).ok_or_else(|| bad(part))?)
            } else if let Some(k) = part.strip_prefix('!') {
                Req::NotExists(k.trim().into())
            } else if part.contains([' ', '(', ')', '<', '>']) {
                return Err(bad(part));
            } else {
                Req::Exists(part.into())
            };
            let key = match &req {
                Req::Eq(k, _)
                | Req::Ne(k, _)
                | Req::In(k, _)
                | Req::NotIn(k, _)
                | Req::Exists(k)
                | Req::NotExists(k) => k,
            };
            if key.is_empty() {
                return Err(bad(part));
            }
            reqs.push(req);
        }
        Ok(Selector { reqs, fields })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    fn value<'a>(&self, obj: &'a Value, key: &str) -> Option<&'a str> {
        if self.fields {
            let ptr = format!("/{}", key.replace('.', "/"));
            obj.pointer(&ptr).and_then(Value::as_str)
        } else {
            obj.pointer("/metadata/labels")
                .and_then(|l| l.get(key))
                .and_then(Value::as_str)
        }
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|r| match r {
            // Field selectors compare missing fields as "" (metadata.namespace of cluster objects).
            Req::Eq(k, v) if self.fields => self.value(obj, k).unwrap_or("") == v,
            Req::Ne(k, v) if self.fields => self.value(obj, k).unwrap_or("") != v,
            Req::Eq(k, v) => self.value(obj, k) == Some(v.as_str()),
            Req::Ne(k, v) => self.value(obj, k) != Some(v.as_str()),
            Req::In(k, vs) => self
                .value(obj, k)
                .is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => self.value(obj, k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Req::Exists(k) => self.value(obj, k).is_some(),
            Req::NotExists(k) => self.value(obj, k).is_none(),
        })
    }
}

/// The label + field selectors of a request.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub labels: Selector,
    pub fields: Selector,
}

impl Filter {
    pub fn from_query(q: &Query) -> Result<Filter, ApiError> {
        Ok(Filter {
            labels: Selector::labels(q.get("labelSelector").unwrap_or(""))?,
            fields: Selector::fields(q.get("fieldSelector").unwrap_or(""))?,
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// True when every object matches (no parsing needed).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

/// An opaque continue token: the (namespace, name) of the last item returned, hex-encoded.
pub fn encode_continue(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let bad = || {
        ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion")
    };
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return Err(bad());
    }
    let bytes: Result<Vec<u8>, _> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect();
    let s = String::from_utf8(bytes.map_err(|_| bad())?).map_err(|_| bad())?;
    let (ns, name) = s.split_once('/').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let o = json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}});
        for (s, want) in [
            ("app=web", true),
            ("app==web,tier=fe", true),
            ("app!=web", false),
            ("app in (api, web)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing,app", true),
            ("missing!=x", true),
        ] {
            assert_eq!(Selector::labels(s).unwrap().matches(&o), want, "{s}");
        }
        assert!(Selector::labels("app in web").is_err());
        assert!(Selector::labels("=x").is_err());
    }

    #[test]
    fn field_selectors_and_tokens() {
        let o =
            json!({"metadata": {"name": "x", "namespace": "n"}, "involvedObject": {"kind": "Pod"}});
        assert!(
            Selector::fields("metadata.name=x,involvedObject.kind=Pod")
                .unwrap()
                .matches(&o)
        );
        assert!(
            !Selector::fields("status.phase=Running")
                .unwrap()
                .matches(&o)
        );
        assert!(
            Selector::fields("status.phase!=Running")
                .unwrap()
                .matches(&o)
        );
        assert!(Selector::fields("bogus").is_err());
        let t = encode_continue("ns", "a/b");
        assert_eq!(decode_continue(&t).unwrap(), ("ns".into(), "a/b".into()));
        assert!(decode_continue("zz").is_err());
        let q = Query::parse("fieldSelector=metadata.name%3Dx&watch=1&limit=5");
        assert_eq!(q.get("fieldSelector"), Some("metadata.name=x"));
        assert!(q.flag("watch"));
        assert_eq!(q.u64("limit").unwrap(), Some(5));
    }
}
