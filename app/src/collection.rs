//! One collection: read the sources, compute the snapshot, decide what to publish.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use domain::{Inventory, Limits, ResourcePoolRuntime, Snapshot};
use ports::{
    CollectionHealth, InventorySource, MetricSink, Publication, ResourcePoolSource, SourceError,
    Stage,
};

/// Everything a collection reads from and writes to, and what it remembers between runs.
pub struct Collector {
    inventory: Arc<dyn InventorySource>,
    resource_pool: Arc<dyn ResourcePoolSource>,
    sink: Arc<dyn MetricSink>,
    hatchery_name: String,
    limits: Limits,
    keep_for: Duration,
    last_snapshot: Option<Remembered<Arc<Snapshot>>>,
    last_resource_pool: Option<Remembered<ResourcePoolRuntime>>,
    last_success_unix_seconds: Option<f64>,
    failures: BTreeMap<(Stage, String), u64>,
}

/// A value read at some moment, served again while it is fresh enough.
struct Remembered<T> {
    value: T,
    read_at: Instant,
}

/// Whether a collection reads the Resource Pool or keeps its last reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PoolRead {
    Read,
    Keep,
}

/// What one collection found, for the caller's log and exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub inventory_read: bool,
    pub resource_pool_read: bool,
}

impl Collector {
    /// `keep_for` is how long the last good values are served while reads fail: long
    /// enough to ride out a short outage, short enough that nobody alerts on stale data.
    pub fn new(
        inventory: Arc<dyn InventorySource>,
        resource_pool: Arc<dyn ResourcePoolSource>,
        sink: Arc<dyn MetricSink>,
        hatchery_name: String,
        limits: Limits,
        keep_for: Duration,
    ) -> Self {
        Self {
            inventory,
            resource_pool,
            sink,
            hatchery_name,
            limits,
            keep_for,
            last_snapshot: None,
            last_resource_pool: None,
            last_success_unix_seconds: None,
            failures: BTreeMap::new(),
        }
    }

    /// Reads both sources at once, publishes the result, and says what succeeded.
    pub async fn collect(&mut self) -> Outcome {
        self.collect_with(PoolRead::Read).await
    }

    /// Reads the inventory alone, after its source said it changed; the Resource Pool
    /// keeps its last reading, which the interval's collections refresh.
    pub async fn refresh_inventory(&mut self) -> Outcome {
        self.collect_with(PoolRead::Keep).await
    }

    async fn collect_with(&mut self, pool: PoolRead) -> Outcome {
        let started = Instant::now();
        let (inventory, runtime) = match pool {
            PoolRead::Read => {
                let (inventory, runtime) = tokio::join!(
                    self.inventory.inventory(),
                    self.resource_pool.resource_pool_runtime()
                );
                (inventory, Some(runtime))
            }
            PoolRead::Keep => (self.inventory.inventory().await, None),
        };
        let outcome = Outcome {
            inventory_read: inventory.is_ok(),
            resource_pool_read: runtime.as_ref().is_none_or(Result::is_ok),
        };
        log_failures(&inventory, runtime.as_ref());
        self.count_failure(Stage::Inventory, inventory.as_ref().err());
        self.count_failure(
            Stage::ResourcePool,
            runtime.as_ref().and_then(|r| r.as_ref().err()),
        );

        let runtime = self.resource_pool_to_publish(runtime.and_then(Result::ok), started);
        let snapshot = self.snapshot_to_publish(inventory.ok(), runtime, started);
        let health = self.health(outcome.inventory_read, started);
        self.sink.publish(Publication { snapshot, health }).await;

        outcome
    }

    fn resource_pool_to_publish(
        &mut self,
        read: Option<ResourcePoolRuntime>,
        now: Instant,
    ) -> Option<ResourcePoolRuntime> {
        match read {
            Some(runtime) => {
                self.last_resource_pool = Some(Remembered {
                    value: runtime,
                    read_at: now,
                });
                Some(runtime)
            }
            None => self.fresh_resource_pool(now),
        }
    }

    fn snapshot_to_publish(
        &mut self,
        read: Option<Inventory>,
        runtime: Option<ResourcePoolRuntime>,
        now: Instant,
    ) -> Option<Arc<Snapshot>> {
        match read {
            Some(inventory) => {
                let snapshot =
                    Snapshot::compute(&inventory, &self.hatchery_name, self.limits, runtime);
                Some(self.remember_snapshot(snapshot, now))
            }
            None => self.fresh_snapshot(now, runtime),
        }
    }

    fn count_failure(&mut self, stage: Stage, error: Option<&SourceError>) {
        if let Some(error) = error {
            *self
                .failures
                .entry((stage, error.reason.to_string()))
                .or_default() += 1;
        }
    }

    fn health(&mut self, up: bool, started: Instant) -> CollectionHealth {
        if up {
            self.last_success_unix_seconds = Some(unix_seconds(SystemTime::now()));
        }

        CollectionHealth {
            up,
            duration_seconds: started.elapsed().as_secs_f64(),
            last_success_unix_seconds: self.last_success_unix_seconds,
            tracking: self.inventory.tracking(),
            failures: self.failures.clone(),
            logins: self.inventory.logins(),
        }
    }

    fn remember_snapshot(&mut self, snapshot: Snapshot, now: Instant) -> Arc<Snapshot> {
        let snapshot = Arc::new(snapshot);
        self.last_snapshot = Some(Remembered {
            value: Arc::clone(&snapshot),
            read_at: now,
        });
        snapshot
    }

    /// The last good snapshot while it is fresh, with the pool runtime of this collection,
    /// since the two are read and kept apart.
    fn fresh_snapshot(
        &self,
        now: Instant,
        runtime: Option<ResourcePoolRuntime>,
    ) -> Option<Arc<Snapshot>> {
        let last = self
            .last_snapshot
            .as_ref()
            .filter(|last| self.is_fresh(last.read_at, now))?;
        let snapshot = Snapshot {
            resource_pool: runtime,
            ..Snapshot::clone(&last.value)
        };
        Some(Arc::new(snapshot))
    }

    fn fresh_resource_pool(&self, now: Instant) -> Option<ResourcePoolRuntime> {
        self.last_resource_pool
            .as_ref()
            .filter(|last| self.is_fresh(last.read_at, now))
            .map(|last| last.value)
    }

    fn is_fresh(&self, read_at: Instant, now: Instant) -> bool {
        now.duration_since(read_at) <= self.keep_for
    }
}

/// One line per failed collection: the inventory's error, with the pool's when both failed.
fn log_failures(
    inventory: &Result<Inventory, SourceError>,
    runtime: Option<&Result<ResourcePoolRuntime, SourceError>>,
) {
    let pool_error = runtime.and_then(|runtime| runtime.as_ref().err());
    match (inventory, pool_error) {
        (Err(error), Some(pool_error)) => tracing::warn!(
            error = %chain(error),
            resource_pool_error = %chain(pool_error),
            "collection failed"
        ),
        (Err(error), None) => tracing::warn!(error = %chain(error), "collection failed"),
        (Ok(_), Some(error)) => {
            tracing::warn!(error = %chain(error), "cannot read the resource pool")
        }
        (Ok(_), None) => {}
    }
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// An error and its sources on one line, as `{:#}` prints an anyhow chain.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
