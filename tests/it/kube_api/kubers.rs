//! kube-rs against the simulated API server.
