//! The one integration-test binary: one module per area.
// Tests may unwrap (helpers outside #[test] fns included).
#![allow(clippy::unwrap_used)]
mod alertmanager;
mod monitor_render;
mod prometheus;
mod prometheus_fidelity;
mod support_real_servers;
mod support_traffic;
