//! Tests of the simulator: its mix, its determinism and its churn.

use domain::{Limits, Snapshot};
use ports::{InventorySource, ResourcePoolSource};

use super::*;

fn config(vms: usize, seed: u64) -> SimulatorConfig {
    SimulatorConfig {
        vms,
        seed,
        hatchery_name: "h1".into(),
        resource_pool: None,
    }
}

async fn snapshot_of(simulator: &Simulator) -> Snapshot {
    let inventory = simulator.inventory().await.unwrap();
    Snapshot::compute(&inventory, "h1", Limits::default(), None)
}

#[tokio::test]
async fn holds_the_requested_number_of_vms() {
    for vms in [0, 1, 7, 100, 1000] {
        let inventory = Simulator::new(&config(vms, 1)).inventory().await.unwrap();

        assert_eq!(inventory.vms.len(), vms);
    }
}

#[tokio::test]
async fn mixes_every_kind_of_vm() {
    let snapshot = snapshot_of(&Simulator::new(&config(100, 1))).await;

    assert_eq!(snapshot.hatchery.vm_count, 48);
    assert_eq!(snapshot.hatchery.provisioned_vm_count, 8);
    assert_eq!(snapshot.hatchery.template_count, 4);
    assert!(snapshot.unparsable_annotations > 0);
    assert_eq!(snapshot.pool.vm_count, 100);
    assert!(snapshot.hatchery.allocated.vcpus < snapshot.pool.total.vcpus);
}

#[tokio::test]
async fn vm_ids_are_unique() {
    let inventory = Simulator::new(&config(500, 3)).inventory().await.unwrap();

    let mut ids: Vec<_> = inventory.vms.iter().map(|vm| vm.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 500);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_sequence() {
    let (a, b) = (
        Simulator::new(&config(50, 7)),
        Simulator::new(&config(50, 7)),
    );

    for _ in 0..5 {
        assert_eq!(a.inventory().await.unwrap(), b.inventory().await.unwrap());
        assert_eq!(
            a.resource_pool_runtime().await.unwrap(),
            b.resource_pool_runtime().await.unwrap()
        );
    }
}

#[tokio::test]
async fn workers_come_and_go_between_reads() {
    let simulator = Simulator::new(&config(200, 11));
    let first = simulator.inventory().await.unwrap();

    let mut changed = false;
    for _ in 0..5 {
        changed |= simulator.inventory().await.unwrap() != first;
    }

    assert!(changed);
}

#[tokio::test]
async fn churn_touches_only_this_hatcherys_workers() {
    let simulator = Simulator::new(&config(200, 5));
    let before = snapshot_of(&simulator).await;

    let mut after = before.clone();
    for _ in 0..10 {
        after = snapshot_of(&simulator).await;
    }

    assert_eq!(after.hatchery.templates, before.hatchery.templates);
    assert_eq!(after.unparsable_annotations, before.unparsable_annotations);
    let others = |s: &Snapshot| s.pool.vm_count - s.hatchery.vm_count;
    assert_eq!(others(&after), others(&before));
}

#[tokio::test]
async fn pool_usage_moves_within_its_maximum() {
    let simulator = Simulator::new(&config(10, 2));
    let first = simulator.resource_pool_runtime().await.unwrap();

    let mut moved = false;
    for _ in 0..20 {
        let runtime = simulator.resource_pool_runtime().await.unwrap();
        moved |= runtime != first;
        assert!(runtime.cpu_mhz.usage > 0 && runtime.cpu_mhz.usage < runtime.cpu_mhz.max);
        assert!(runtime.memory_bytes.usage < runtime.memory_bytes.max);
    }

    assert!(moved);
}

#[tokio::test]
async fn only_its_own_resource_pool_can_be_read() {
    let own = SimulatorConfig {
        resource_pool: Some(RESOURCE_POOL_PATH.into()),
        ..config(10, 1)
    };
    let other = SimulatorConfig {
        resource_pool: Some("/DC0/host/DC0_H0/Resources".into()),
        ..config(10, 1)
    };

    assert!(Simulator::new(&own).resource_pool_runtime().await.is_ok());
    let error = Simulator::new(&other)
        .resource_pool_runtime()
        .await
        .unwrap_err();
    assert_eq!(error.reason, "NotFound");
    assert!(
        error
            .source
            .unwrap()
            .to_string()
            .contains("/DC0/host/DC0_H0/Resources")
    );
}
