//! Backends: one module per source. They own the network and send owned snapshots to the UI.

pub mod alertmanager;
pub mod ci;
pub mod cloudflare;
pub mod exposition;
pub mod http;
pub mod kube;
pub mod monitor;
pub mod pipelines;
pub mod prometheus;
pub mod registry;
