//! PromQL functions of the simulated Prometheus that need Prometheus's exact arithmetic:
//! extrapolated rates and classic-histogram quantiles.
use super::eval::Sample;
use super::store::Labels;
use std::collections::BTreeMap;

fn drop_name(mut l: Labels) -> Labels {
    l.remove("__name__");
    l
}

/// Prometheus's `extrapolatedRate` (rate, increase, delta) over samples in (start, end], in ms.
pub fn extrapolated(
    p: &[(i64, f64)],
    start: i64,
    end: i64,
    counter: bool,
    per_second: bool,
) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (first, last) = (p[0], p[p.len() - 1]);
    let mut result = last.1 - first.1;
    if counter {
        let mut prev = first.1;
        for s in &p[1..] {
            if s.1 < prev {
                result += prev;
            }
            prev = s.1;
        }
    }
    let secs = |ms: i64| ms as f64 / 1000.0;
    let mut to_start = secs(first.0 - start);
    let to_end = secs(end - last.0);
    let sampled = secs(last.0 - first.0);
    let avg = sampled / (p.len() - 1) as f64;
    if counter && result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg / 2.0
    };
    result *= interval / sampled;
    if per_second {
        result /= secs(end - start);
    }
    Some(result)
}

/// `irate`: the last two samples.
pub fn instant_rate(p: &[(i64, f64)]) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (a, b) = (p[p.len() - 2], p[p.len() - 1]);
    let d = if b.1 < a.1 { b.1 } else { b.1 - a.1 };
    let dt = (b.0 - a.0) as f64 / 1000.0;
    (dt > 0.0).then(|| d / dt)
}

/// Groups classic histogram buckets by their labels without `le` and interpolates the quantile.
pub fn histogram_quantile(q: f64, samples: Vec<Sample>) -> Vec<Sample> {
    let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
    for s in samples {
        let mut labels = drop_name(s.labels);
        let Some(le) = labels.remove("le") else {
            continue;
        };
        // Rust's float parser takes `+Inf` as well.
        let Ok(bound) = le.parse::<f64>() else {
            continue;
        };
        groups.entry(labels).or_default().push((bound, s.v));
    }
    groups
        .into_iter()
        .map(|(labels, buckets)| Sample {
            labels,
            v: bucket_quantile(q, buckets),
        })
        .collect()
}

fn bucket_quantile(q: f64, mut b: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    if b.len() < 2 || !b[b.len() - 1].0.is_infinite() {
        return f64::NAN;
    }
    // Counts must not decrease (scrapes of buckets are not atomic).
    for i in 1..b.len() {
        if b[i].1 < b[i - 1].1 {
            b[i].1 = b[i - 1].1;
        }
    }
    let observations = b[b.len() - 1].1;
    if observations == 0.0 || observations.is_nan() {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let idx = b.partition_point(|x| x.1 < rank);
    if idx >= b.len() - 1 {
        return b[b.len() - 2].0;
    }
    if idx == 0 && b[0].0 <= 0.0 {
        return b[0].0;
    }
    let (mut start, end, mut count) = (0.0, b[idx].0, b[idx].1);
    if idx > 0 {
        start = b[idx - 1].0;
        count -= b[idx - 1].1;
        rank -= b[idx - 1].1;
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates() {
        assert_eq!(
            bucket_quantile(0.5, vec![(1.0, 0.0), (2.0, 10.0), (f64::INFINITY, 10.0)]),
            1.5
        );
        assert!(bucket_quantile(0.5, vec![(1.0, 0.0), (f64::INFINITY, 0.0)]).is_nan());
        assert_eq!(
            bucket_quantile(1.0, vec![(1.0, 5.0), (f64::INFINITY, 10.0)]),
            1.0
        );
    }

    #[test]
    fn rate_extrapolates_to_the_window() {
        // 10/s sampled every 5 s across a 60 s window: exactly 10/s.
        let p: Vec<(i64, f64)> = (1..=12).map(|i| (i * 5000, i as f64 * 50.0)).collect();
        let r = extrapolated(&p, 0, 60_000, true, true).unwrap();
        assert!((r - 10.0).abs() < 1e-9, "{r}");
        // A counter reset keeps counting.
        let reset = [(1000, 10.0), (2000, 20.0), (3000, 5.0)];
        assert_eq!(instant_rate(&reset), Some(5.0));
    }
}
