//! When collections run: on the interval, sooner after a failure, and after a change.

use std::sync::Arc;
use std::time::Duration;

use ports::InventorySource;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::collection::Collector;

/// How long a burst of inventory changes may take to land before it is read.
const COALESCE_CHANGES: Duration = Duration::from_millis(200);

/// The first retry after a failed collection; later ones double up to the interval.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// Collects every interval, sooner after a failure (with backoff), and reads the
/// inventory again whenever its source says it changed. The loop awaits each collection
/// before the next, so two never overlap, and a slow one delays the schedule instead of
/// piling up.
pub async fn collect_forever(
    mut collector: Collector,
    inventory: Arc<dyn InventorySource>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(FIRST_RETRY, interval);
    let mut next = Instant::now();

    loop {
        let refresh = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(next) => false,
            _ = inventory.changed() => true,
        };
        let collection = async {
            if refresh {
                // A job's worker is created, renamed and annotated in a burst of changes:
                // let the burst land, then read once.
                tokio::time::sleep(COALESCE_CHANGES).await;
                collector.refresh_inventory().await
            } else {
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
