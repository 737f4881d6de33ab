//! Kubernetes calls shared by the operations: reads, patches with dry-run, rollout waits.
