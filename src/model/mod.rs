//! Provider-neutral data the panes show: freshness wrappers and compact projections of remote objects.
//!
//! Backends build these from wire types (stripping what no pane shows); the UI only ever reads them.

pub mod alerts;
pub mod board;
pub mod fresh;
pub mod kube;
pub mod metrics;
pub mod pipeline;

pub use fresh::{Fresh, SourceHealth, SourceId};
pub use kube::*;
