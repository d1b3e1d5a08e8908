//! The table of every gauge the sink publishes: name, help, and where its value comes from.

use domain::{ResourcePoolRuntime, Snapshot, Usage};
use ports::{CollectionHealth, Tracking};

/// Where a gauge takes its value.
#[derive(Clone, Copy)]
pub(super) enum Source {
    /// One series per worker VM, with the worker labels.
    Worker(fn(&Usage) -> u64),
    /// One series from the snapshot; absent when there is no snapshot.
    Snapshot(fn(&Snapshot) -> u64),
    /// One series from the Resource Pool runtime; absent when it is unknown.
    ResourcePool(fn(&ResourcePoolRuntime) -> i64),
    /// The exporter's own health; absent when the function says `None`.
    Health(fn(&CollectionHealth) -> Option<f64>),
    /// One series per stage and reason of failed reads, labelled so.
    Failures,
}

/// The Prometheus type of a family.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Gauge,
    Counter,
}

/// One metric: `cds_hatchery_vsphere_<suffix>`.
pub(super) struct Family {
    pub suffix: &'static str,
    pub help: &'static str,
    pub source: Source,
    pub kind: Kind,
}

const fn family(suffix: &'static str, help: &'static str, source: Source) -> Family {
    Family {
        suffix,
        help,
        source,
        kind: Kind::Gauge,
    }
}

const fn counter(suffix: &'static str, help: &'static str, source: Source) -> Family {
    Family {
        suffix,
        help,
        source,
        kind: Kind::Counter,
    }
}

use Source::{Health, ResourcePool, Snapshot as Snap, Worker};

/// Every metric, in the order of `docs/metrics.md`.
pub(super) const FAMILIES: &[Family] = &[
    family(
        "worker_vcpus",
        "vCPUs of one worker VM of this hatchery (summary.config.numCpu).",
        Worker(|u| u.vcpus),
    ),
    family(
        "worker_memory_mb",
        "Memory of one worker VM of this hatchery, in MB (summary.config.memorySizeMB).",
        Worker(|u| u.memory_mb),
    ),
    family(
        "allocated_vcpus",
        "vCPUs of this hatchery's VMs, templates excluded.",
        Snap(|s| s.hatchery.allocated.vcpus),
    ),
    family(
        "allocated_memory_mb",
        "Memory of this hatchery's VMs, templates excluded, in MB.",
        Snap(|s| s.hatchery.allocated.memory_mb),
    ),
    family(
        "vm_count",
        "Number of this hatchery's VMs, templates excluded.",
        Snap(|s| s.hatchery.vm_count),
    ),
    family(
        "provisioned_vm_count",
        "Number of this hatchery's VMs whose name starts with provision-.",
        Snap(|s| s.hatchery.provisioned_vm_count),
    ),
    family(
        "template_vcpus",
        "vCPUs of this hatchery's worker model template VMs (annotation model: true).",
        Snap(|s| s.hatchery.templates.vcpus),
    ),
    family(
        "template_memory_mb",
        "Memory of this hatchery's worker model template VMs, in MB.",
        Snap(|s| s.hatchery.templates.memory_mb),
    ),
    family(
        "template_count",
        "Number of this hatchery's worker model template VMs.",
        Snap(|s| s.hatchery.template_count),
    ),
    family(
        "pool_total_vcpus",
        "vCPUs of every VM visible to the exporter, CDS or not.",
        Snap(|s| s.pool.total.vcpus),
    ),
    family(
        "pool_total_memory_mb",
        "Memory of every VM visible to the exporter, CDS or not, in MB.",
        Snap(|s| s.pool.total.memory_mb),
    ),
    family(
        "pool_total_vm_count",
        "Number of VMs visible to the exporter, CDS or not.",
        Snap(|s| s.pool.vm_count),
    ),
    family(
        "resource_pool_cpu_max_mhz",
        "Most CPU the Resource Pool may use, in MHz (runtime.cpu.maxUsage).",
        ResourcePool(|r| r.cpu_mhz.max),
    ),
    family(
        "resource_pool_cpu_usage_mhz",
        "CPU the Resource Pool uses, in MHz (runtime.cpu.overallUsage).",
        ResourcePool(|r| r.cpu_mhz.usage),
    ),
    family(
        "resource_pool_cpu_unreserved_mhz",
        "CPU of the Resource Pool left for VMs to reserve, in MHz (runtime.cpu.unreservedForVm).",
        ResourcePool(|r| r.cpu_mhz.unreserved),
    ),
    family(
        "resource_pool_memory_max_bytes",
        "Most memory the Resource Pool may use, in bytes (runtime.memory.maxUsage).",
        ResourcePool(|r| r.memory_bytes.max),
    ),
    family(
        "resource_pool_memory_usage_bytes",
        "Memory the Resource Pool uses, in bytes (runtime.memory.overallUsage).",
        ResourcePool(|r| r.memory_bytes.usage),
    ),
    family(
        "resource_pool_memory_unreserved_bytes",
        "Memory of the Resource Pool left for VMs to reserve, in bytes (runtime.memory.unreservedForVm).",
        ResourcePool(|r| r.memory_bytes.unreserved),
    ),
    family(
        "max_vcpus",
        "Configured limit of this hatchery's vCPUs; 0 when unlimited.",
        Snap(|s| s.limits.max_vcpus),
    ),
    family(
        "max_memory_mb",
        "Configured limit of this hatchery's memory, in MB; 0 when unlimited.",
        Snap(|s| s.limits.max_memory_mb),
    ),
    family(
        "unparsable_annotations",
        "Number of VMs whose non-empty annotation is not a CDS annotation.",
        Snap(|s| s.unparsable_annotations),
    ),
    family(
        "up",
        "1 when the last collection read the inventory, 0 when it failed.",
        Health(|h| Some(if h.up { 1.0 } else { 0.0 })),
    ),
    family(
        "collect_duration_seconds",
        "Duration of the last collection, in seconds.",
        Health(|h| Some(h.duration_seconds)),
    ),
    family(
        "last_collect_success_timestamp_seconds",
        "Unix time of the last successful collection, in seconds.",
        Health(|h| h.last_success_unix_seconds),
    ),
    family(
        "inventory_change_feed",
        "1 when the inventory follows vCenter's change feed, 0 when it is polled every interval.",
        Health(|h| {
            Some(if h.tracking == Tracking::ChangeFeed {
                1.0
            } else {
                0.0
            })
        }),
    ),
    counter(
        "collect_failures_total",
        "Failed reads since start, by stage (inventory, resource_pool) and reason (a SOAP fault name, timeout, connect, ...).",
        Source::Failures,
    ),
    counter(
        "vcenter_logins_total",
        "vCenter sessions opened since start, the first included: more than one means a session was lost and renewed.",
        Health(|h| Some(h.logins as f64)),
    ),
];
