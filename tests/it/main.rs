//! The integration test binary: one module per area.
mod ci_github;
mod ci_support;
