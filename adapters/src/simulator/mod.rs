//! The built-in simulator: an in-process inventory shaped like a CDS hatchery's vCenter.
//!
//! It is named after vcsim's default model (datacenter `DC0`, cluster `DC0_C0`, pool
//! `/DC0/host/DC0_C0/Resources`) and holds every kind of VM the exporter must tell apart.
//! Each read after the first moves time on: workers come and go, pool usage drifts, so
//! that a demo is alive. The same size and seed give the same sequence of inventories.

mod world;

use std::sync::Mutex;

use async_trait::async_trait;
use domain::{Inventory, ResourcePoolRuntime};
use ports::{InventorySource, ResourcePoolSource, SourceError};

use world::World;

/// The inventory path of the simulated Resource Pool.
pub const RESOURCE_POOL_PATH: &str = "/DC0/host/DC0_C0/Resources";

/// The name of the other hatchery whose VMs share the simulated vCenter.
pub const OTHER_HATCHERY: &str = "other-hatchery";

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatorConfig {
    /// How many VMs the inventory holds at first.
    pub vms: usize,
    /// The seed of every random choice.
    pub seed: u64,
    /// The hatchery whose workers, provisions and templates are simulated.
    pub hatchery_name: String,
    /// The inventory path of the Resource Pool asked for; only [`RESOURCE_POOL_PATH`]
    /// exists, as in vcsim's model with no standalone host. `None` picks it.
    pub resource_pool: Option<String>,
}

/// An [`InventorySource`] and [`ResourcePoolSource`] that needs no vCenter.
#[derive(Debug)]
pub struct Simulator {
    world: Mutex<World>,
    /// The Resource Pool asked for, when it is not the one the simulator has.
    missing_pool: Option<String>,
}

impl Simulator {
    pub fn new(config: &SimulatorConfig) -> Self {
        let missing_pool = config
            .resource_pool
            .clone()
            .filter(|path| path != RESOURCE_POOL_PATH);

        Self {
            world: Mutex::new(World::new(config)),
            missing_pool,
        }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        // The world is only ever replaced whole, so a poisoned lock still holds a valid one.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl InventorySource for Simulator {
    async fn inventory(&self) -> Result<Inventory, SourceError> {
        Ok(self.world().next_inventory())
    }
}

#[async_trait]
impl ResourcePoolSource for Simulator {
    async fn resource_pool_runtime(&self) -> Result<ResourcePoolRuntime, SourceError> {
        if let Some(path) = &self.missing_pool {
            let message =
                format!("no resource pool at {path}; the simulator has {RESOURCE_POOL_PATH}");
            return Err(SourceError::new("NotFound", message));
        }

        Ok(self.world().next_resource_pool_runtime())
    }
}

#[cfg(test)]
mod tests;
