//! End to end on the built-in simulator: the real binary, real HTTP, every series checked
//! against the simulator's own inventory.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly on any unexpected error")]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use adapters::simulator::{Simulator, SimulatorConfig};
use ports::{InventorySource, ResourcePoolSource};
use serde_json::Value;
use support::{Exporter, Exposition, Series, binary, http};

const HATCHERY: &str = "e2e-hatchery";
const PREFIX: &str = "cds_hatchery_vsphere_";

/// Every series the exporter must publish for the simulator's first inventory, computed
/// here from the raw VMs, without the domain crate.
async fn expected_series(vms: usize, seed: u64, service_type: &str) -> BTreeMap<Series, f64> {
    let simulator = Simulator::new(&SimulatorConfig {
        vms,
        seed,
        hatchery_name: HATCHERY.into(),
    });
    let inventory = simulator.inventory().await.unwrap();
    let pool = simulator.resource_pool_runtime().await.unwrap();

    let service = [("service_name", HATCHERY), ("service_type", service_type)];
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
        if annotation["hatchery_name"] != HATCHERY {
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
fn inventory_series(exposition: &Exposition) -> BTreeMap<Series, f64> {
    let health = [
        "up",
        "collect_duration_seconds",
        "last_collect_success_timestamp_seconds",
        "max_vcpus",
        "max_memory_mb",
    ]
    .map(|name| format!("{PREFIX}{name}"));
    exposition
        .samples
        .iter()
        .filter(|(series, _)| !health.contains(&series.name))
        .map(|(series, value)| (series.clone(), *value))
        .collect()
}

fn is_up(exposition: &Exposition) -> bool {
    exposition.single(&format!("{PREFIX}up")) == Some(1.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_series_matches_the_simulators_inventory() {
    let expected = expected_series(300, 42, "hatchery").await;
    let mut exporter = Exporter::start(
        &[
            "--hatchery-name",
            HATCHERY,
            "--interval",
            "1h",
            "--simulator-vms",
            "300",
            "--simulator-seed",
            "42",
            "--max-cpus",
            "64",
            "--max-memory-mb",
            "131072",
        ],
        &[],
    );

    let exposition = exporter.scrape_until(Duration::from_secs(10), is_up);

    assert_eq!(inventory_series(&exposition), expected);
    let service = [("service_name", HATCHERY), ("service_type", "hatchery")];
    assert_eq!(
        exposition.value(&format!("{PREFIX}max_vcpus"), &service),
        Some(64.0)
    );
    assert_eq!(
        exposition.value(&format!("{PREFIX}max_memory_mb"), &service),
        Some(131_072.0)
    );
    let duration = exposition
        .value(&format!("{PREFIX}collect_duration_seconds"), &service)
        .unwrap();
    assert!((0.0..10.0).contains(&duration));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last = exposition
        .value(
            &format!("{PREFIX}last_collect_success_timestamp_seconds"),
            &service,
        )
        .unwrap();
    assert!((now - 60.0..=now).contains(&last), "{last} vs {now}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_family_has_help_and_gauge_type() {
    let mut exporter = Exporter::start(&["--interval", "1h"], &[]);

    let exposition = exporter.scrape_until(Duration::from_secs(10), is_up);

    let families: std::collections::BTreeSet<_> =
        exposition.samples.keys().map(|s| s.name.clone()).collect();
    assert_eq!(families.len(), 24);
    for name in families {
        assert!(
            exposition.help.get(&name).is_some_and(|h| !h.is_empty()),
            "{name}"
        );
        assert_eq!(
            exposition.types.get(&name).map(String::as_str),
            Some("gauge"),
            "{name}"
        );
    }
}

#[test]
fn options_come_from_the_environment_too() {
    let mut exporter = Exporter::start(
        &["--interval", "1h"],
        &[
            ("CDS_VSPHERE_EXPORTER_HATCHERY_NAME", "from-env"),
            ("CDS_VSPHERE_EXPORTER_SERVICE_TYPE", "custom"),
        ],
    );

    let exposition = exporter.scrape_until(Duration::from_secs(10), is_up);

    let labels = [("service_name", "from-env"), ("service_type", "custom")];
    assert_eq!(exposition.value(&format!("{PREFIX}up"), &labels), Some(1.0));
    assert!(
        exposition
            .value(&format!("{PREFIX}vm_count"), &labels)
            .unwrap()
            > 0.0
    );
}

#[test]
fn workers_come_and_go_and_their_series_follow() {
    let mut exporter = Exporter::start(&["--interval", "200ms", "--simulator-vms", "100"], &[]);
    let workers = |e: &Exposition| -> Vec<Series> {
        e.family(&format!("{PREFIX}worker_vcpus"))
            .into_iter()
            .map(|(s, _)| s.clone())
            .collect()
    };
    let first = workers(&exporter.scrape_until(Duration::from_secs(10), is_up));

    let later = exporter.scrape_until(Duration::from_secs(20), |e| {
        !workers(e).is_empty() && workers(e) != first
    });

    let sum: f64 = later
        .family(&format!("{PREFIX}worker_vcpus"))
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(Some(sum), later.single(&format!("{PREFIX}allocated_vcpus")));
    let count = later.single(&format!("{PREFIX}vm_count")).unwrap();
    assert_eq!(workers(&later).len() as f64, count);
}

#[test]
fn only_get_on_the_metrics_path_is_served() {
    let exporter = Exporter::start(&["--interval", "1h"], &[]);

    assert_eq!(http(&exporter.url("/mon/metrics"), "POST").0, 405);
    assert_eq!(http(&exporter.url("/metrics"), "GET").0, 404);
    assert_eq!(http(&exporter.url("/"), "GET").0, 404);
}

#[test]
fn sigterm_and_sigint_stop_it_cleanly() {
    for signal in ["TERM", "INT"] {
        let mut exporter = Exporter::start(&["--interval", "1h"], &[]);
        exporter.scrape_until(Duration::from_secs(10), is_up);

        let status = exporter.stop(signal, Duration::from_secs(5));

        assert!(status.success(), "{signal}: {status:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn once_prints_the_exposition_and_exits_zero() {
    let output = binary()
        .args([
            "--once",
            "--hatchery-name",
            HATCHERY,
            "--simulator-vms",
            "40",
            "--simulator-seed",
            "3",
            "--service-type",
            "hatchery",
        ])
        .output()
        .unwrap();

    assert!(output.status.success(), "{output:?}");
    let exposition = Exposition::parse(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(
        inventory_series(&exposition),
        expected_series(40, 3, "hatchery").await
    );
}

#[test]
fn a_bad_option_exits_2_and_names_it() {
    let cases: [(&[&str], &str); 4] = [
        (&["--interval", "0s"], "--interval"),
        (&["--interval", "often"], "--interval"),
        (&["--listen", "nowhere"], "--listen"),
        (&["--frobnicate"], "--frobnicate"),
    ];

    for (args, option) in cases {
        let output = binary().args(args).output().unwrap();

        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(option), "{args:?}: {stderr}");
    }
}

#[test]
fn a_bad_configuration_file_exits_2_and_names_the_key() {
    let dir = std::env::temp_dir().join(format!("cds-vsphere-exporter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "listen = \"127.0.0.1:0\"\nmax_vcpu = 3\n").unwrap();

    let output = binary()
        .args(["--config", path.to_str().unwrap()])
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("max_vcpu"), "{stderr}");
}
