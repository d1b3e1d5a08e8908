//! The runtime figures of one vSphere Resource Pool (`ResourcePool.runtime`).

/// `ResourcePoolRuntimeInfo`, reduced to the figures the exporter publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourcePoolRuntime {
    /// `runtime.cpu`, in MHz.
    pub cpu_mhz: ResourceUsage,
    /// `runtime.memory`, in bytes.
    pub memory_bytes: ResourceUsage,
}

/// `ResourcePoolResourceUsage`: vSphere reports these as `xsd:long`, so they are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceUsage {
    /// `maxUsage`: the most the pool may use.
    pub max: i64,
    /// `overallUsage`: what the pool uses now.
    pub usage: i64,
    /// `unreservedForVm`: what is left for new virtual machines to reserve.
    pub unreserved: i64,
}
