//! When collections run: on the interval, sooner after a failure, and after a change.

use std::sync::Arc;
use std::time::Duration;

use ports::InventorySource;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::collection::Collector;

/// The least time between a read of the inventory and the next one after a change, so
/// that a burst of changes is read at most every 200 ms, not once per change.
const COALESCE_CHANGES: Duration = Duration::from_millis(200);

/// The first retry after a failed collection; later ones double up to the interval.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// Collects every interval, sooner after a failure (with backoff), and reads the
/// inventory again whenever its source says it changed. The loop awaits each collection
/// before the next, so two never overlap, and a slow one delays the schedule instead of
/// piling up.
///
/// The first change after a quiet spell is read at once. A job's worker is created,
/// powered on and annotated in a burst of changes: those that follow within
/// `COALESCE_CHANGES` of a read wait out the rest of it and are read together.
pub async fn collect_forever(
    mut collector: Collector,
    inventory: Arc<dyn InventorySource>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(FIRST_RETRY, interval);
    let mut next = Instant::now();
    let mut last_read: Option<Instant> = None;

    loop {
        let refresh = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(next) => false,
            _ = inventory.changed() => true,
        };
        let collection = async {
            if refresh {
                if let Some(last_read) = last_read {
                    tokio::time::sleep_until(last_read + COALESCE_CHANGES).await;
                }
                last_read = Some(Instant::now());
                collector.refresh_inventory().await
            } else {
                last_read = Some(Instant::now());
                collector.collect().await
            }
        };
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return,
            outcome = collection => outcome,
        };

        next = match (outcome.inventory_read, refresh) {
            (true, false) => Instant::now() + interval,
            (true, true) => next,
            (false, false) => Instant::now() + backoff.next_delay(),
            (false, true) => next.min(Instant::now() + backoff.next_delay()),
        };
        if outcome.inventory_read {
            backoff.reset();
        }
    }
}

#[cfg(test)]
mod tests;
