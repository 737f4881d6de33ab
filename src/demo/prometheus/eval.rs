//! PromQL evaluation for the simulated Prometheus, over the AST of the `promql-parser` crate.
//!
//! Covers what dashboards and the default queries use: selectors with `=`, `!=`, `=~`, `!~` and
//! `offset`; `rate`/`irate`/`increase`/`delta`, `*_over_time`, `absent` and the math functions;
//! `sum`/`avg`/`min`/`max`/`count`/`group` with `by`/`without`; `histogram_quantile`; arithmetic,
//! comparison and set operators between vectors (one-to-one and `group_left`/`group_right`,
//! `on`/`ignoring`) and scalars. Anything else is an `execution` error.
use super::functions::{extrapolated, histogram_quantile, instant_rate};
use super::store::{Labels, Series, Store};
use promql_parser::label::Matchers;
use promql_parser::parser::token::{T_AVG, T_COUNT, T_GROUP, T_MAX, T_MIN, T_SUM};
use promql_parser::parser::{
    self, AggregateExpr, Call, Expr, LabelModifier, Offset, VectorSelector,
};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400 `bad_data`: the query does not parse or does not fit the request.
    BadData,
    /// 422 `execution`: it parses but cannot be evaluated (here: also not simulated).
    Execution,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    pub kind: ErrorKind,
    pub message: String,
}

impl EvalError {
    pub(crate) fn bad(m: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::BadData,
            message: m.into(),
        }
    }
    pub(crate) fn exec(m: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Execution,
            message: m.into(),
        }
    }
    pub(crate) fn unsupported(what: impl std::fmt::Display) -> Self {
        Self::exec(format!("not supported by the simulated Prometheus: {what}"))
    }
}

pub(crate) type R<T> = Result<T, EvalError>;
/// A function of the samples in a range and the range's (start, end) in ms.
type RangeFn<'a> = &'a dyn Fn(&[(i64, f64)], i64, i64) -> Option<f64>;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub v: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RangeRow {
    pub labels: Labels,
    /// (unix ms, value)
    pub points: Vec<(i64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    String(String),
    Vector(Vec<Sample>),
    Matrix(Vec<RangeRow>),
}

/// Parses a query; errors read like Prometheus's.
pub fn parse(query: &str) -> R<Expr> {
    parser::parse(query).map_err(|e| EvalError::bad(format!("invalid parameter \"query\": {e}")))
}

/// Deeper expressions are refused: evaluation recurses, and a stack overflow would abort the demo.
pub const MAX_DEPTH: usize = 64;

fn depth(e: &Expr) -> usize {
    1 + match e {
        Expr::Aggregate(a) => depth(&a.expr).max(a.param.as_deref().map_or(0, depth)),
        Expr::Unary(u) => depth(&u.expr),
        Expr::Binary(b) => depth(&b.lhs).max(depth(&b.rhs)),
        Expr::Paren(p) => depth(&p.expr),
        Expr::Subquery(s) => depth(&s.expr),
        Expr::Call(c) => c.args.args.iter().map(|a| depth(a)).max().unwrap_or(0),
        _ => 0,
    }
}

fn check_depth(e: &Expr) -> R<()> {
    if depth(e) > MAX_DEPTH {
        return Err(EvalError::unsupported(format!(
            "expressions nested deeper than {MAX_DEPTH}"
        )));
    }
    Ok(())
}

/// Evaluates at one instant (unix ms).
pub fn instant(store: &Store, expr: &Expr, t: i64) -> R<Value> {
    check_depth(expr)?;
    let mut v = Ev::new(store).eval(expr, t)?;
    if let Value::Vector(s) = &mut v {
        s.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
    Ok(v)
}

/// Evaluates at every step from `start` to `end` (unix ms) into a matrix.
pub fn range(store: &Store, expr: &Expr, start: i64, end: i64, step: i64) -> R<Vec<RangeRow>> {
    check_depth(expr)?;
    let ev = Ev::new(store);
    let mut rows: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    let mut t = start;
    while t <= end {
        match ev.eval(expr, t)? {
            Value::Scalar(v) => rows.entry(Labels::new()).or_default().push((t, v)),
            Value::Vector(samples) => {
                for s in samples {
                    rows.entry(s.labels).or_default().push((t, s.v));
                }
            }
            Value::Matrix(_) => {
                return Err(EvalError::bad(
                    "invalid parameter \"query\": invalid expression type \"range vector\" for range query, must be Scalar or instant Vector",
                ));
            }
            Value::String(_) => {
                return Err(EvalError::bad(
                    "invalid parameter \"query\": invalid expression type \"string\" for range query, must be Scalar or instant Vector",
                ));
            }
        }
        t += step.max(1);
    }
    Ok(rows
        .into_iter()
        .map(|(labels, points)| RangeRow { labels, points })
        .collect())
}

struct Ev<'a> {
    store: &'a Store,
    /// Series each selector matched, by the selector's address: a range query evaluates the same
    /// AST at every step, so the label matching is done once.
    selected: RefCell<HashMap<*const VectorSelector, Vec<&'a Series>>>,
}

impl<'a> Ev<'a> {
    fn new(store: &'a Store) -> Self {
        Self {
            store,
            selected: RefCell::new(HashMap::new()),
        }
    }
}

pub(crate) fn drop_name(mut l: Labels) -> Labels {
    l.remove("__name__");
    l
}

fn matches(m: &Matchers, labels: &Labels) -> bool {
    let get = |n: &str| labels.get(n).map(String::as_str).unwrap_or("");
    let all = |ms: &[promql_parser::label::Matcher]| ms.iter().all(|m| m.is_match(get(&m.name)));
    all(&m.matchers) && (m.or_matchers.is_empty() || m.or_matchers.iter().any(|g| all(g)))
}

impl<'a> Ev<'a> {
    fn eval(&self, e: &Expr, t: i64) -> R<Value> {
        match e {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(s) => Ok(Value::Vector(
                    s.into_iter()
                        .map(|s| Sample {
                            labels: drop_name(s.labels),
                            v: -s.v,
                        })
                        .collect(),
                )),
                _ => Err(EvalError::bad(
                    "unary minus needs a scalar or an instant vector",
                )),
            },
            Expr::VectorSelector(vs) => self.select(vs, t),
            Expr::MatrixSelector(ms) => {
                let at = self.at(&ms.vs, t)?;
                let range = ms.range.as_millis() as i64;
                let rows = self
                    .selected(&ms.vs)
                    .into_iter()
                    .map(|s| RangeRow {
                        labels: s.labels.clone(),
                        points: s.range(at - range, at),
                    })
                    .filter(|r| !r.points.is_empty())
                    .collect();
                Ok(Value::Matrix(rows))
            }
            Expr::Call(c) => self.call(c, t),
            Expr::Aggregate(a) => self.aggregate(a, t),
            Expr::Binary(b) => {
                let lhs = self.eval(&b.lhs, t)?;
                let rhs = self.eval(&b.rhs, t)?;
                super::binary::binary(b, lhs, rhs)
            }
            Expr::Subquery(_) => Err(EvalError::unsupported("subqueries")),
            Expr::Extension(_) => Err(EvalError::unsupported("extensions")),
        }
    }

    fn at(&self, vs: &VectorSelector, t: i64) -> R<i64> {
        if vs.at.is_some() {
            return Err(EvalError::unsupported("the @ modifier"));
        }
        Ok(match &vs.offset {
            Some(Offset::Pos(d)) => t - d.as_millis() as i64,
            Some(Offset::Neg(d)) => t + d.as_millis() as i64,
            None => t,
        })
    }

    fn selected(&self, vs: &VectorSelector) -> Vec<&'a Series> {
        let key = vs as *const VectorSelector;
        if let Some(v) = self.selected.borrow().get(&key) {
            return v.clone();
        }
        let v: Vec<&'a Series> = self
            .store
            .series()
            .filter(|s| {
                vs.name
                    .as_ref()
                    .is_none_or(|n| s.labels.get("__name__") == Some(n))
                    && matches(&vs.matchers, &s.labels)
            })
            .collect();
        self.selected.borrow_mut().insert(key, v.clone());
        v
    }

    fn select(&self, vs: &VectorSelector, t: i64) -> R<Value> {
        let at = self.at(vs, t)?;
        Ok(Value::Vector(
            self.selected(vs)
                .into_iter()
                .filter_map(|s| {
                    s.instant(at).map(|(_, v)| Sample {
                        labels: s.labels.clone(),
                        v,
                    })
                })
                .collect(),
        ))
    }

    fn vector(&self, e: &Expr, t: i64) -> R<Vec<Sample>> {
        match self.eval(e, t)? {
            Value::Vector(v) => Ok(v),
            _ => Err(EvalError::bad("expected an instant vector")),
        }
    }

    fn scalar(&self, e: &Expr, t: i64) -> R<f64> {
        match self.eval(e, t)? {
            Value::Scalar(v) => Ok(v),
            _ => Err(EvalError::bad("expected a scalar")),
        }
    }

    fn matrix(&self, e: &Expr, t: i64) -> R<(Vec<RangeRow>, i64)> {
        let range = match e {
            Expr::MatrixSelector(ms) => ms.range.as_millis() as i64,
            _ => return Err(EvalError::unsupported("range vectors other than selectors")),
        };
        match self.eval(e, t)? {
            Value::Matrix(m) => Ok((m, range)),
            _ => Err(EvalError::bad("expected a range vector")),
        }
    }

    fn call(&self, c: &Call, t: i64) -> R<Value> {
        let args = &c.args.args;
        let arg = |i: usize| -> R<&Expr> {
            args.get(i)
                .map(|b| b.as_ref())
                .ok_or_else(|| EvalError::bad(format!("{}: missing argument", c.func.name)))
        };
        let per_range = |f: RangeFn| -> R<Value> {
            let (rows, range) = self.matrix(arg(0)?, t)?;
            Ok(Value::Vector(
                rows.into_iter()
                    .filter_map(|r| {
                        f(&r.points, t - range, t).map(|v| Sample {
                            labels: drop_name(r.labels),
                            v,
                        })
                    })
                    .collect(),
            ))
        };
        let per_sample = |f: &dyn Fn(f64) -> f64| -> R<Value> {
            Ok(Value::Vector(
                self.vector(arg(0)?, t)?
                    .into_iter()
                    .map(|s| Sample {
                        labels: drop_name(s.labels),
                        v: f(s.v),
                    })
                    .collect(),
            ))
        };
        match c.func.name {
            "rate" => per_range(&|p, s, e| extrapolated(p, s, e, true, true)),
            "increase" => per_range(&|p, s, e| extrapolated(p, s, e, true, false)),
            "delta" => per_range(&|p, s, e| extrapolated(p, s, e, false, false)),
            "irate" => per_range(&|p, _, _| instant_rate(p)),
            "avg_over_time" => per_range(&|p, _, _| {
                (!p.is_empty()).then(|| p.iter().map(|x| x.1).sum::<f64>() / p.len() as f64)
            }),
            "sum_over_time" => {
                per_range(&|p, _, _| (!p.is_empty()).then(|| p.iter().map(|x| x.1).sum()))
            }
            "count_over_time" => per_range(&|p, _, _| (!p.is_empty()).then_some(p.len() as f64)),
            "max_over_time" => per_range(&|p, _, _| p.iter().map(|x| x.1).reduce(f64::max)),
            "min_over_time" => per_range(&|p, _, _| p.iter().map(|x| x.1).reduce(f64::min)),
            "last_over_time" => per_range(&|p, _, _| p.last().map(|x| x.1)),
            "abs" => per_sample(&f64::abs),
            "ceil" => per_sample(&f64::ceil),
            "floor" => per_sample(&f64::floor),
            "sqrt" => per_sample(&f64::sqrt),
            "exp" => per_sample(&f64::exp),
            "ln" => per_sample(&f64::ln),
            "log2" => per_sample(&f64::log2),
            "log10" => per_sample(&f64::log10),
            "absent" => {
                if !self.vector(arg(0)?, t)?.is_empty() {
                    return Ok(Value::Vector(Vec::new()));
                }
                // The labels the selector pins with `=` make up the result, as in Prometheus.
                let mut labels = Labels::new();
                if let Expr::VectorSelector(vs) = arg(0)? {
                    for m in &vs.matchers.matchers {
                        if m.name != "__name__"
                            && matches!(m.op, promql_parser::label::MatchOp::Equal)
                        {
                            labels.insert(m.name.clone(), m.value.clone());
                        }
                    }
                }
                Ok(Value::Vector(vec![Sample { labels, v: 1.0 }]))
            }
            "clamp_min" => {
                let m = self.scalar(arg(1)?, t)?;
                per_sample(&|v| v.max(m))
            }
            "clamp_max" => {
                let m = self.scalar(arg(1)?, t)?;
                per_sample(&|v| v.min(m))
            }
            "time" => Ok(Value::Scalar(t as f64 / 1000.0)),
            "vector" => Ok(Value::Vector(vec![Sample {
                labels: Labels::new(),
                v: self.scalar(arg(0)?, t)?,
            }])),
            "scalar" => {
                let v = self.vector(arg(0)?, t)?;
                Ok(Value::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }))
            }
            "histogram_quantile" => {
                let q = self.scalar(arg(0)?, t)?;
                Ok(Value::Vector(histogram_quantile(
                    q,
                    self.vector(arg(1)?, t)?,
                )))
            }
            other => Err(EvalError::unsupported(format!("function {other}()"))),
        }
    }

    fn aggregate(&self, a: &AggregateExpr, t: i64) -> R<Value> {
        let op = a.op.id();
        if a.param.is_some() || ![T_SUM, T_AVG, T_MAX, T_MIN, T_COUNT, T_GROUP].contains(&op) {
            return Err(EvalError::unsupported(format!("aggregation {}", a.op)));
        }
        let samples = self.vector(&a.expr, t)?;
        let mut groups: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
        for s in samples {
            let key = match &a.modifier {
                Some(LabelModifier::Include(by)) => s
                    .labels
                    .into_iter()
                    .filter(|(k, _)| k != "__name__" && by.labels.contains(k))
                    .collect(),
                Some(LabelModifier::Exclude(without)) => s
                    .labels
                    .into_iter()
                    .filter(|(k, _)| k != "__name__" && !without.labels.contains(k))
                    .collect(),
                None => Labels::new(),
            };
            groups.entry(key).or_default().push(s.v);
        }
        let fold = |vs: &[f64]| -> f64 {
            match op {
                T_SUM => vs.iter().sum(),
                T_AVG => vs.iter().sum::<f64>() / vs.len() as f64,
                T_COUNT => vs.len() as f64,
                T_GROUP => 1.0,
                // Like Prometheus: NaN only wins when every value is NaN.
                T_MAX => vs
                    .iter()
                    .copied()
                    .fold(f64::NAN, |m, v| if m.is_nan() || v > m { v } else { m }),
                _ => vs
                    .iter()
                    .copied()
                    .fold(f64::NAN, |m, v| if m.is_nan() || v < m { v } else { m }),
            }
        };
        Ok(Value::Vector(
            groups
                .into_iter()
                .map(|(labels, vs)| Sample {
                    labels,
                    v: fold(&vs),
                })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::prometheus::store::tests_support::pod;

    fn store() -> Store {
        let mut s = Store::new(5, 7200);
        for i in 0..=24 {
            let mut a = pod("a", 10.0 * i as f64);
            a.errors_total = i as f64;
            let b = pod("b", 20.0 * i as f64);
            s.scrape(i * 5000, &[a, b]);
        }
        s
    }

    fn vector(q: &str) -> Vec<Sample> {
        match instant(&store(), &parse(q).unwrap(), 120_000).unwrap() {
            Value::Vector(v) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rate_of_a_steady_counter() {
        let v = vector(r#"sum(rate(http_requests_total{app="web"}[1m]))"#);
        assert_eq!(v.len(), 1);
        assert!((v[0].v - 6.0).abs() < 1e-9, "{}", v[0].v);
        let by = vector(r#"sum by (pod) (rate(http_requests_total{code!="200"}[1m]))"#);
        assert_eq!(by.len(), 2);
        assert!((by[0].v - 0.2).abs() < 1e-9, "{by:?}");
    }

    #[test]
    fn ratio_and_matching() {
        let v = vector(
            r#"sum by (pod) (rate(http_requests_total{code=~"5.."}[1m])) / sum by (pod) (rate(http_requests_total[1m]))"#,
        );
        assert_eq!(v.len(), 2);
        assert!((v[0].v - 0.1).abs() < 1e-9);
        assert!((v[1].v - 0.1).abs() < 1e-9);
        let cmp = vector(r#"sum by (pod) (rate(http_requests_total[1m])) > 3"#);
        assert_eq!(cmp.len(), 1);
        assert_eq!(cmp[0].labels["pod"], "b");
        assert_eq!(vector("vector(1) + 2")[0].v, 3.0);
    }

    #[test]
    fn quantile_interpolates() {
        let v = vector(
            r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"#,
        );
        assert_eq!(v.len(), 1);
        assert!(v[0].v <= 0.005, "{}", v[0].v);
    }

    #[test]
    fn errors() {
        let e = parse("sum(").unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadData);
        assert!(
            e.message.starts_with("invalid parameter \"query\""),
            "{}",
            e.message
        );
        let e = instant(&store(), &parse("topk(1, up)").unwrap(), 0).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Execution);
        let e = range(&store(), &parse("up[5m]").unwrap(), 0, 10_000, 1000).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadData);
        let deep = parse(&format!("vector(1){}", " + 0".repeat(500))).unwrap();
        let e = instant(&store(), &deep, 0).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Execution);
    }

    #[test]
    fn range_steps() {
        let rows = range(
            &store(),
            &parse(r#"sum(container_memory_working_set_bytes)"#).unwrap(),
            0,
            120_000,
            15_000,
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].points.len(), 9);
        assert_eq!(rows[0].points[0].1, 2e8);
    }
}
