//! The simulated Kubernetes API server against its reference clients: kubectl and kube-rs; and
//! hostile input.
mod hostile;
mod http_watch;
mod kubectl;
mod kubers;
