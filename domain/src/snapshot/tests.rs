//! Unit and property tests of the three levels.

use proptest::prelude::*;

use super::*;
use crate::PowerState;

const HATCHERY: &str = "h1";

fn vm(name: &str, vcpus: u32, memory_mb: u64, annotation: Option<&str>) -> VirtualMachine {
    VirtualMachine {
        id: format!("vm-{name}"),
        name: name.to_owned(),
        vcpus,
        memory_mb,
        annotation: annotation.map(str::to_owned),
        power_state: PowerState::PoweredOn,
        template: false,
    }
}

fn worker_annotation(hatchery: &str, model: bool, flavor: &str) -> String {
    format!(
        r#"{{"hatchery_name":"{hatchery}","worker_model_path":"shared/debian","model":{model},"flavor":"{flavor}","job_id":7}}"#
    )
}

fn compute(vms: Vec<VirtualMachine>) -> Snapshot {
    Snapshot::compute(&Inventory::new(vms), HATCHERY, Limits::default(), None)
}

#[test]
fn a_worker_reaches_all_three_levels() {
    let annotation = worker_annotation(HATCHERY, false, "b2-7");

    let snapshot = compute(vec![vm("w1", 2, 2048, Some(&annotation))]);

    let expected_worker = WorkerUsage {
        labels: WorkerLabels {
            worker_name: "w1".into(),
            worker_model: "shared/debian".into(),
            flavor: "b2-7".into(),
        },
        usage: Usage {
            vcpus: 2,
            memory_mb: 2048,
        },
    };
    assert_eq!(snapshot.workers, vec![expected_worker]);
    assert_eq!(
        snapshot.hatchery.allocated,
        Usage {
            vcpus: 2,
            memory_mb: 2048
        }
    );
    assert_eq!(snapshot.hatchery.vm_count, 1);
    assert_eq!(snapshot.hatchery.provisioned_vm_count, 0);
    assert_eq!(
        snapshot.pool.total,
        Usage {
            vcpus: 2,
            memory_mb: 2048
        }
    );
    assert_eq!(snapshot.pool.vm_count, 1);
}

#[test]
fn a_provisioned_vm_is_a_worker_counted_once_more() {
    let annotation = worker_annotation(HATCHERY, false, "");

    let snapshot = compute(vec![
        vm("provision-abc", 1, 1024, Some(&annotation)),
        vm("w2", 1, 1024, Some(&annotation)),
    ]);

    assert_eq!(snapshot.hatchery.vm_count, 2);
    assert_eq!(snapshot.hatchery.provisioned_vm_count, 1);
    assert_eq!(snapshot.workers.len(), 2);
}

#[test]
fn a_template_counts_apart_and_has_no_worker_series() {
    let annotation = worker_annotation(HATCHERY, true, "");

    let snapshot = compute(vec![vm("debian12", 4, 4096, Some(&annotation))]);

    assert!(snapshot.workers.is_empty());
    assert_eq!(snapshot.hatchery.allocated, Usage::default());
    assert_eq!(snapshot.hatchery.vm_count, 0);
    assert_eq!(
        snapshot.hatchery.templates,
        Usage {
            vcpus: 4,
            memory_mb: 4096
        }
    );
    assert_eq!(snapshot.hatchery.template_count, 1);
    assert_eq!(snapshot.pool.vm_count, 1);
}

#[test]
fn other_hatcheries_broken_and_plain_vms_reach_level_three_only() {
    let other = worker_annotation("h2", false, "");

    let snapshot = compute(vec![
        vm("other", 1, 512, Some(&other)),
        vm("broken", 2, 512, Some("{not json")),
        vm("plain", 3, 512, None),
        vm("blank", 4, 512, Some("")),
    ]);

    assert_eq!(snapshot.hatchery, HatcheryUsage::default());
    assert!(snapshot.workers.is_empty());
    assert_eq!(
        snapshot.pool.total,
        Usage {
            vcpus: 10,
            memory_mb: 2048
        }
    );
    assert_eq!(snapshot.pool.vm_count, 4);
    assert_eq!(snapshot.unparsable_annotations, 1);
}

#[test]
fn workers_with_the_same_labels_share_one_series() {
    let annotation = worker_annotation(HATCHERY, false, "");

    let snapshot = compute(vec![
        vm("w1", 1, 100, Some(&annotation)),
        vm("w1", 2, 200, Some(&annotation)),
    ]);

    assert_eq!(snapshot.workers.len(), 1);
    assert_eq!(
        snapshot.workers[0].usage,
        Usage {
            vcpus: 3,
            memory_mb: 300
        }
    );
    assert_eq!(snapshot.hatchery.vm_count, 2);
}

#[test]
fn limits_and_resource_pool_are_carried_through() {
    let limits = Limits {
        max_vcpus: 64,
        max_memory_mb: 131_072,
    };
    let runtime = ResourcePoolRuntime::default();

    let snapshot = Snapshot::compute(&Inventory::default(), HATCHERY, limits, Some(runtime));

    assert_eq!(snapshot.limits, limits);
    assert_eq!(snapshot.resource_pool, Some(runtime));
}

/// The kinds of VM an inventory mixes, so that generated inventories cover every rule.
#[derive(Debug, Clone)]
enum Kind {
    Worker,
    Provisioned,
    Template,
    OtherHatchery,
    Broken,
    Plain,
}

fn any_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Worker),
        Just(Kind::Provisioned),
        Just(Kind::Template),
        Just(Kind::OtherHatchery),
        Just(Kind::Broken),
        Just(Kind::Plain),
    ]
}

fn any_vm() -> impl Strategy<Value = (Kind, VirtualMachine)> {
    (
        any_kind(),
        0u32..64,
        0u64..1_048_576,
        "[a-z0-9]{1,6}",
        "[a-z0-9-]{0,4}",
    )
        .prop_map(|(kind, vcpus, memory_mb, suffix, flavor)| {
            let (name, annotation) = match kind {
                Kind::Worker => (suffix, Some(worker_annotation(HATCHERY, false, &flavor))),
                Kind::Provisioned => (
                    format!("provision-{suffix}"),
                    Some(worker_annotation(HATCHERY, false, &flavor)),
                ),
                Kind::Template => (suffix, Some(worker_annotation(HATCHERY, true, &flavor))),
                Kind::OtherHatchery => (suffix, Some(worker_annotation("h2", false, &flavor))),
                Kind::Broken => (suffix, Some(format!("notes about {flavor}"))),
                Kind::Plain => (suffix, None),
            };
            (kind, vm(&name, vcpus, memory_mb, annotation.as_deref()))
        })
}

fn any_inventory() -> impl Strategy<Value = Vec<(Kind, VirtualMachine)>> {
    prop::collection::vec(any_vm(), 0..60)
}

fn vms_of(generated: &[(Kind, VirtualMachine)]) -> Vec<VirtualMachine> {
    generated.iter().map(|(_, vm)| vm.clone()).collect()
}

fn sum<'a>(vms: impl Iterator<Item = &'a VirtualMachine>) -> Usage {
    vms.fold(Usage::default(), |acc, vm| Usage {
        vcpus: acc.vcpus + u64::from(vm.vcpus),
        memory_mb: acc.memory_mb + vm.memory_mb,
    })
}

fn of_kinds<'a>(
    generated: &'a [(Kind, VirtualMachine)],
    wanted: impl Fn(&Kind) -> bool + 'a,
) -> impl Iterator<Item = &'a VirtualMachine> + 'a {
    generated
        .iter()
        .filter(move |(kind, _)| wanted(kind))
        .map(|(_, vm)| vm)
}

proptest! {
    #[test]
    fn level_three_is_the_sum_over_every_vm(generated in any_inventory()) {
        let snapshot = compute(vms_of(&generated));

        prop_assert_eq!(snapshot.pool.total, sum(generated.iter().map(|(_, vm)| vm)));
        prop_assert_eq!(snapshot.pool.vm_count, generated.len() as u64);
    }

    #[test]
    fn worker_series_add_up_to_the_allocated_gauges(generated in any_inventory()) {
        let snapshot = compute(vms_of(&generated));

        let series = snapshot.workers.iter().fold(Usage::default(), |mut acc, worker| {
            acc.add(worker.usage);
            acc
        });
        prop_assert_eq!(series, snapshot.hatchery.allocated);
    }

    #[test]
    fn only_this_hatcherys_workers_reach_levels_one_and_two(generated in any_inventory()) {
        let snapshot = compute(vms_of(&generated));

        let workers = || of_kinds(&generated, |k| matches!(k, Kind::Worker | Kind::Provisioned));
        let templates = || of_kinds(&generated, |k| matches!(k, Kind::Template));
        prop_assert_eq!(snapshot.hatchery.allocated, sum(workers()));
        prop_assert_eq!(snapshot.hatchery.vm_count, workers().count() as u64);
        prop_assert_eq!(snapshot.hatchery.templates, sum(templates()));
        prop_assert_eq!(snapshot.hatchery.template_count, templates().count() as u64);
        for worker in &snapshot.workers {
            prop_assert!(workers().any(|vm| vm.name == worker.labels.worker_name));
        }
    }

    #[test]
    fn templates_never_reach_level_one(generated in any_inventory()) {
        let snapshot = compute(vms_of(&generated));

        let series: u64 = snapshot.workers.iter().map(|w| w.usage.vcpus).sum();
        let workers = of_kinds(&generated, |k| matches!(k, Kind::Worker | Kind::Provisioned));
        prop_assert_eq!(series, sum(workers).vcpus);
    }

    #[test]
    fn provisioned_never_exceed_the_vm_count(generated in any_inventory()) {
        let snapshot = compute(vms_of(&generated));

        let provisioned = of_kinds(&generated, |k| matches!(k, Kind::Provisioned)).count();
        prop_assert_eq!(snapshot.hatchery.provisioned_vm_count, provisioned as u64);
        prop_assert!(snapshot.hatchery.provisioned_vm_count <= snapshot.hatchery.vm_count);
    }

    #[test]
    fn broken_annotations_are_counted(generated in any_inventory()) {
        let snapshot = compute(vms_of(&generated));

        let broken = of_kinds(&generated, |k| matches!(k, Kind::Broken)).count();
        prop_assert_eq!(snapshot.unparsable_annotations, broken as u64);
    }

    #[test]
    fn the_order_of_vms_does_not_matter(
        (vms, shuffled) in any_inventory()
            .prop_map(|generated| vms_of(&generated))
            .prop_flat_map(|vms| (Just(vms.clone()), Just(vms).prop_shuffle())),
    ) {
        prop_assert_eq!(compute(shuffled), compute(vms));
    }

    #[test]
    fn adding_a_non_cds_vm_changes_level_three_only(
        generated in any_inventory(),
        (kind, extra) in any_vm().prop_filter("non-CDS", |(kind, _)| {
            matches!(kind, Kind::OtherHatchery | Kind::Broken | Kind::Plain)
        }),
    ) {
        let before = compute(vms_of(&generated));
        let mut vms = vms_of(&generated);
        vms.push(extra.clone());

        let after = compute(vms);

        prop_assert_eq!(&after.workers, &before.workers);
        prop_assert_eq!(after.hatchery, before.hatchery);
        prop_assert_eq!(after.pool.vm_count, before.pool.vm_count + 1);
        prop_assert_eq!(after.pool.total.vcpus, before.pool.total.vcpus + u64::from(extra.vcpus));
        let broken = u64::from(matches!(kind, Kind::Broken));
        prop_assert_eq!(after.unparsable_annotations, before.unparsable_annotations + broken);
    }
}
