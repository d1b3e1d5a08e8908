//! The exporter's own part of a full read, as its adapter logs it at debug level: from
//! an answer's last byte to its last record applied (`parse_ms` of the line "read a large
//! answer"). The reads of figure 1 run in this process, so a tracing layer of its own
//! hears them.

use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Where the adapter logs the line.
const TARGET: &str = "adapters::vsphere::streaming";

static PARSES: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

/// Listens to the adapter's line, for the whole process.
pub fn listen() -> anyhow::Result<()> {
    let parses = Parses.with_filter(Targets::new().with_target(TARGET, Level::DEBUG));
    tracing_subscriber::registry().with(parses).try_init()?;
    Ok(())
}

/// The parses logged since the last call, oldest first.
pub fn take() -> Vec<Duration> {
    let mut parses = PARSES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    std::mem::take(&mut *parses)
}

struct Parses;

impl<S: Subscriber> Layer<S> for Parses {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut parse = ParseMs(None);
        event.record(&mut parse);
        if let Some(millis) = parse.0 {
            let mut parses = PARSES
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            parses.push(Duration::from_millis(millis));
        }
    }
}

struct ParseMs(Option<u64>);

impl Visit for ParseMs {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "parse_ms" {
            self.0 = Some(value);
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn Debug) {}
}
