//! The Prometheus sink: keeps the latest publication and renders it at scrape time.

mod collector;
mod families;

use std::sync::{Arc, RwLock};

use ::prometheus::{Encoder, Registry, TextEncoder};
use async_trait::async_trait;
use ports::{MetricSink, Publication};

use collector::SnapshotCollector;

/// Every metric name starts with this.
pub const NAMESPACE: &str = "cds_hatchery_vsphere";

/// The labels every series carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLabels {
    /// `service_name`: the hatchery's name.
    pub name: String,
    /// `service_type`: `hatchery` unless configured otherwise.
    pub kind: String,
}

/// Publishes snapshots to a Prometheus registry of its own.
///
/// `publish` only swaps the stored publication; the exposition is built from it when a
/// scrape asks, so a scrape never waits for vCenter and a series whose VM is gone
/// disappears with the next publication.
#[derive(Debug, Clone)]
pub struct PrometheusSink {
    latest: Arc<RwLock<Publication>>,
    registry: Registry,
}

/// The exposition could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode the exposition")]
pub struct EncodeError(#[from] ::prometheus::Error);

impl PrometheusSink {
    pub fn new(service: ServiceLabels) -> Self {
        let latest = Arc::new(RwLock::new(Publication::default()));
        let registry = Registry::new();
        let collector = SnapshotCollector::new(service, Arc::clone(&latest));
        registry
            .register(Box::new(collector))
            .expect("a new registry holds no other collector");

        Self { latest, registry }
    }

    /// The registry the sink's collector is registered in, for callers that add their own.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition (format 0.0.4) of the latest publication.
    pub fn render(&self) -> Result<String, EncodeError> {
        let families = self.registry.gather();
        let mut text = Vec::new();
        TextEncoder::new().encode(&families, &mut text)?;

        Ok(String::from_utf8(text).expect("the text encoder writes UTF-8"))
    }
}

#[async_trait]
impl MetricSink for PrometheusSink {
    async fn publish(&self, publication: Publication) {
        // A poisoned lock only means a writer panicked mid-swap; the value is still whole.
        let mut latest = self.latest.write().unwrap_or_else(|e| e.into_inner());
        *latest = publication;
    }
}

#[cfg(test)]
mod tests;
