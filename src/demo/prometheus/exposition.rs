//! Text exposition format 0.0.4 of the simulated pods' series, as an exporter would serve them on
//! `/metrics` (the same series the simulated Prometheus stores, without the `job` label a scraper adds).
use super::store::{Labels, pod_samples};
use crate::backend::prometheus::{escape_label_value, format_value};
use crate::demo::traffic::PodTraffic;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The family a sample name belongs to, and its type.
fn family(name: &str) -> (&str, &'static str) {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && base == "http_request_duration_seconds"
        {
            return (base, "histogram");
        }
    }
    let kind = if name.ends_with("_total") {
        "counter"
    } else {
        "gauge"
    };
    (name, kind)
}

fn write_sample(out: &mut String, labels: &Labels, v: f64) {
    let name = labels.get("__name__").map(String::as_str).unwrap_or("");
    out.push_str(name);
    let pairs: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "__name__" && *k != "job")
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v)))
        .collect();
    if !pairs.is_empty() {
        let _ = write!(out, "{{{}}}", pairs.join(","));
    }
    let _ = writeln!(out, " {}", format_value(v));
}

/// A family's type and samples.
type Family = (&'static str, Vec<(Labels, f64)>);

/// Every pod's samples grouped by family, each family after its `# TYPE` line.
pub fn exposition(pods: &[PodTraffic]) -> String {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for p in pods {
        for (labels, v) in pod_samples(p) {
            let name = labels.get("__name__").cloned().unwrap_or_default();
            let (fam, kind) = family(&name);
            families
                .entry(fam.to_string())
                .or_insert_with(|| (kind, Vec::new()))
                .1
                .push((labels, v));
        }
    }
    let mut out = String::new();
    for (fam, (kind, mut samples)) in families {
        let _ = writeln!(out, "# TYPE {fam} {kind}");
        samples.sort_by(|a, b| a.0.cmp(&b.0));
        for (labels, v) in samples {
            write_sample(&mut out, &labels, v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::prometheus::store::tests_support::pod;

    #[test]
    fn escapes_and_types() {
        let mut p = pod("a", 10.0);
        p.app = "we\"b\\x\ny".into();
        let text = exposition(&[p]);
        assert!(text.contains("# TYPE http_request_duration_seconds histogram\n"));
        assert!(text.contains("# TYPE http_requests_total counter\n"));
        assert!(text.contains(r#"app="we\"b\\x\ny""#), "{text}");
        assert!(text.contains(r#"le="+Inf""#));
        assert!(!text.contains("job="));
        // One TYPE line per family.
        assert_eq!(
            text.matches("# TYPE http_request_duration_seconds").count(),
            1
        );
    }
}
