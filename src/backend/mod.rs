//! Backends: one module per source. They own the network and send owned snapshots to the UI.

pub mod http;
pub mod kube;
pub mod ci;
pub mod pipelines;
pub mod registry;
