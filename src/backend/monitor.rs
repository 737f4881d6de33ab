//! Pollers.
