//! Tests of the simulated CI engine: stage timing, failures, approvals, deploy effects.
use super::*;
use crate::clock::Clock;

#[derive(Default)]
struct Hook(Mutex<Vec<(String, String, String)>>);
impl DeployHook for Hook {
    fn deploy(&self, app: &str, branch: &str, image: &str) {
        if let Ok(mut v) = self.0.lock() {
            v.push((app.into(), branch.into(), image.into()));
        }
    }
}

fn engine(opts: CiSimOptions) -> (Clock, Arc<CiEngine>, Arc<Hook>, SimRegistry) {
    let clock = Clock::fixed("2026-11-27T10:00:00Z".parse().unwrap());
    let c = clock.clone();
    let hook = Arc::new(Hook::default());
    let reg = SimRegistry::new(true);
    let e = CiEngine::new(
        opts,
        Arc::new(move || c.now()),
        hook.clone(),
        Some(reg.clone()),
    );
    (clock, e, hook, reg)
}

#[test]
fn the_same_seed_tells_the_same_story() {
    let (_, a, _, _) = engine(CiSimOptions::default());
    let (_, b, _, _) = engine(CiSimOptions::default());
    let (_, c, _, _) = engine(CiSimOptions {
        seed: 2,
        ..CiSimOptions::default()
    });
    let shas = |e: &CiEngine| {
        e.runs("web", "develop")
            .iter()
            .map(|r| r.commit.sha.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(shas(&a), shas(&b));
    assert_ne!(shas(&a), shas(&c));
}

#[test]
fn develop_deploys_new_commits_on_its_own_and_master_waits() {
    let (clock, e, hook, reg) = engine(CiSimOptions {
        fail_test_pct: 0,
        fail_build_pct: 0,
        ..CiSimOptions::default()
    });
    clock.advance(SignedDuration::from_mins(12));
    e.advance();
    e.advance();
    let develop = e.runs("web", "develop");
    assert!(develop.len() >= 2, "a new commit arrived");
    let deployed: Vec<_> = hook
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.0 == "web" && c.1 == "develop")
        .cloned()
        .collect();
    assert!(deployed.len() >= 2);
    let tag = &develop.last().unwrap().commit.sha[..7];
    assert!(reg.tags("shop/web").contains(&tag.to_string()));
    assert_eq!(deployed[0].2, format!("registry.local/shop/web:{tag}"));
    // Master holds at its gate: one run, waiting, nothing deployed to production.
    let master = e.runs("web", "master");
    assert_eq!(master.len(), 1);
    assert_eq!(master[0].status(), SimStatus::Waiting);
    assert!(!hook.0.lock().unwrap().iter().any(|c| c.1 == "master"));
    e.approve(master[0].id).unwrap();
    clock.advance(SignedDuration::from_secs(15));
    e.advance();
    assert_eq!(e.run(master[0].id).unwrap().status(), SimStatus::Success);
    assert!(hook.0.lock().unwrap().iter().any(|c| c.1 == "master"));
}

#[test]
fn failures_happen_now_and_then_and_skip_the_rest() {
    let (clock, e, _, _) = engine(CiSimOptions {
        commit_every: SignedDuration::from_secs(90),
        ..CiSimOptions::default()
    });
    for _ in 0..200 {
        clock.advance(SignedDuration::from_secs(30));
        e.advance();
    }
    let runs: Vec<SimRun> = ["develop", "staging"]
        .iter()
        .flat_map(|b| e.runs("api", b))
        .collect();
    let failed: Vec<&SimRun> = runs
        .iter()
        .filter(|r| r.status() == SimStatus::Failed)
        .collect();
    assert!(
        !failed.is_empty() && failed.len() < runs.len() / 2,
        "{} of {}",
        failed.len(),
        runs.len()
    );
    for r in failed {
        let i = r
            .stages
            .iter()
            .position(|s| s.status == SimStatus::Failed)
            .unwrap();
        assert!(i <= 1, "fails in test or build");
        assert!(
            r.stages[i + 1..]
                .iter()
                .all(|s| s.status == SimStatus::Skipped)
        );
        assert!(r.image.is_none());
    }
}
