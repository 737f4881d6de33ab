//! One integration-test binary: one module per area.
// Tests may unwrap (the crate denies it outside tests; helpers here are test code too).
#![allow(clippy::unwrap_used)]

mod support;

mod kube_api;
mod kube_backend;
mod render;
mod status;
