//! The ports: what the exporter's core asks of the outside world, and nothing more.
//!
//! Sources read vSphere (or the built-in simulator); a sink publishes what was computed.
//! The app owns the loop that joins them; adapters implement these traits.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use domain::{Inventory, ResourcePoolRuntime, Snapshot};

/// Any error an adapter may wrap.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A read from a source failed.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct SourceError {
    /// A short, stable name of the failure (a SOAP fault name such as `NotAuthenticated`,
    /// or `timeout`, `connect`, `http`), fit for a log field or a metric label.
    pub reason: Cow<'static, str>,
    #[source]
    pub source: Option<BoxError>,
}

impl SourceError {
    pub fn new(reason: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        Self {
            reason: reason.into(),
            source: Some(source.into()),
        }
    }

    /// An error whose reason says all there is to say.
    pub fn bare(reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            reason: reason.into(),
            source: None,
        }
    }
}

/// How a source keeps its inventory current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tracking {
    /// Each `inventory()` reads everything again; the caller polls on its interval.
    #[default]
    Polling,
    /// The source follows a change feed and `changed()` tells when to read again.
    ChangeFeed,
}

/// Reads every virtual machine visible to the exporter.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait InventorySource: Send + Sync {
    /// The inventory as it is now. A failure says nothing about the VMs: callers must not
    /// treat it as an empty inventory.
    async fn inventory(&self) -> Result<Inventory, SourceError>;

    /// Returns once the inventory may differ from what `inventory()` last returned. A
    /// source without a change feed never returns, and is polled on the interval alone.
    async fn changed(&self) {
        std::future::pending::<()>().await
    }

    /// How the source keeps current at the moment; a feed may be refused or lost.
    fn tracking(&self) -> Tracking {
        Tracking::Polling
    }

    /// How many sessions the source has opened since it started, the first included; a
    /// source without sessions says 0. Published as a counter, so that re-logins show.
    fn logins(&self) -> u64 {
        0
    }
}

/// Reads the runtime of the configured Resource Pool.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ResourcePoolSource: Send + Sync {
    async fn resource_pool_runtime(&self) -> Result<ResourcePoolRuntime, SourceError>;
}

/// The read of a collection that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    Inventory,
    ResourcePool,
}

impl Stage {
    /// The name used in logs and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Inventory => "inventory",
            Stage::ResourcePool => "resource_pool",
        }
    }
}

/// How collections went, for the exporter's own metrics.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CollectionHealth {
    /// The last collection read the inventory.
    pub up: bool,
    /// How long the last collection took.
    pub duration_seconds: f64,
    /// When a collection last succeeded, in seconds since the Unix epoch; `None` before the
    /// first success.
    pub last_success_unix_seconds: Option<f64>,
    /// How the inventory source keeps current.
    pub tracking: Tracking,
    /// Failed reads since start, by stage and reason (`SourceError::reason`).
    pub failures: BTreeMap<(Stage, String), u64>,
    /// Sessions the inventory source opened since start; see `InventorySource::logins`.
    pub logins: u64,
}

/// What a sink publishes after each collection.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Publication {
    /// The inventory levels to publish; `None` when there is no snapshot worth serving,
    /// in which case their series are absent rather than zero.
    pub snapshot: Option<Arc<Snapshot>>,
    pub health: CollectionHealth,
}

/// Publishes the latest collection; readers see it whole or not at all.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait MetricSink: Send + Sync {
    async fn publish(&self, publication: Publication);
}
