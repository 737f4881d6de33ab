//! Simulated Alertmanager.
