//! One integration-test binary: one module per area.
// Tests may unwrap (the crate denies it outside tests; helpers here are test code too).
#![allow(clippy::unwrap_used)]

mod support;

mod demo;
mod e2e;
mod kube_api;
mod kube_backend;
mod kubectl_rollout;
#[allow(dead_code)]
mod pty;
mod render;
mod status;
mod alertmanager;
mod monitor_render;
mod prometheus;
mod support_real_servers;
mod support_traffic;
