//! One integration-test binary: one module per area.
// Tests may unwrap (the crate denies it outside tests; helpers here are test code too).
#![allow(clippy::unwrap_used)]

mod support;

mod alertmanager;
mod bench_guard;
mod bytes_guard;
mod ci_github;
mod ci_gitlab;
mod ci_jenkins;
mod ci_support;
mod cli_verbs;
mod cloudflare;
mod demo;
mod demo_estate;
mod e2e;
mod e2e_estate;
mod e2e_ops;
mod e2e_rollback_pick;
mod kube_api;
mod kube_backend;
mod kubectl_rollout;
mod monitor_render;
mod ops_failures;
mod ops_flows;
mod ops_gitops;
mod ops_kubectl;
mod ops_scenarios;
mod ops_support;
mod pipelines_render;
mod prometheus;
mod prometheus_backfill;
mod prometheus_fidelity;
#[allow(dead_code)]
mod pty;
mod registry;
mod render;
mod status;
mod sunset;
mod sunset_cli;
mod sunset_real;
mod sunset_support;
mod support_real_servers;
mod support_traffic;
mod wire_ops;
mod wire_ops_pane;
mod wire_ops_rerun;
mod wire_panes;
mod wire_panes_demo;
mod wire_panes_screen;
mod wire_panes_support;
