//! Sunset's registry and silence steps against the real servers from Debian: docker-registry
//! 2.8.2 (delete by digest, 405 when disabled) and Alertmanager 0.25 (the ten-year silence).
use crate::sunset_support::*;
use shipdeck::ops::OutcomeStatus;
use std::time::Duration;

/// The registry step against the real docker-registry 2.8.2: delete by digest (tags sharing a
/// digest go together), and 405 when deletion is disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_step_against_real_docker_registry() {
    use shipdeck::backend::registry::{RegistryClient, RegistryConfig};
    for delete_enabled in [true, false] {
        let mut e = estate(true).await;
        let real = start_real_registry(delete_enabled);
        let c = RegistryClient::new(&RegistryConfig::new(&real.url)).unwrap();
        for (tag, label) in [("1.0.0", "a"), ("1.1.0", "b"), ("latest", "b")] {
            c.push_test_image("shop/worker", tag, label).await.unwrap();
        }
        c.push_test_image("shop/web", "1.5.1", "w").await.unwrap();
        e.config.registry = Some(RegistryConfig::new(&real.url));
        let preview = e.prepare(false).await;
        let tags = preview
            .deletions
            .iter()
            .filter(|d| d.system == "registry")
            .count();
        assert_eq!(tags, 3);
        let (out, _) = run(preview).await;
        if delete_enabled {
            assert_eq!(out.status, OutcomeStatus::Done, "{}", out.message);
            assert!(c.tags("shop/worker").await.unwrap().is_empty());
        } else {
            let OutcomeStatus::Failed { error } = &out.status else {
                panic!("{:?}", out.status);
            };
            assert!(
                error.to_string().contains("registry deletion disabled"),
                "{error}"
            );
            assert_eq!(c.tags("shop/worker").await.unwrap().len(), 3);
        }
        assert_eq!(c.tags("shop/web").await.unwrap(), vec!["1.5.1"]);
    }
}

/// The silence step against the real Alertmanager 0.25: the ten-year silence is accepted, and the
/// next preview finds it (nothing left to do).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_step_against_real_alertmanager() {
    use shipdeck::backend::alertmanager::{AlertmanagerClient, AlertmanagerConfig};
    let stack = crate::support_real_servers::start_stack(true).await;
    let mut e = estate(true).await;
    e.config.alertmanager = Some(AlertmanagerConfig::new(stack.alertmanager_url()));
    let (out, _) = run(e.prepare(false).await).await;
    assert_eq!(
        out.status,
        OutcomeStatus::Done,
        "{}\n{}",
        out.message,
        stack.logs()
    );
    let am = AlertmanagerClient::with_timeout(&stack.alertmanager_url(), Duration::from_secs(5));
    let silences = am.silences(&["app=\"worker\"".into()]).await.unwrap();
    assert_eq!(silences.len(), 1, "{silences:?}");
    assert_eq!(silences[0].created_by, "ana");
    let again = e.prepare(false).await;
    assert!(again.noop, "{:?} {:?}", again.deletions, again.notes);
    assert!(again.notes.iter().any(|n| n.contains("already silenced")));
}
