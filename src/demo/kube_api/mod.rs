//! The simulated Kubernetes API server (HTTP side of issue 3): discovery, CRUD, watch, patch,
//! tables and logs over the `store`, as kubectl and kube-rs expect them.
