//! The snapshot: every gauge of the three levels, computed from one inventory.

use std::collections::BTreeMap;

use crate::{CdsAnnotation, Inventory, ResourcePoolRuntime, VirtualMachine};

/// vCPUs and memory, added up over some virtual machines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub vcpus: u64,
    pub memory_mb: u64,
}

impl Usage {
    fn of(vm: &VirtualMachine) -> Self {
        Self {
            vcpus: u64::from(vm.vcpus),
            memory_mb: vm.memory_mb,
        }
    }

    fn add(&mut self, other: Usage) {
        self.vcpus += other.vcpus;
        self.memory_mb += other.memory_mb;
    }
}

/// The configured limits of the hatchery; 0 means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_vcpus: u64,
    pub max_memory_mb: u64,
}

/// The labels that tell one worker's series from another's.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerLabels {
    /// The VM's name, which CDS gives its worker.
    pub worker_name: String,
    /// The annotation's `worker_model_path`.
    pub worker_model: String,
    /// The annotation's `flavor`, empty when unset.
    pub flavor: String,
}

/// Level 1: one worker VM of this hatchery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerUsage {
    pub labels: WorkerLabels,
    pub usage: Usage,
}

/// Level 2: this hatchery's VMs, templates counted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HatcheryUsage {
    pub allocated: Usage,
    pub vm_count: u64,
    pub provisioned_vm_count: u64,
    pub templates: Usage,
    pub template_count: u64,
}

/// Level 3: every VM visible, CDS or not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUsage {
    pub total: Usage,
    pub vm_count: u64,
}

/// Every gauge the exporter publishes about the inventory, at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Level 1, sorted by labels, one entry per label set.
    pub workers: Vec<WorkerUsage>,
    pub hatchery: HatcheryUsage,
    pub pool: PoolUsage,
    /// `None` when the Resource Pool could not be read: unknown, not zero.
    pub resource_pool: Option<ResourcePoolRuntime>,
    pub limits: Limits,
    /// VMs whose non-empty annotation is not a CDS annotation.
    pub unparsable_annotations: u64,
}

/// A VM name with this prefix is a worker the hatchery started ahead of demand.
const PROVISION_PREFIX: &str = "provision-";

impl Snapshot {
    /// Computes the three levels for the hatchery named `hatchery_name`.
    pub fn compute(
        inventory: &Inventory,
        hatchery_name: &str,
        limits: Limits,
        resource_pool: Option<ResourcePoolRuntime>,
    ) -> Self {
        let mut tally = Tally::default();
        for vm in &inventory.vms {
            tally.count(vm, hatchery_name);
        }

        Snapshot {
            workers: tally.workers(),
            hatchery: tally.hatchery,
            pool: tally.pool,
            resource_pool,
            limits,
            unparsable_annotations: tally.unparsable_annotations,
        }
    }
}

/// The running sums while the inventory is walked once.
#[derive(Default)]
struct Tally {
    // Two VMs may share a name in different folders; their series would collide, so they
    // are merged here, which keeps the sum of level 1 equal to level 2.
    workers: BTreeMap<WorkerLabels, Usage>,
    hatchery: HatcheryUsage,
    pool: PoolUsage,
    unparsable_annotations: u64,
}

impl Tally {
    fn count(&mut self, vm: &VirtualMachine, hatchery_name: &str) {
        let usage = Usage::of(vm);
        self.pool.total.add(usage);
        self.pool.vm_count += 1;

        let Some(annotation) = self.cds_annotation(vm) else {
            return;
        };
        if annotation.hatchery_name != hatchery_name {
            return;
        }

        if annotation.model {
            self.hatchery.templates.add(usage);
            self.hatchery.template_count += 1;
        } else {
            self.count_worker(vm, annotation, usage);
        }
    }

    fn cds_annotation(&mut self, vm: &VirtualMachine) -> Option<CdsAnnotation> {
        match CdsAnnotation::parse(vm.annotation.as_deref()?) {
            Ok(annotation) => annotation,
            Err(_) => {
                self.unparsable_annotations += 1;
                None
            }
        }
    }

    fn count_worker(&mut self, vm: &VirtualMachine, annotation: CdsAnnotation, usage: Usage) {
        self.hatchery.allocated.add(usage);
        self.hatchery.vm_count += 1;
        if vm.name.starts_with(PROVISION_PREFIX) {
            self.hatchery.provisioned_vm_count += 1;
        }

        let labels = WorkerLabels {
            worker_name: vm.name.clone(),
            worker_model: annotation.worker_model_path,
            flavor: annotation.flavor,
        };
        self.workers.entry(labels).or_default().add(usage);
    }

    fn workers(&mut self) -> Vec<WorkerUsage> {
        std::mem::take(&mut self.workers)
            .into_iter()
            .map(|(labels, usage)| WorkerUsage { labels, usage })
            .collect()
    }
}

#[cfg(test)]
mod tests;
