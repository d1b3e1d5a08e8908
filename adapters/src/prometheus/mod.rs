//! The Prometheus sink: keeps the latest publication and renders it when scraped.

mod collector;
mod families;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use ::prometheus::{Encoder, Registry, TextEncoder};
use async_trait::async_trait;
use bytes::Bytes;
use flate2::write::GzEncoder;
use ports::{MetricSink, Publication};
use tracing::warn;

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

/// How the exposition travels: as is, or gzip-compressed for scrapers that accept it
/// (Prometheus does). 10,000 workers make 3.6 MB of text, which gzip brings to a
/// tenth or less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

/// Publishes snapshots to a Prometheus registry of its own.
///
/// `publish` swaps the stored publication, then encodes it on a blocking thread before
/// any scrape asks, in both formats, and compresses it in the formats that scrapers of
/// the previous publication asked compressed (Prometheus asks for one): at 10,000
/// workers that takes tens of milliseconds, which the first scrape after each
/// publication would otherwise wait for. Meanwhile scrapes are served the previous
/// exposition; then they only clone the kept buffers, until the next publication; a
/// series whose VM is gone disappears with it. Should the encoding fail, the next scrape
/// encodes again, and reports the failure.
#[derive(Debug, Clone)]
pub struct PrometheusSink {
    latest: Arc<RwLock<Publication>>,
    /// Bumped by each publication, so a cached exposition knows when it is out of date.
    generation: Arc<AtomicU64>,
    cache: Arc<Mutex<Option<Arc<Exposition>>>>,
    registry: Registry,
}

/// The encoded exposition of one publication, in both formats, each compressed once:
/// by the publication, or by the first scrape that asks for it so, the others waiting
/// for that one compression.
#[derive(Debug)]
struct Exposition {
    generation: u64,
    text: Bytes,
    openmetrics: Bytes,
    text_gzip: OnceLock<Bytes>,
    openmetrics_gzip: OnceLock<Bytes>,
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

    /// The exposition of the latest publication in `format`, sent with `encoding`.
    pub fn render(&self, format: Format, encoding: Encoding) -> Result<Bytes, EncodeError> {
        // Read before gathering: a publication that lands meanwhile bumps the generation
        // past this one, so what is cached below is rendered again at the next scrape.
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(cached) = self.cached(generation) {
            return Ok(cached.pick(format, encoding));
        }

        let exposition = self.encode(generation)?;
        Ok(self.keep(exposition).pick(format, encoding))
    }

    /// Keeps `exposition` unless a newer one is kept already; returns what is kept.
    fn keep(&self, exposition: Exposition) -> Arc<Exposition> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        match cache.as_ref() {
            Some(kept) if kept.generation > exposition.generation => Arc::clone(kept),
            _ => Arc::clone(cache.insert(Arc::new(exposition))),
        }
    }

    /// Encodes the latest publication as the scrapes of the previous one were served.
    fn encode_ahead(&self, generation: u64) -> Result<(), EncodeError> {
        let kept = self.cache.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let asked_compressed = kept.map(|kept| kept.compressed()).unwrap_or_default();

        let exposition = self.encode(generation)?;
        for format in asked_compressed {
            exposition.pick(format, Encoding::Gzip);
        }
        self.keep(exposition);
        Ok(())
    }

    fn cached(&self, generation: u64) -> Option<Arc<Exposition>> {
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
            text_gzip: OnceLock::new(),
            openmetrics_gzip: OnceLock::new(),
        })
    }
}

impl Exposition {
    /// The formats some scrape has asked compressed.
    fn compressed(&self) -> Vec<Format> {
        let formats = [
            (Format::Text, &self.text_gzip),
            (Format::OpenMetrics, &self.openmetrics_gzip),
        ];
        formats
            .into_iter()
            .filter(|(_, gzip)| gzip.get().is_some())
            .map(|(format, _)| format)
            .collect()
    }

    fn pick(&self, format: Format, encoding: Encoding) -> Bytes {
        let (plain, gzip) = match format {
            Format::Text => (&self.text, &self.text_gzip),
            Format::OpenMetrics => (&self.openmetrics, &self.openmetrics_gzip),
        };
        match encoding {
            Encoding::Identity => plain.clone(),
            Encoding::Gzip => gzip.get_or_init(|| compress(plain)).clone(),
        }
    }
}

/// gzip at its fastest level: exposition text is so repetitive that the best level
/// would save little more, at several times the time.
fn compress(plain: &[u8]) -> Bytes {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(plain.len() / 8),
        flate2::Compression::fast(),
    );
    encoder
        .write_all(plain)
        .and_then(|()| encoder.finish())
        .map(Bytes::from)
        .expect("writing to memory cannot fail")
}

#[async_trait]
impl MetricSink for PrometheusSink {
    async fn publish(&self, publication: Publication) {
        // A poisoned lock only means a writer panicked mid-swap; the value is still whole.
        *self.latest.write().unwrap_or_else(|e| e.into_inner()) = publication;

        // Scrapes keep the previous exposition until this one is encoded: none waits for
        // the encoding, and none encodes it a second time. Publications come one at a
        // time, from the collection loop.
        let generation = self.generation.load(Ordering::Acquire) + 1;
        let sink = self.clone();
        let encoded = tokio::task::spawn_blocking(move || sink.encode_ahead(generation)).await;
        self.generation.store(generation, Ordering::Release);
        match encoded {
            Ok(Ok(())) => {}
            Ok(Err(error)) => warn!(error = %error, "cannot encode the exposition ahead"),
            Err(panic) => warn!(error = %panic, "encoding of the exposition panicked"),
        }
    }
}

#[cfg(test)]
mod tests;
