//! The adapters: each implements ports of the `ports` crate for one outside system.
//!
//! - [`simulator`]: an in-process inventory modelled on vcsim's default one, for demos and
//!   tests without a vCenter.
//! - [`prometheus`]: the sink that renders the latest snapshot for Prometheus.

pub mod prometheus;
pub mod simulator;
