//! Placeholder; filled in by its owner.
pub mod alerts;
pub mod metrics;
