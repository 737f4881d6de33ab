//! One integration-test binary: one module per area.
// Tests may unwrap (the crate denies it outside tests; helpers here are test code too).
#![allow(clippy::unwrap_used)]

mod support;

mod alertmanager;
mod ci_github;
mod ci_gitlab;
mod ci_jenkins;
mod ci_support;
mod demo;
mod demo_estate;
mod e2e;
mod kube_api;
mod kube_backend;
mod kubectl_rollout;
mod monitor_render;
mod pipelines_render;
mod prometheus;
#[allow(dead_code)]
mod pty;
mod registry;
mod render;
mod status;
mod prometheus_fidelity;
mod support_real_servers;
mod support_traffic;
