//! The values every series must have, computed from a source's raw inventory without the
//! domain crate, so that the tests check the exporter against an independent reading.

use std::collections::BTreeMap;

use adapters::simulator::{Simulator, SimulatorConfig};
use ports::{InventorySource, ResourcePoolSource};
use serde_json::Value;

use super::{Exposition, Series};

pub const PREFIX: &str = "cds_hatchery_vsphere_";

/// Every series the exporter must publish for the simulator's first inventory, computed
/// here from the raw VMs, without the domain crate.
pub async fn expected_series(
    hatchery: &str,
    vms: usize,
    seed: u64,
    service_type: &str,
) -> BTreeMap<Series, f64> {
    let simulator = Simulator::new(&SimulatorConfig {
        vms,
        seed,
        hatchery_name: hatchery.into(),
        resource_pool: None,
    });
    let inventory = simulator.inventory().await.unwrap();
    let pool = simulator.resource_pool_runtime().await.unwrap();

    let service = [("service_name", hatchery), ("service_type", service_type)];
    let mut gauges: BTreeMap<&str, f64> = BTreeMap::new();
    let mut workers: BTreeMap<(String, String, String), (f64, f64)> = BTreeMap::new();
    for name in [
        "allocated_vcpus",
        "allocated_memory_mb",
        "vm_count",
        "provisioned_vm_count",
        "template_vcpus",
        "template_memory_mb",
        "template_count",
        "unparsable_annotations",
    ] {
        gauges.insert(name, 0.0);
    }
    let mut add = |name, value: f64| *gauges.entry(name).or_default() += value;

    for vm in &inventory.vms {
        let (vcpus, memory) = (f64::from(vm.vcpus), vm.memory_mb as f64);
        add("pool_total_vcpus", vcpus);
        add("pool_total_memory_mb", memory);
        add("pool_total_vm_count", 1.0);

        let raw = vm.annotation.as_deref().unwrap_or("").trim();
        if raw.is_empty() {
            continue;
        }
        let Some(annotation) = cds_annotation(raw) else {
            add("unparsable_annotations", 1.0);
            continue;
        };
        if annotation["hatchery_name"] != hatchery {
            continue;
        }
        if annotation["model"] == true {
            add("template_vcpus", vcpus);
            add("template_memory_mb", memory);
            add("template_count", 1.0);
            continue;
        }
        add("allocated_vcpus", vcpus);
        add("allocated_memory_mb", memory);
        add("vm_count", 1.0);
        if vm.name.starts_with("provision-") {
            add("provisioned_vm_count", 1.0);
        }
        let text = |key: &str| annotation[key].as_str().unwrap_or("").to_owned();
        let worker = workers
            .entry((vm.name.clone(), text("worker_model_path"), text("flavor")))
            .or_default();
        worker.0 += vcpus;
        worker.1 += memory;
    }

    for (name, value) in [
        ("resource_pool_cpu_max_mhz", pool.cpu_mhz.max),
        ("resource_pool_cpu_usage_mhz", pool.cpu_mhz.usage),
        ("resource_pool_cpu_unreserved_mhz", pool.cpu_mhz.unreserved),
        ("resource_pool_memory_max_bytes", pool.memory_bytes.max),
        ("resource_pool_memory_usage_bytes", pool.memory_bytes.usage),
        (
            "resource_pool_memory_unreserved_bytes",
            pool.memory_bytes.unreserved,
        ),
    ] {
        gauges.insert(name, value as f64);
    }

    let mut series: BTreeMap<Series, f64> = gauges
        .into_iter()
        .map(|(name, value)| (Series::new(&format!("{PREFIX}{name}"), &service), value))
        .collect();
    for ((worker, model, flavor), (vcpus, memory)) in workers {
        let labels = [
            service[0],
            service[1],
            ("worker_name", &worker),
            ("worker_model", &model),
            ("flavor", &flavor),
        ];
        series.insert(
            Series::new(&format!("{PREFIX}worker_vcpus"), &labels),
            vcpus,
        );
        series.insert(
            Series::new(&format!("{PREFIX}worker_memory_mb"), &labels),
            memory,
        );
    }
    series
}

/// The annotation as a JSON object when it is one whose read fields have the right types.
fn cds_annotation(raw: &str) -> Option<Value> {
    let value: Value = serde_json::from_str(raw).ok()?;
    let object = value.as_object()?;
    let typed = |key: &str, check: fn(&Value) -> bool| {
        object.get(key).is_none_or(|v| v.is_null() || check(v))
    };
    let ok = typed("hatchery_name", Value::is_string)
        && typed("worker_model_path", Value::is_string)
        && typed("flavor", Value::is_string)
        && typed("model", Value::is_boolean);
    ok.then_some(value)
}

/// The series that depend on the inventory, leaving out the exporter's own health.
pub fn inventory_series(exposition: &Exposition) -> BTreeMap<Series, f64> {
    let health = [
        "up",
        "collect_duration_seconds",
        "last_collect_success_timestamp_seconds",
        "max_vcpus",
        "max_memory_mb",
        "inventory_change_feed",
        "collect_failures_total",
        "vcenter_logins_total",
    ]
    .map(|name| format!("{PREFIX}{name}"));
    exposition
        .samples
        .iter()
        .filter(|(series, _)| !health.contains(&series.name))
        .map(|(series, value)| (series.clone(), *value))
        .collect()
}
