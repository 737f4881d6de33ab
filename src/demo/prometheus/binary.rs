//! Binary operators of the simulated Prometheus: arithmetic, comparison and set operators between
//! scalars and vectors, with one-to-one and many-to-one (`group_left`/`group_right`) matching.
use super::eval::{EvalError, R, Sample, Value, drop_name};
use super::store::Labels;
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB,
};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use std::collections::BTreeMap;

pub fn binary(b: &BinaryExpr, lhs: Value, rhs: Value) -> R<Value> {
    let op = b.op.id();
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let comparison = [T_EQLC, T_NEQ, T_GTR, T_LSS, T_GTE, T_LTE].contains(&op);
    // What one pair of values gives: Some(value) to keep a sample, None to drop it.
    let apply = |l: f64, r: f64, keep: f64| -> R<Option<f64>> {
        if comparison {
            let c = compare(op, l, r);
            Ok(if return_bool {
                Some(if c { 1.0 } else { 0.0 })
            } else {
                c.then_some(keep)
            })
        } else {
            arith(op, l, r).map(Some)
        }
    };
    let drops_name = !comparison || return_bool;
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            Ok(Value::Scalar(apply(l, r, l)?.unwrap_or(f64::NAN)))
        }
        (Value::Vector(vs), Value::Scalar(r)) => {
            let mut out = Vec::new();
            for s in vs {
                if let Some(v) = apply(s.v, r, s.v)? {
                    let labels = if drops_name {
                        drop_name(s.labels)
                    } else {
                        s.labels
                    };
                    out.push(Sample { labels, v });
                }
            }
            Ok(Value::Vector(out))
        }
        (Value::Scalar(l), Value::Vector(vs)) => {
            let mut out = Vec::new();
            for s in vs {
                if let Some(v) = apply(l, s.v, s.v)? {
                    let labels = if drops_name {
                        drop_name(s.labels)
                    } else {
                        s.labels
                    };
                    out.push(Sample { labels, v });
                }
            }
            Ok(Value::Vector(out))
        }
        (Value::Vector(l), Value::Vector(r)) => {
            if [T_LAND, T_LOR, T_LUNLESS].contains(&op) {
                return Ok(Value::Vector(set_op(op, b, l, r)));
            }
            // group_left: the left side is "many", the right "one"; group_right swaps them
            // for matching and swaps the operands back for the arithmetic.
            let (include, swapped) = match b.modifier.as_ref().map(|m| &m.card) {
                Some(VectorMatchCardinality::ManyToOne(inc)) => (Some(inc), false),
                Some(VectorMatchCardinality::OneToMany(inc)) => (Some(inc), true),
                _ => (None, false),
            };
            let (many, one) = if swapped { (r, l) } else { (l, r) };
            let sig = |l: &Labels| signature(b, l);
            let mut right: BTreeMap<Labels, Sample> = BTreeMap::new();
            for s in one {
                if right.insert(sig(&s.labels), s).is_some() {
                    return Err(EvalError::exec(
                        "found duplicate series for the match group on the right hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side",
                    ));
                }
            }
            let mut seen = std::collections::BTreeSet::new();
            let mut out = Vec::new();
            for s in many {
                let key = sig(&s.labels);
                let Some(other) = right.get(&key) else {
                    continue;
                };
                if include.is_none() && !seen.insert(key.clone()) {
                    return Err(EvalError::exec(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
                let (vl, vr) = if swapped {
                    (other.v, s.v)
                } else {
                    (s.v, other.v)
                };
                let Some(v) = apply(vl, vr, vl)? else {
                    continue;
                };
                let mut labels = if drops_name {
                    drop_name(s.labels)
                } else {
                    s.labels
                };
                match (
                    include,
                    b.modifier.as_ref().and_then(|m| m.matching.as_ref()),
                ) {
                    (Some(inc), _) => {
                        for name in &inc.labels {
                            match other.labels.get(name) {
                                Some(v) if !v.is_empty() => {
                                    labels.insert(name.clone(), v.clone());
                                }
                                _ => {
                                    labels.remove(name);
                                }
                            }
                        }
                    }
                    (None, Some(LabelModifier::Include(on))) => {
                        labels.retain(|k, _| on.labels.contains(k))
                    }
                    (None, Some(LabelModifier::Exclude(ign))) => {
                        labels.retain(|k, _| !ign.labels.contains(k))
                    }
                    (None, None) => {}
                }
                out.push(Sample { labels, v });
            }
            Ok(Value::Vector(out))
        }
        _ => Err(EvalError::bad(format!(
            "binary expression must contain only scalar and instant vector types ({})",
            b.op
        ))),
    }
}

fn signature(b: &BinaryExpr, l: &Labels) -> Labels {
    match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
        Some(LabelModifier::Include(on)) => l
            .iter()
            .filter(|(k, _)| on.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Some(LabelModifier::Exclude(ign)) => l
            .iter()
            .filter(|(k, _)| *k != "__name__" && !ign.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        None => drop_name(l.clone()),
    }
}

fn set_op(op: u16, b: &BinaryExpr, l: Vec<Sample>, r: Vec<Sample>) -> Vec<Sample> {
    let rsigs: std::collections::BTreeSet<Labels> =
        r.iter().map(|s| signature(b, &s.labels)).collect();
    match op {
        T_LAND => l
            .into_iter()
            .filter(|s| rsigs.contains(&signature(b, &s.labels)))
            .collect(),
        T_LUNLESS => l
            .into_iter()
            .filter(|s| !rsigs.contains(&signature(b, &s.labels)))
            .collect(),
        _ => {
            let lsigs: std::collections::BTreeSet<Labels> =
                l.iter().map(|s| signature(b, &s.labels)).collect();
            let mut out = l;
            out.extend(
                r.into_iter()
                    .filter(|s| !lsigs.contains(&signature(b, &s.labels))),
            );
            out
        }
    }
}

fn compare(op: u16, l: f64, r: f64) -> bool {
    match op {
        T_EQLC => l == r,
        T_NEQ => l != r,
        T_GTR => l > r,
        T_LSS => l < r,
        T_GTE => l >= r,
        _ => l <= r,
    }
}

fn arith(op: u16, l: f64, r: f64) -> R<f64> {
    Ok(match op {
        T_ADD => l + r,
        T_SUB => l - r,
        T_MUL => l * r,
        T_DIV => l / r,
        T_MOD => l % r,
        T_POW => l.powf(r),
        T_ATAN2 => l.atan2(r),
        _ => return Err(EvalError::unsupported("this operator")),
    })
}
