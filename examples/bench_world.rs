//! Scale figure for the simulated world: time to start `Demo` with `--scale N` (default 3000:
//! 9,000 Deployments, 9,000 ReplicaSets, 27,000 pods), resident memory, the CPU the idle world
//! burns over 10 s, and one rollout's duration at that scale.
//! Run: `cargo run --example bench_world -- [N]` (N = 0: the default estate).
use shipdeck::demo::store::Kind;
use shipdeck::demo::{Demo, DemoOptions};
use std::time::{Duration, Instant};

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

/// utime + stime of this process, in seconds.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // Fields after ")" start at field 3; utime is field 14, stime 15.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

#[tokio::main]
async fn main() -> color_eyre::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3000);
    let rss0 = rss_mib();
    let t = Instant::now();
    let demo = Demo::start(DemoOptions {
        // 0 = the default estate (9 Deployments).
        scale: (n > 0).then_some(n),
        ..DemoOptions::default()
    })
    .await?;
    let started = t.elapsed();
    let store = demo.store();
    println!(
        "scale {n}: {} Deployments, {} ReplicaSets, {} pods, {} services, {} ingresses",
        store.count(Kind::Deployment),
        store.count(Kind::ReplicaSet),
        store.count(Kind::Pod),
        store.count(Kind::Service),
        store.count(Kind::Ingress)
    );
    println!(
        "start: {started:.2?}; resident memory +{:.0} MiB",
        rss_mib() - rss0
    );
    let c0 = cpu_s();
    tokio::time::sleep(Duration::from_secs(10)).await;
    println!("idle world: {:.2} s CPU over 10 s wall", cpu_s() - c0);
    let t = Instant::now();
    let app = if n > 0 { "app-0001" } else { "web" };
    let image = format!("registry.local/shop/{app}:2.0.0");
    demo.world().set_image("shop-blue", app, app, &image)?;
    loop {
        let d = store.get(Kind::Deployment, "shop-blue", app);
        let done = d.as_ref().is_some_and(|d| {
            d["status"]["updatedReplicas"] == 3
                && d["status"]["replicas"] == 3
                && d["status"]["availableReplicas"] == 3
                && d["status"]["observedGeneration"] == d["metadata"]["generation"]
        });
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("one rollout (3 pods, speed 1): {:.2?}", t.elapsed());
    let t = Instant::now();
    let pods = demo.world().clone();
    let traffic = shipdeck::demo::traffic::TrafficSource::pods(&pods);
    println!(
        "TrafficSource::pods(): {} pods in {:.2?}",
        traffic.len(),
        t.elapsed()
    );
    demo.shutdown().await;
    Ok(())
}
