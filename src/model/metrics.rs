//! Metrics as the Metrics pane shows them: one series per configured query for one app × environment.
use serde::{Deserialize, Serialize};

/// How a query's value is shown. Values arrive in Prometheus base units (seconds, bytes, ratios).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Requests per second.
    ReqPerSec,
    /// A ratio 0..1 shown as a percentage.
    Percent,
    /// Seconds shown as milliseconds.
    Millis,
    /// CPU cores (seconds per second).
    Cores,
    /// Bytes shown as MiB.
    Mib,
    /// The value as it comes.
    #[default]
    Plain,
}

impl Unit {
    /// Short unit label for the pane (`req/s`, `%`, `ms`, `cores`, `MiB`).
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::ReqPerSec => "req/s",
            Unit::Percent => "%",
            Unit::Millis => "ms",
            Unit::Cores => "cores",
            Unit::Mib => "MiB",
            Unit::Plain => "",
        }
    }

    /// The value converted to the display unit (ratio → percent, seconds → ms, bytes → MiB).
    pub fn scale(self, v: f64) -> f64 {
        match self {
            Unit::Percent => v * 100.0,
            Unit::Millis => v * 1000.0,
            Unit::Mib => v / (1024.0 * 1024.0),
            _ => v,
        }
    }

    /// A value with its unit: `412 req/s`, `4.1%`, `870 ms`; NaN and ±Inf spelled out.
    pub fn format(self, v: f64) -> String {
        if v.is_nan() {
            return "NaN".into();
        }
        if v.is_infinite() {
            return if v > 0.0 {
                "+Inf".into()
            } else {
                "-Inf".into()
            };
        }
        let s = self.scale(v);
        let num = format_number(s);
        match self {
            Unit::Percent => format!("{num}%"),
            Unit::Plain => num,
            u => format!("{num} {}", u.suffix()),
        }
    }
}

/// Short numbers without exponent for the usual ranges: `412`, `4.1`, `0.25`.
pub fn format_number(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else if a >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.1e}")
    }
}

/// One configured query's result over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeries {
    /// Config key of the query (`requests`, `errors`, ...).
    pub key: String,
    /// Row label (`req/s`, `5xx %`).
    pub label: String,
    pub unit: Unit,
    /// (unix seconds, value) in time order; values may be NaN or ±Inf.
    pub points: Vec<(f64, f64)>,
    /// Per-query failure (bad query, execution error); the rest of the snapshot is still good.
    pub error: Option<String>,
}

impl MetricSeries {
    /// The last point's value; `None` when the query returned no data.
    pub fn current(&self) -> Option<f64> {
        self.points.last().map(|p| p.1)
    }
}

/// Every query's series for one app × environment, as fetched at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSnapshot {
    pub app: String,
    pub env: String,
    pub namespace: String,
    /// The selection generation this answers; the UI drops snapshots of an older selection.
    pub generation: u64,
    pub window_secs: u64,
    pub step_secs: f64,
    /// End of the range (unix seconds).
    pub end: f64,
    pub series: Vec<MetricSeries>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_units() {
        assert_eq!(Unit::ReqPerSec.format(412.4), "412 req/s");
        assert_eq!(Unit::Percent.format(0.041), "4.1%");
        assert_eq!(Unit::Millis.format(0.87), "870 ms");
        assert_eq!(Unit::Cores.format(0.25), "0.25 cores");
        assert_eq!(Unit::Mib.format(104_857_600.0), "100 MiB");
        assert_eq!(Unit::Plain.format(0.0), "0");
        assert_eq!(Unit::Percent.format(f64::NAN), "NaN");
        assert_eq!(Unit::Millis.format(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_number(0.0001), "1.0e-4");
    }
}
