//! The integration test binary: one module per area.
mod ci_github;
mod ci_gitlab;
mod ci_jenkins;
mod ci_support;
mod pipelines_render;
mod registry;
