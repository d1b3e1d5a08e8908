//! The adapters: each implements ports of the `ports` crate for one outside system.
//!
//! - [`simulator`]: an in-process inventory modelled on vcsim's default one, for demos and
//!   tests without a vCenter.
//! - [`prometheus`]: the sink that renders the latest snapshot for Prometheus.
//! - [`vsphere`]: the source that reads a vCenter over its vim25 SOAP API.

pub mod prometheus;
pub mod simulator;
pub mod vsphere;
