//! Backends: one module per source. They own the network and send owned snapshots to the UI.

pub mod ci;
pub mod http;
pub mod kube;
pub mod pipelines;
pub mod registry;
