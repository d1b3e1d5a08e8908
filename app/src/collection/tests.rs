//! Tests of one collection against mocked ports.

use std::sync::Mutex;

use domain::{Inventory, PowerState, ResourceUsage, VirtualMachine};
use ports::{MockInventorySource, MockMetricSink, MockResourcePoolSource, Stage, Tracking};

use super::*;

const HATCHERY: &str = "h1";

fn inventory(workers: usize) -> Inventory {
    let annotation = format!(r#"{{"hatchery_name":"{HATCHERY}"}}"#);
    let vms = (0..workers)
        .map(|i| VirtualMachine {
            id: format!("vm-{i}"),
            name: format!("w{i}"),
            vcpus: 2,
            memory_mb: 1024,
            annotation: Some(annotation.clone()),
            power_state: PowerState::PoweredOn,
            template: false,
        })
        .collect();
    Inventory::new(vms)
}

fn runtime() -> ResourcePoolRuntime {
    ResourcePoolRuntime {
        cpu_mhz: ResourceUsage {
            max: 100,
            usage: 50,
            unreserved: 40,
        },
        memory_bytes: ResourceUsage {
            max: 1000,
            usage: 500,
            unreserved: 400,
        },
    }
}

fn down() -> SourceError {
    SourceError::bare("connect")
}

fn fault(name: &'static str) -> SourceError {
    SourceError::bare(name)
}

/// Answers in turn from `reads`; the test fails if asked once more.
fn inventory_source(reads: Vec<Result<Inventory, SourceError>>) -> MockInventorySource {
    let mut source = MockInventorySource::new();
    let mut reads = reads.into_iter();
    let count = reads.len();
    source
        .expect_inventory()
        .times(count)
        .returning(move || reads.next().expect("one read per collection"));
    source.expect_tracking().return_const(Tracking::Polling);
    source.expect_logins().return_const(1u64);
    source
}

fn resource_pool_source(
    reads: Vec<Result<ResourcePoolRuntime, SourceError>>,
) -> MockResourcePoolSource {
    let mut source = MockResourcePoolSource::new();
    let mut reads = reads.into_iter();
    let count = reads.len();
    source
        .expect_resource_pool_runtime()
        .times(count)
        .returning(move || reads.next().expect("one read per collection"));
    source
}

/// A sink that keeps every publication for the test to read.
fn recording_sink() -> (MockMetricSink, Arc<Mutex<Vec<Publication>>>) {
    let published = Arc::new(Mutex::new(Vec::new()));
    let mut sink = MockMetricSink::new();
    let log = Arc::clone(&published);
    sink.expect_publish()
        .returning(move |publication| log.lock().unwrap().push(publication));
    (sink, published)
}

fn collector(
    inventory: MockInventorySource,
    resource_pool: MockResourcePoolSource,
    sink: MockMetricSink,
    keep_for: Duration,
) -> Collector {
    let limits = Limits {
        max_vcpus: 10,
        max_memory_mb: 0,
    };
    Collector::new(
        Arc::new(inventory),
        Arc::new(resource_pool),
        Arc::new(sink),
        HATCHERY.into(),
        limits,
        keep_for,
    )
}

const LONG: Duration = Duration::from_secs(3600);

/// Runs one full collection per inventory read; what each said, and what each published.
async fn collections(
    inventory: Vec<Result<Inventory, SourceError>>,
    pool: Vec<Result<ResourcePoolRuntime, SourceError>>,
    keep_for: Duration,
) -> (Vec<Outcome>, Vec<Publication>) {
    let count = inventory.len();
    let (sink, published) = recording_sink();
    let mut collector = collector(
        inventory_source(inventory),
        resource_pool_source(pool),
        sink,
        keep_for,
    );

    let mut outcomes = Vec::new();
    for _ in 0..count {
        outcomes.push(collector.collect().await);
    }

    let published = published.lock().unwrap().clone();
    (outcomes, published)
}

const BOTH_READ: Outcome = Outcome {
    inventory_read: true,
    resource_pool_read: true,
};

#[tokio::test]
async fn a_good_collection_publishes_the_snapshot_and_up() {
    let (outcomes, published) =
        collections(vec![Ok(inventory(3))], vec![Ok(runtime())], LONG).await;

    assert_eq!(outcomes, [BOTH_READ]);
    let snapshot = published[0].snapshot.as_deref().unwrap();
    assert_eq!(snapshot.hatchery.vm_count, 3);
    assert_eq!(snapshot.hatchery.allocated.vcpus, 6);
    assert_eq!(snapshot.limits.max_vcpus, 10);
    assert_eq!(snapshot.resource_pool, Some(runtime()));
    assert!(published[0].health.up);
    assert!(published[0].health.last_success_unix_seconds.unwrap() > 1.7e9);
}

#[tokio::test]
async fn a_failed_resource_pool_read_leaves_its_gauges_unknown_not_zero() {
    let (outcomes, published) = collections(vec![Ok(inventory(1))], vec![Err(down())], LONG).await;

    assert!(outcomes[0].inventory_read && !outcomes[0].resource_pool_read);
    assert_eq!(published[0].snapshot.as_ref().unwrap().resource_pool, None);
    assert!(published[0].health.up);
}

#[tokio::test]
async fn the_first_failed_collection_publishes_no_snapshot() {
    let (outcomes, published) = collections(vec![Err(down())], vec![Ok(runtime())], LONG).await;

    assert!(!outcomes[0].inventory_read);
    assert_eq!(published[0].snapshot, None);
    assert!(!published[0].health.up);
    assert_eq!(published[0].health.last_success_unix_seconds, None);
}

#[tokio::test]
async fn a_failure_keeps_the_last_good_values_while_they_are_fresh() {
    let reads = vec![Ok(inventory(2)), Err(down())];
    let (_, published) = collections(reads, vec![Ok(runtime()), Err(down())], LONG).await;

    let (good, failed) = (&published[0], &published[1]);
    assert!(!failed.health.up);
    assert_eq!(failed.snapshot, good.snapshot);
    assert_eq!(
        failed.health.last_success_unix_seconds,
        good.health.last_success_unix_seconds
    );
}

#[tokio::test]
async fn a_failure_drops_the_last_good_values_once_stale() {
    let reads = vec![Ok(inventory(2)), Err(down())];
    let (_, published) = collections(reads, vec![Ok(runtime()), Err(down())], Duration::ZERO).await;

    assert_eq!(published[1].snapshot, None);
    assert!(published[1].health.last_success_unix_seconds.is_some());
}

#[tokio::test]
async fn a_kept_snapshot_takes_the_resource_pool_read_now() {
    let mut later = runtime();
    later.cpu_mhz.usage = 99;
    let reads = vec![Ok(inventory(2)), Err(down())];
    let (_, published) = collections(reads, vec![Ok(runtime()), Ok(later)], LONG).await;

    let kept = published[1].snapshot.as_deref().unwrap();
    assert_eq!(kept.resource_pool, Some(later));
    assert_eq!(kept.hatchery.vm_count, 2);
}

#[tokio::test]
async fn a_refresh_reads_the_inventory_alone_and_keeps_the_pool_reading() {
    let (sink, published) = recording_sink();
    let mut collector = collector(
        inventory_source(vec![Ok(inventory(1)), Ok(inventory(3))]),
        resource_pool_source(vec![Ok(runtime())]),
        sink,
        LONG,
    );

    collector.collect().await;
    let outcome = collector.refresh_inventory().await;

    assert_eq!(outcome, BOTH_READ);
    let published = published.lock().unwrap();
    let refreshed = published[1].snapshot.as_deref().unwrap();
    assert_eq!(refreshed.hatchery.vm_count, 3);
    assert_eq!(refreshed.resource_pool, Some(runtime()));
}

#[tokio::test]
async fn the_tracking_of_the_source_is_published() {
    let (sink, published) = recording_sink();
    let mut inventory = MockInventorySource::new();
    inventory
        .expect_inventory()
        .returning(|| Ok(self::inventory(1)));
    inventory
        .expect_tracking()
        .return_const(Tracking::ChangeFeed);
    inventory.expect_logins().return_const(3u64);
    let mut collector = collector(
        inventory,
        resource_pool_source(vec![Ok(runtime())]),
        sink,
        LONG,
    );

    collector.collect().await;

    let health = &published.lock().unwrap()[0].health;
    assert_eq!(health.tracking, Tracking::ChangeFeed);
    assert_eq!(health.logins, 3);
}

#[tokio::test]
async fn failures_are_counted_by_stage_and_reason() {
    let reads = vec![
        Err(down()),
        Err(fault("NotAuthenticated")),
        Err(down()),
        Ok(inventory(1)),
    ];
    let pool = vec![
        Err(down()),
        Ok(runtime()),
        Ok(runtime()),
        Err(fault("ManagedObjectNotFound")),
    ];

    let (_, published) = collections(reads, pool, LONG).await;

    let failures = &published[3].health.failures;
    let count = |stage, reason: &str| failures.get(&(stage, reason.to_owned())).copied();
    assert_eq!(count(Stage::Inventory, "connect"), Some(2));
    assert_eq!(count(Stage::Inventory, "NotAuthenticated"), Some(1));
    assert_eq!(count(Stage::ResourcePool, "connect"), Some(1));
    assert_eq!(count(Stage::ResourcePool, "ManagedObjectNotFound"), Some(1));
    assert_eq!(failures.len(), 4);
    assert!(
        published[3].health.up,
        "counters do not make a good collection down"
    );
}
