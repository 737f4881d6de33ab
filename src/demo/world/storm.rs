//! A change storm for benchmarks (issue 8, item 7): flips pods between ready and not ready at a
//! fixed rate, each flip bumping the pod's restart count and moving its Deployment's ready counts,
//! so the console's Deployment watches see as many changes as the pods do.
//!
//! Started three ways: `World::storm` (in-process), `POST /debug/storm?perSecond=N&seconds=S` on the
//! simulated API server (a bench process starts it once the console has synced), or the
//! environment variable `SHIPDECK_DEMO_STORM=RATExSECONDS[@DELAY]` read when the world starts
//! (`1000x10@30`: 1,000 pod changes per second for 10 s, starting 30 s after the world; the delay
//! defaults to 0). The storm runs on wall time, whether or not the simulated clock is paused.
//! It writes the store directly, bypassing the controller (which ignores status-only changes), so
//! the last state it writes is the state it leaves.
use crate::demo::store::{Kind, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;

/// The environment variable read by `World::start`.
pub const STORM_ENV: &str = "SHIPDECK_DEMO_STORM";
/// Changes are written in batches this often (1,000/s = 10 per batch).
const BATCH_EVERY: Duration = Duration::from_millis(10);

/// How hard and how long a storm blows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StormSpec {
    pub per_second: u32,
    pub seconds: u32,
    /// Wait this long before the first change.
    pub delay: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("storm spec {0:?}: expected RATExSECONDS[@DELAY], e.g. 1000x10 or 1000x10@30")]
pub struct BadStormSpec(pub String);

impl FromStr for StormSpec {
    type Err = BadStormSpec;

    fn from_str(s: &str) -> Result<StormSpec, BadStormSpec> {
        let bad = || BadStormSpec(s.to_string());
        let (main, delay) = match s.trim().split_once('@') {
            Some((m, d)) => (m, d.parse::<u64>().map_err(|_| bad())?),
            None => (s.trim(), 0),
        };
        let (rate, secs) = main.split_once(['x', 'X']).ok_or_else(bad)?;
        Ok(StormSpec {
            per_second: rate.parse().map_err(|_| bad())?,
            seconds: secs.parse().map_err(|_| bad())?,
            delay: Duration::from_secs(delay),
        })
    }
}

/// What a running storm has done (shared with whoever started it).
#[derive(Debug, Default)]
pub struct StormProgress {
    /// Pod changes written so far (each also wrote its Deployment's status).
    pub changes: AtomicU64,
    pub done: AtomicBool,
}

impl StormProgress {
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Relaxed)
    }
}

/// One pod the storm may flip.
struct Target {
    ns: String,
    pod: String,
    deploy: String,
    down: bool,
}

/// Starts a storm over the pods `store` holds when it begins (must run inside a tokio runtime).
pub fn spawn(store: Store, spec: StormSpec, seed: u64) -> (Arc<StormProgress>, JoinHandle<()>) {
    let progress = Arc::new(StormProgress::default());
    let p = progress.clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep(spec.delay).await;
        run(&store, spec, seed, &p).await;
        p.done.store(true, Ordering::Relaxed);
    });
    (progress, task)
}

async fn run(store: &Store, spec: StormSpec, seed: u64, progress: &StormProgress) {
    let mut targets = targets(store);
    if targets.is_empty() || spec.per_second == 0 {
        return;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let total = u64::from(spec.per_second) * u64::from(spec.seconds);
    let start = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(BATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut done = 0u64;
    while done < total {
        tick.tick().await;
        // Catch up to the rate by elapsed time, so a slow batch does not lower it.
        let due = (start.elapsed().as_secs_f64() * f64::from(spec.per_second)) as u64;
        while done < due.min(total) {
            let i = rng.random_range(0..targets.len());
            flip(store, &mut targets[i]);
            done += 1;
            progress.changes.store(done, Ordering::Relaxed);
        }
    }
}

fn targets(store: &Store) -> Vec<Target> {
    let (pods, _) = store.list_arc(Kind::Pod, None);
    pods.iter()
        .filter_map(|p| {
            let md = p.get("metadata")?;
            let s = |k: &str| md.get(k).and_then(Value::as_str).map(str::to_string);
            Some(Target {
                ns: s("namespace")?,
                pod: s("name")?,
                deploy: md.pointer("/labels/app")?.as_str()?.to_string(),
                down: false,
            })
        })
        .collect()
}

/// Toggles one pod: down = not ready with one more restart; up = ready again.
fn flip(store: &Store, t: &mut Target) {
    t.down = !t.down;
    let ready = !t.down;
    let status = if ready { "True" } else { "False" };
    let _ = store.modify(Kind::Pod, &t.ns, &t.pod, |v| {
        if let Some(conds) = v
            .pointer_mut("/status/conditions")
            .and_then(Value::as_array_mut)
        {
            for c in conds.iter_mut() {
                if matches!(
                    c.get("type").and_then(Value::as_str),
                    Some("Ready" | "ContainersReady")
                ) {
                    c["status"] = json!(status);
                }
            }
        }
        if let Some(cs) = v
            .pointer_mut("/status/containerStatuses")
            .and_then(Value::as_array_mut)
        {
            for c in cs.iter_mut() {
                c["ready"] = json!(ready);
                if !ready {
                    let n = c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
                    c["restartCount"] = json!(n + 1);
                }
            }
        }
    });
    let delta: i64 = if ready { 1 } else { -1 };
    let _ = store.modify(Kind::Deployment, &t.ns, &t.deploy, |v| {
        let replicas = v
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        for field in ["readyReplicas", "availableReplicas"] {
            let n = v
                .pointer(&format!("/status/{field}"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if v.get("status").is_some_and(Value::is_object) {
                v["status"][field] = json!((n + delta).clamp(0, replicas));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(
            "1000x10".parse(),
            Ok(StormSpec {
                per_second: 1000,
                seconds: 10,
                delay: Duration::ZERO
            })
        );
        assert_eq!(
            "50X2@30"
                .parse::<StormSpec>()
                .map(|s| (s.per_second, s.delay)),
            Ok((50, Duration::from_secs(30)))
        );
        assert!("1000".parse::<StormSpec>().is_err());
        assert!("ax10".parse::<StormSpec>().is_err());
    }
}
