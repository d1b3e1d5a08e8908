//! The Prometheus sink: keeps the latest publication and renders it when scraped.

mod collector;
mod families;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ::prometheus::{Encoder, Registry, TextEncoder};
use async_trait::async_trait;
use bytes::Bytes;
use ports::{MetricSink, Publication};

use collector::SnapshotCollector;

/// Every metric name starts with this.
pub const NAMESPACE: &str = "cds_hatchery_vsphere";

/// The media type of the Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The media type of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The labels every series carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLabels {
    /// `service_name`: the hatchery's name.
    pub name: String,
    /// `service_type`: `hatchery` unless configured otherwise.
    pub kind: String,
}

/// The two formats a scraper may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// Publishes snapshots to a Prometheus registry of its own.
///
/// `publish` only swaps the stored publication. The registry's collector turns it into
/// metric families when the first scrape after it asks; the encoded exposition is then
/// kept until the next publication, so a flood of scrapes costs one encoding per
/// collection, and a series whose VM is gone disappears with the next publication.
#[derive(Debug, Clone)]
pub struct PrometheusSink {
    latest: Arc<RwLock<Publication>>,
    /// Bumped by each publication, so a cached exposition knows when it is out of date.
    generation: Arc<AtomicU64>,
    cache: Arc<Mutex<Option<Exposition>>>,
    registry: Registry,
}

/// The encoded exposition of one publication, in both formats.
#[derive(Debug, Clone)]
struct Exposition {
    generation: u64,
    text: Bytes,
    openmetrics: Bytes,
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

        Self {
            latest,
            generation: Arc::new(AtomicU64::new(0)),
            cache: Arc::new(Mutex::new(None)),
            registry,
        }
    }

    /// The exposition of the latest publication in `format`.
    pub fn render(&self, format: Format) -> Result<Bytes, EncodeError> {
        // Read before gathering: a publication that lands meanwhile bumps the generation
        // past this one, so what is cached below is rendered again at the next scrape.
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(cached) = self.cached(generation) {
            return Ok(cached.pick(format));
        }

        let exposition = self.encode(generation)?;
        let bytes = exposition.pick(format);
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some(exposition);
        Ok(bytes)
    }

    fn cached(&self, generation: u64) -> Option<Exposition> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .as_ref()
            .filter(|c| c.generation == generation)
            .cloned()
    }

    fn encode(&self, generation: u64) -> Result<Exposition, EncodeError> {
        let mut text = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut text)?;

        // For gauges without units the two formats differ only by the closing line.
        let mut openmetrics = Vec::with_capacity(text.len() + 6);
        openmetrics.extend_from_slice(&text);
        openmetrics.extend_from_slice(b"# EOF\n");

        Ok(Exposition {
            generation,
            text: text.into(),
            openmetrics: openmetrics.into(),
        })
    }
}

impl Exposition {
    fn pick(&self, format: Format) -> Bytes {
        match format {
            Format::Text => self.text.clone(),
            Format::OpenMetrics => self.openmetrics.clone(),
        }
    }
}

#[async_trait]
impl MetricSink for PrometheusSink {
    async fn publish(&self, publication: Publication) {
        // A poisoned lock only means a writer panicked mid-swap; the value is still whole.
        *self.latest.write().unwrap_or_else(|e| e.into_inner()) = publication;
        self.generation.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests;
