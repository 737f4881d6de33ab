//! The integration test binary: one module per area.
mod support;

mod kube_api;
