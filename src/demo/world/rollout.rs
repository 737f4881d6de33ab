//! Pure rollout arithmetic as the Kubernetes deployment controller does it: template hashes,
//! surge/unavailable fenceposts, how far to scale the new and old ReplicaSets, and conditions.
use serde_json::Value;

/// The alphabet of `rand.SafeEncodeString` (no vowels, no confusable digits).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
pub const HASH_LABEL: &str = "pod-template-hash";

/// The template with `pod-template-hash` removed and nulls / empty objects / empty arrays dropped,
/// so a template kubectl sends back on undo compares equal to the stored one.
pub fn normalize_template(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
    }
    prune(&mut t);
    t
}

/// Removes nulls and empty containers recursively; returns whether `v` itself is now empty.
fn prune(v: &mut Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => {
            m.retain(|_, x| !prune(x));
            m.is_empty()
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                prune(x);
            }
            a.is_empty()
        }
        _ => false,
    }
}

/// JSON with object keys sorted, whatever the map implementation.
pub fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(x) = m.get(*k) {
                    canonical_json(x, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

pub fn fnv32a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Maps each byte into the safe alphabet, like `rand.SafeEncodeString`.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// The `pod-template-hash` of a (normalized or not) pod template: FNV-32a of its canonical
/// JSON, printed in decimal and safe-encoded (up to 10 characters, as the real ones).
pub fn template_hash(template: &Value) -> String {
    encode_hash(normalized_fnv(&normalize_template(template)))
}

/// FNV-32a of an already normalized template's canonical JSON.
pub fn normalized_fnv(norm: &Value) -> u32 {
    let mut s = String::new();
    canonical_json(norm, &mut s);
    fnv32a(s.as_bytes())
}

/// The label form of a template FNV: decimal, safe-encoded.
pub fn encode_hash(fnv: u32) -> String {
    safe_encode(&fnv.to_string())
}

/// `maxSurge` / `maxUnavailable`: an integer or a percentage string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IntOrPercent {
    Int(i32),
    Percent(i32),
}

impl IntOrPercent {
    pub fn parse(v: Option<&Value>, default: IntOrPercent) -> IntOrPercent {
        match v {
            Some(Value::Number(n)) => n
                .as_i64()
                .map(|n| IntOrPercent::Int(n.clamp(0, i64::from(i32::MAX)) as i32))
                .unwrap_or(default),
            Some(Value::String(s)) => {
                let s = s.trim();
                if let Some(p) = s.strip_suffix('%') {
                    p.parse().map(IntOrPercent::Percent).unwrap_or(default)
                } else {
                    s.parse().map(IntOrPercent::Int).unwrap_or(default)
                }
            }
            _ => default,
        }
    }

    /// The absolute value for `total` replicas (percentages rounded up or down).
    pub fn scaled(self, total: i32, round_up: bool) -> i32 {
        match self {
            IntOrPercent::Int(n) => n.max(0),
            IntOrPercent::Percent(p) => {
                let x = i64::from(p.max(0)) * i64::from(total.max(0));
                let v = if round_up { (x + 99) / 100 } else { x / 100 };
                v.min(i64::from(i32::MAX)) as i32
            }
        }
    }
}

/// `(maxSurge, maxUnavailable)` as absolute numbers; both zero becomes unavailable 1.
pub fn resolve_fenceposts(
    surge: IntOrPercent,
    unavailable: IntOrPercent,
    desired: i32,
) -> (i32, i32) {
    let s = surge.scaled(desired, true);
    let u = unavailable.scaled(desired, false);
    if s == 0 && u == 0 { (0, 1) } else { (s, u) }
}

/// `NewRSNewReplicas` for a rolling update: the new ReplicaSet's next size.
pub fn new_rs_target(desired: i32, max_surge: i32, all_spec: i32, new_spec: i32) -> i32 {
    let max_total = desired + max_surge;
    if all_spec >= max_total {
        return new_spec;
    }
    let up = (max_total - all_spec).min(desired - new_spec).max(0);
    new_spec + up
}

/// One old ReplicaSet as the scale-down arithmetic sees it (oldest first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OldRs {
    pub spec: i32,
    pub available: i32,
}

/// `reconcileOldReplicaSets`: the new spec of every old ReplicaSet (same order).
pub fn old_rs_targets(
    desired: i32,
    max_unavailable: i32,
    new_spec: i32,
    new_available: i32,
    olds: &[OldRs],
) -> Vec<i32> {
    let mut out: Vec<i32> = olds.iter().map(|o| o.spec).collect();
    let old_count: i32 = olds.iter().map(|o| o.spec).sum();
    if old_count == 0 {
        return out;
    }
    let all_count = old_count + new_spec;
    let min_available = desired - max_unavailable;
    let new_unavailable = new_spec - new_available;
    let max_scaled_down = all_count - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return out;
    }
    // cleanupUnhealthyReplicas: drop pods that are not available first.
    let mut cleaned = 0;
    for (i, o) in olds.iter().enumerate() {
        if cleaned >= max_scaled_down {
            break;
        }
        if out[i] == 0 || out[i] == o.available {
            continue;
        }
        let n = (max_scaled_down - cleaned).min(out[i] - o.available);
        out[i] -= n;
        cleaned += n;
    }
    // scaleDownOldReplicaSetsForRollingUpdate: keep minAvailable available.
    let available: i32 = olds.iter().map(|o| o.available).sum::<i32>() + new_available;
    if available <= min_available {
        return out;
    }
    let total = available - min_available;
    let mut done = 0;
    for s in out.iter_mut() {
        if done >= total {
            break;
        }
        if *s == 0 {
            continue;
        }
        let n = (*s).min(total - done);
        *s -= n;
        done += n;
    }
    out
}

/// One status condition; times in whole seconds since the epoch (as the API stores them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_update: i64,
    pub last_transition: i64,
}

impl Condition {
    pub fn new(type_: &str, status: &str, reason: &str, message: String, now_s: i64) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message,
            last_update: now_s,
            last_transition: now_s,
        }
    }
}

pub fn get_condition<'a>(conds: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conds.iter().find(|c| c.type_ == type_)
}

/// `SetDeploymentCondition`: no-op for the same status and reason; keeps the transition time
/// when only the reason changes; the set condition moves to the end.
pub fn set_condition(conds: &mut Vec<Condition>, mut c: Condition) {
    if let Some(cur) = get_condition(conds, &c.type_) {
        if cur.status == c.status && cur.reason == c.reason {
            return;
        }
        if cur.status == c.status {
            c.last_transition = cur.last_transition;
        }
    }
    conds.retain(|x| x.type_ != c.type_);
    conds.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn template_hash_is_stable_and_ignores_noise() {
        let a = json!({"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"x:1","resources":{}}]}});
        let b = json!({"spec":{"containers":[{"image":"x:1","name":"web"}]},"metadata":{"creationTimestamp":null,"labels":{"app":"web","pod-template-hash":"abc"}}});
        let h = template_hash(&a);
        assert_eq!(h, template_hash(&b));
        assert!(!h.is_empty() && h.len() <= 10);
        assert!(h.bytes().all(|c| SAFE_ALPHABET.contains(&c)), "{h}");
        let c = json!({"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"x:2"}]}});
        assert_ne!(h, template_hash(&c));
        // Stable across runs and builds: pinned value.
        assert_eq!(h, "6b85799c78");
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn fenceposts_round_like_kubernetes() {
        let p25 = IntOrPercent::Percent(25);
        assert_eq!(resolve_fenceposts(p25, p25, 3), (1, 0));
        assert_eq!(resolve_fenceposts(p25, p25, 4), (1, 1));
        assert_eq!(resolve_fenceposts(p25, p25, 10), (3, 2));
        assert_eq!(
            resolve_fenceposts(IntOrPercent::Int(0), IntOrPercent::Int(0), 5),
            (0, 1)
        );
        assert_eq!(
            IntOrPercent::parse(Some(&json!("50%")), p25),
            IntOrPercent::Percent(50)
        );
        assert_eq!(
            IntOrPercent::parse(Some(&json!(2)), p25),
            IntOrPercent::Int(2)
        );
        assert_eq!(IntOrPercent::parse(Some(&json!("junk")), p25), p25);
    }

    #[test]
    fn new_rs_scales_within_surge() {
        // 3 replicas, surge 1: first step creates 1 new pod.
        assert_eq!(new_rs_target(3, 1, 3, 0), 1);
        // Already at max total: wait.
        assert_eq!(new_rs_target(3, 1, 4, 1), 1);
        // Scale up from 3 to 5 with surge 2.
        assert_eq!(new_rs_target(5, 2, 3, 3), 5);
    }

    #[test]
    fn old_rs_scale_down_keeps_min_available() {
        // 3 desired, unavailable 0, new has 1 (not yet available): nothing to scale down.
        assert_eq!(
            old_rs_targets(
                3,
                0,
                1,
                0,
                &[OldRs {
                    spec: 3,
                    available: 3
                }]
            ),
            vec![3]
        );
        // New pod available: one old pod can go.
        assert_eq!(
            old_rs_targets(
                3,
                0,
                1,
                1,
                &[OldRs {
                    spec: 3,
                    available: 3
                }]
            ),
            vec![2]
        );
        // Unhealthy old pods are cleaned first, oldest RS first, within maxScaledDown (here 1).
        assert_eq!(
            old_rs_targets(
                4,
                1,
                1,
                0,
                &[
                    OldRs {
                        spec: 2,
                        available: 0
                    },
                    OldRs {
                        spec: 2,
                        available: 2
                    }
                ]
            ),
            vec![1, 2]
        );
    }

    #[test]
    fn set_condition_keeps_transition_time() {
        let mut c = vec![];
        set_condition(
            &mut c,
            Condition::new(
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                "a".into(),
                10,
            ),
        );
        set_condition(
            &mut c,
            Condition::new("Progressing", "True", "ReplicaSetUpdated", "b".into(), 20),
        );
        assert_eq!((c[0].last_update, c[0].last_transition), (20, 10));
        set_condition(
            &mut c,
            Condition::new("Progressing", "True", "ReplicaSetUpdated", "c".into(), 30),
        );
        assert_eq!(c[0].message, "b");
        set_condition(
            &mut c,
            Condition::new(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                "d".into(),
                40,
            ),
        );
        assert_eq!((c[0].last_update, c[0].last_transition), (40, 40));
    }
}
