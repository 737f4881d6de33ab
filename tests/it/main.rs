//! The integration test binary: one module per area.
mod support;

mod demo;
mod kube_api;
mod kubectl_rollout;
