//! When the schedule reads the inventory, on tokio's paused clock.

use std::sync::Mutex;

use async_trait::async_trait;
use domain::{Inventory, Limits, ResourcePoolRuntime, ResourceUsage};
use ports::{MockMetricSink, MockResourcePoolSource, SourceError, Tracking};
use tokio::sync::watch;

use super::*;

const INTERVAL: Duration = Duration::from_secs(30);

/// A source with a change feed of its own: `changed()` returns once `change()` was
/// called since the last read, as the vSphere feed does; every read is timed.
struct FeedSource {
    version: watch::Sender<u64>,
    read_version: Mutex<u64>,
    reads: Mutex<Vec<Instant>>,
}

impl FeedSource {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            version: watch::Sender::new(0),
            read_version: Mutex::new(0),
            reads: Mutex::new(Vec::new()),
        })
    }

    fn change(&self) {
        self.version.send_modify(|version| *version += 1);
    }

    /// When each read happened, counted from `start`.
    fn reads_since(&self, start: Instant) -> Vec<Duration> {
        let reads = self.reads.lock().unwrap();
        reads.iter().map(|read| *read - start).collect()
    }
}

#[async_trait]
impl InventorySource for FeedSource {
    async fn inventory(&self) -> Result<Inventory, SourceError> {
        *self.read_version.lock().unwrap() = *self.version.borrow();
        self.reads.lock().unwrap().push(Instant::now());
        Ok(Inventory::new(Vec::new()))
    }

    async fn changed(&self) {
        let read = *self.read_version.lock().unwrap();
        let mut version = self.version.subscribe();
        let _ = version.wait_for(|version| *version != read).await;
    }

    fn tracking(&self) -> Tracking {
        Tracking::ChangeFeed
    }
}

fn collector(inventory: Arc<FeedSource>) -> Collector {
    let mut pool = MockResourcePoolSource::new();
    pool.expect_resource_pool_runtime().returning(|| {
        let usage = ResourceUsage {
            max: 1,
            usage: 0,
            unreserved: 1,
        };
        Ok(ResourcePoolRuntime {
            cpu_mhz: usage,
            memory_bytes: usage,
        })
    });
    let mut sink = MockMetricSink::new();
    sink.expect_publish().return_const(());

    let limits = Limits {
        max_vcpus: 0,
        max_memory_mb: 0,
    };
    Collector::new(
        inventory,
        Arc::new(pool),
        Arc::new(sink),
        "h1".into(),
        limits,
        INTERVAL,
    )
}

/// Runs the schedule on `source` until `steps` is done, then stops it.
async fn schedule(source: &Arc<FeedSource>, steps: impl Future<Output = ()>) {
    let shutdown = CancellationToken::new();
    let inventory: Arc<dyn InventorySource> = source.clone();
    let running = tokio::spawn(collect_forever(
        collector(Arc::clone(source)),
        inventory,
        INTERVAL,
        shutdown.clone(),
    ));

    steps.await;
    shutdown.cancel();
    running.await.unwrap();
}

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

#[tokio::test(start_paused = true)]
async fn a_change_after_a_quiet_spell_is_read_at_once() {
    let source = FeedSource::new();
    let start = Instant::now();

    schedule(&source, async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        source.change();
        tokio::time::sleep(ms(1)).await;
    })
    .await;

    assert_eq!(source.reads_since(start), [ms(0), ms(10_000)]);
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_changes_is_read_at_its_start_and_once_more() {
    let source = FeedSource::new();
    let start = Instant::now();

    schedule(&source, async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        for _ in 0..4 {
            source.change();
            tokio::time::sleep(ms(40)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    })
    .await;

    let after_first = ms(10_000) + COALESCE_CHANGES;
    assert_eq!(source.reads_since(start), [ms(0), ms(10_000), after_first]);
}

#[tokio::test(start_paused = true)]
async fn a_change_just_after_the_interval_read_waits_for_the_coalescing() {
    let source = FeedSource::new();
    let start = Instant::now();

    schedule(&source, async {
        tokio::time::sleep(INTERVAL + ms(50)).await;
        source.change();
        tokio::time::sleep(Duration::from_secs(1)).await;
    })
    .await;

    let after_interval = INTERVAL + COALESCE_CHANGES;
    assert_eq!(source.reads_since(start), [ms(0), INTERVAL, after_interval]);
}
