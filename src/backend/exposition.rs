//! Parser for the Prometheus text exposition format 0.0.4 (a pod's `/metrics`), written in-house:
//! the crates checked mis-parse escaped label values or drop names with `:` (reference crates.md §6).
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct ExpoSample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Go float syntax: `NaN`, `+Inf`, `-Inf` included.
    pub value: f64,
    /// Milliseconds since the epoch, when the exporter gave one.
    pub timestamp_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition {
    /// In document order.
    pub samples: Vec<ExpoSample>,
    /// Family → `counter`, `gauge`, `histogram`, `summary`, `untyped`.
    pub types: BTreeMap<String, String>,
    /// Family → help text, unescaped.
    pub help: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ExpoError {
    pub line: usize,
    pub message: String,
}

/// Parses a whole document; like Prometheus, one malformed line fails the scrape.
pub fn parse(text: &str) -> Result<Exposition, ExpoError> {
    let mut out = Exposition::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        let err = |message: String| ExpoError {
            line: i + 1,
            message,
        };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, [' ', '\t']);
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), rest) => {
                    out.help
                        .insert(name.to_string(), unescape_help(rest.unwrap_or("")));
                }
                (Some("TYPE"), Some(name), Some(kind)) => {
                    let kind = kind.trim();
                    if !matches!(
                        kind,
                        "counter" | "gauge" | "histogram" | "summary" | "untyped"
                    ) {
                        return Err(err(format!("unknown metric type {kind:?}")));
                    }
                    out.types.insert(name.to_string(), kind.to_string());
                }
                _ => {} // any other comment
            }
            continue;
        }
        out.samples.push(sample(line).map_err(err)?);
    }
    Ok(out)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn sample(line: &str) -> Result<ExpoSample, String> {
    let name_len = line
        .char_indices()
        .find(|(i, c)| {
            if *i == 0 {
                !is_name_start(*c)
            } else {
                !is_name_char(*c)
            }
        })
        .map(|(i, _)| i)
        .unwrap_or(line.len());
    if name_len == 0 {
        return Err(format!(
            "expected a metric name in {:?}",
            crate::text::cell(line, 60)
        ));
    }
    let name = line[..name_len].to_string();
    let mut rest = &line[name_len..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = label_set(after, &mut labels)?;
    }
    let mut fields = rest.split_whitespace();
    let value = fields
        .next()
        .ok_or_else(|| format!("{name}: no value"))
        .and_then(|v| parse_float(v).ok_or_else(|| format!("{name}: bad value {v:?}")))?;
    let timestamp_ms = match fields.next() {
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|_| format!("{name}: bad timestamp {t:?}"))?,
        ),
        None => None,
    };
    if let Some(extra) = fields.next() {
        return Err(format!("{name}: unexpected {extra:?} after the timestamp"));
    }
    Ok(ExpoSample {
        name,
        labels,
        value,
        timestamp_ms,
    })
}

/// Reads `name="value",...}` (trailing comma allowed); returns what follows the `}`.
fn label_set<'a>(mut s: &'a str, labels: &mut BTreeMap<String, String>) -> Result<&'a str, String> {
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Ok(after);
        }
        let n = s
            .char_indices()
            .find(|(i, c)| {
                if *i == 0 {
                    !(c.is_ascii_alphabetic() || *c == '_')
                } else {
                    !(c.is_ascii_alphanumeric() || *c == '_')
                }
            })
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        if n == 0 {
            return Err(format!(
                "expected a label name at {:?}",
                crate::text::cell(s, 40)
            ));
        }
        let lname = s[..n].to_string();
        s = s[n..].trim_start();
        s = s
            .strip_prefix('=')
            .ok_or_else(|| format!("label {lname}: expected '='"))?
            .trim_start();
        s = s
            .strip_prefix('"')
            .ok_or_else(|| format!("label {lname}: expected '\"'"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("label {lname}: unterminated value")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    // Unknown escapes stay as written, as in Prometheus.
                    Some((_, c)) => {
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err(format!("label {lname}: unterminated value")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.insert(lname, value);
        s = s[end + 1..].trim_start();
        if let Some(after) = s.strip_prefix(',') {
            s = after;
        } else if !s.starts_with('}') {
            return Err(format!(
                "expected ',' or '}}' at {:?}",
                crate::text::cell(s, 40)
            ));
        }
    }
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok().filter(|v: &f64| v.is_finite()),
    }
}

/// HELP text escapes only `\\` and `\n`.
fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> ExpoSample {
        let e = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(e.samples.len(), 1, "{text}");
        e.samples.into_iter().next().unwrap()
    }

    fn l(s: &ExpoSample, k: &str) -> String {
        s.labels
            .get(k)
            .cloned()
            .unwrap_or_else(|| panic!("no {k} in {:?}", s.labels))
    }

    // The twelve documents of reference/crates.md §6.
    #[test]
    fn basic_comma_and_escapes() {
        let s = one("# TYPE up gauge\nup{job=\"a\"} 1\n");
        assert_eq!(
            (s.name.as_str(), s.value, l(&s, "job").as_str()),
            ("up", 1.0, "a")
        );
        let s = one("x{a=\"1,2\",b=\"c\"} 3\n");
        assert_eq!(
            (l(&s, "a").as_str(), l(&s, "b").as_str(), s.labels.len()),
            ("1,2", "c", 2)
        );
        let s = one(r#"x{a="q\"uote",b="back\\slash",c="new\nline"} 1"#);
        assert_eq!(l(&s, "a"), "q\"uote");
        assert_eq!(l(&s, "b"), "back\\slash");
        assert_eq!(l(&s, "c"), "new\nline");
    }

    #[test]
    fn colon_names_braces_equals_and_specials() {
        let s = one(r#"job:requests:rate5m{v="a}b"} 2"#);
        assert_eq!(
            (s.name.as_str(), l(&s, "v").as_str()),
            ("job:requests:rate5m", "a}b")
        );
        let e = parse("a{x=\"k=v\",y=\"{\"} NaN\nb +Inf\nc -Inf\n").unwrap();
        assert!(e.samples[0].value.is_nan());
        assert_eq!(l(&e.samples[0], "x"), "k=v");
        assert_eq!(l(&e.samples[0], "y"), "{");
        assert_eq!(e.samples[1].value, f64::INFINITY);
        assert_eq!(e.samples[2].value, f64::NEG_INFINITY);
    }

    #[test]
    fn histogram_and_summary() {
        let e = parse(
            "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 3\nh_sum 0.5\nh_count 3\n\
             # TYPE s summary\ns{quantile=\"0.99\"} 0.2\ns_sum 1\ns_count 4\n",
        )
        .unwrap();
        assert_eq!(e.types["h"], "histogram");
        assert_eq!(e.types["s"], "summary");
        assert_eq!(e.samples.len(), 7);
        assert_eq!(l(&e.samples[1], "le"), "+Inf");
        assert_eq!(e.samples[3].name, "h_count");
        assert_eq!(l(&e.samples[4], "quantile"), "0.99");
    }

    #[test]
    fn trailing_comma_untyped_timestamp() {
        assert_eq!(one("x{a=\"b\",} 1").labels.len(), 1);
        let s = one("plain_metric 42");
        assert_eq!((s.value, s.labels.len()), (42.0, 0));
        assert_eq!(
            one("x 1 1700000000123").timestamp_ms,
            Some(1_700_000_000_123)
        );
    }

    #[test]
    fn family_with_different_label_names_and_help() {
        let e = parse(
            "# HELP kube_pod_labels Labels, with \\\\ and \\n.\n# TYPE kube_pod_labels gauge\n\
             kube_pod_labels{pod=\"a\",label_app=\"web\"} 1\nkube_pod_labels{pod=\"b\",label_team=\"\"} 1\n",
        )
        .unwrap();
        assert_eq!(e.samples.len(), 2);
        assert_eq!(e.help["kube_pod_labels"], "Labels, with \\ and \n.");
        assert_eq!(l(&e.samples[1], "label_team"), "");
    }

    #[test]
    fn malformed_lines_name_the_line() {
        for bad in [
            "x{a=\"b} 1",
            "x{a=b} 1",
            "x",
            "x 1 2 3",
            "{a=\"b\"} 1",
            "x abc",
            "# TYPE x bogus",
        ] {
            let e = parse(&format!("ok 1\n{bad}\n")).unwrap_err();
            assert_eq!(e.line, 2, "{bad}: {e}");
        }
    }

    #[test]
    fn reads_what_the_simulation_writes() {
        use crate::demo::prometheus::exposition::exposition;
        use crate::demo::traffic::{LATENCY_BUCKETS, PodTraffic};
        let pod = PodTraffic {
            namespace: "ns".into(),
            pod: "p".into(),
            app: "we\"b\\x\ny".into(),
            image: "i".into(),
            requests_total: 10.0,
            errors_total: 1.0,
            latency_bucket_counts: vec![1.0; LATENCY_BUCKETS.len() + 1],
            latency_sum_seconds: 0.1,
            cpu_seconds_total: 2.0,
            memory_bytes: 3.0,
            restarts: 0,
            ready: true,
        };
        let e = parse(&exposition(std::slice::from_ref(&pod))).unwrap();
        assert_eq!(
            e.samples.len(),
            crate::demo::prometheus::store::pod_samples(&pod).len()
        );
        assert!(e.samples.iter().all(|s| s.labels["app"] == pod.app));
        assert_eq!(e.types["http_request_duration_seconds"], "histogram");
    }
}
