//! The exporter's domain: from a vSphere inventory to the three levels of usage it reports.
//!
//! Everything here is a pure function of its inputs: no I/O, no clock, no async. Adapters
//! build an [`Inventory`], the app passes it in with the hatchery's settings, and gets a
//! [`Snapshot`] back.

mod annotation;
mod inventory;
mod resource_pool;
mod snapshot;

pub use annotation::{AnnotationError, CdsAnnotation};
pub use inventory::{Inventory, PowerState, VirtualMachine};
pub use resource_pool::{ResourcePoolRuntime, ResourceUsage};
pub use snapshot::{HatcheryUsage, Limits, PoolUsage, Snapshot, Usage, WorkerLabels, WorkerUsage};
