//! The exporter in the Prometheus world, with the real tools: `promtool check metrics` on
//! the exposition, a real Prometheus server scraping it and answering the queries of the
//! specification, the shipped rules and every query of the shipped Grafana dashboard.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly on any unexpected error"
)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::expectations::{PREFIX, expected_series};
use support::{Exporter, Series, http, http_get, promtool};

const HATCHERY: &str = "prom-hatchery";
const VMS: usize = 300;
const SEED: u64 = 7;
const MAX_VCPUS: f64 = 2_000.0;
const MAX_MEMORY_MB: f64 = 4_000_000.0;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is not installed: `apt-get install prometheus` (.ci/run does it)"
    );
    Command::new(name)
}

fn start_exporter() -> Exporter {
    let mut exporter = Exporter::start(
        &[
            "--hatchery-name",
            HATCHERY,
            "--interval",
            "1h",
            "--simulator-vms",
            "300",
            "--simulator-seed",
            "7",
            "--max-cpus",
            "2000",
            "--max-memory-mb",
            "4000000",
        ],
        &[],
    );
    exporter.scrape_until(Duration::from_secs(10), |e| {
        e.single(&format!("{PREFIX}up")) == Some(1.0)
    });
    exporter
}

#[test]
fn promtool_finds_only_the_specified_names_to_remark_on() {
    let exporter = start_exporter();
    let exposition = http_get(&exporter.url("/mon/metrics"));

    let remarks = promtool::remarks(&exposition);

    assert_eq!(remarks, promtool::NAMING_REMARKS);
}

#[test]
fn promtool_passes_the_shipped_rules_and_their_unit_tests() {
    let rules = repository().join("docs/prometheus");

    let check = tool("promtool")
        .args([
            "check",
            "rules",
            "recording-rules.yml",
            "alerting-rules.yml",
        ])
        .current_dir(&rules)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    let test = tool("promtool")
        .args([
            "test",
            "rules",
            "tests/recording.test.yml",
            "tests/alerting.test.yml",
        ])
        .current_dir(&rules)
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "{}",
        String::from_utf8_lossy(&test.stdout)
    );
}

/// A Prometheus server scraping the exporter every second, killed when dropped.
struct Prometheus {
    child: Child,
    address: String,
    _data: tempfile::TempDir,
}

impl Prometheus {
    fn start(exporter: &Exporter) -> Prometheus {
        let data = tempfile::tempdir().unwrap();
        let rules = repository().join("docs/prometheus");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {recording}\n  - {alerting}\n\
             scrape_configs:\n  - job_name: cds-vsphere-exporter\n    metrics_path: /mon/metrics\n\
             \x20   static_configs:\n      - targets: ['{target}']\n",
            recording = rules.join("recording-rules.yml").display(),
            alerting = rules.join("alerting-rules.yml").display(),
            target = exporter.address,
        );
        let config_path = data.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let address = format!("127.0.0.1:{}", free_port());

        let child = tool("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                data.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Prometheus {
            child,
            address,
            _data: data,
        }
    }

    /// An instant query; the vector of (labels, value) it answers.
    fn query(&self, expr: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let query: String =
            percent_encoding::utf8_percent_encode(expr, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let (status, body) = http(
            &format!("http://{}/api/v1/query?query={query}", self.address),
            "GET",
        );
        assert_eq!(status, 200, "{expr}: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["status"], "success", "{expr}: {body}");

        answer["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|sample| {
                let labels = serde_json::from_value(sample["metric"].clone()).unwrap();
                let value = sample["value"][1].as_str().unwrap().parse().unwrap();
                (labels, value)
            })
            .collect()
    }

    /// Waits until `expr` answers at least one sample.
    fn wait_for(&self, expr: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let ready = std::net::TcpStream::connect(&self.address).is_ok() && {
                let (status, _) = http(&format!("http://{}/-/ready", self.address), "GET");
                status == 200 && !self.query(expr).is_empty()
            };
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus has no {expr} after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The one value `expr` answers.
    fn value(&self, expr: &str) -> f64 {
        match self.query(expr).as_slice() {
            [(_, value)] => *value,
            other => panic!("{expr} answered {other:?}"),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The expected value of a gauge of the simulator's inventory.
fn gauge(expected: &BTreeMap<Series, f64>, suffix: &str) -> f64 {
    let labels = [("service_name", HATCHERY), ("service_type", "hatchery")];
    expected[&Series::new(&format!("{PREFIX}{suffix}"), &labels)]
}

fn assert_close(expr: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{expr}: got {got}, want {want}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_answers_the_queries_of_the_specification() {
    let expected = expected_series(HATCHERY, VMS, SEED, "hatchery").await;
    let g = |suffix| gauge(&expected, suffix);
    let exporter = start_exporter();
    let prometheus = Prometheus::start(&exporter);
    prometheus.wait_for("cds_hatchery_vsphere_up == 1", Duration::from_secs(60));

    let queries = [
        (
            "cds_hatchery_vsphere_allocated_vcpus / cds_hatchery_vsphere_max_vcpus",
            g("allocated_vcpus") / MAX_VCPUS,
        ),
        (
            "cds_hatchery_vsphere_vm_count - cds_hatchery_vsphere_provisioned_vm_count",
            g("vm_count") - g("provisioned_vm_count"),
        ),
        (
            "cds_hatchery_vsphere_vm_count / cds_hatchery_vsphere_pool_total_vm_count",
            g("vm_count") / g("pool_total_vm_count"),
        ),
        (
            "cds_hatchery_vsphere_allocated_vcpus / cds_hatchery_vsphere_pool_total_vcpus",
            g("allocated_vcpus") / g("pool_total_vcpus"),
        ),
        (
            "cds_hatchery_vsphere_pool_total_vcpus - cds_hatchery_vsphere_allocated_vcpus - cds_hatchery_vsphere_template_vcpus",
            g("pool_total_vcpus") - g("allocated_vcpus") - g("template_vcpus"),
        ),
        (
            "cds_hatchery_vsphere_resource_pool_memory_usage_bytes / cds_hatchery_vsphere_resource_pool_memory_max_bytes * 100",
            g("resource_pool_memory_usage_bytes") / g("resource_pool_memory_max_bytes") * 100.0,
        ),
        (
            "cds_hatchery_vsphere_allocated_memory_mb / cds_hatchery_vsphere_max_memory_mb",
            g("allocated_memory_mb") / MAX_MEMORY_MB,
        ),
    ];
    for (expr, want) in queries {
        assert_close(expr, prometheus.value(expr), want);
    }

    let alert = "cds_hatchery_vsphere_resource_pool_memory_unreserved_bytes / cds_hatchery_vsphere_resource_pool_memory_max_bytes < 0.2";
    let ratio = g("resource_pool_memory_unreserved_bytes") / g("resource_pool_memory_max_bytes");
    let firing = prometheus.query(alert);
    assert_eq!(
        firing.len(),
        usize::from(ratio < 0.2),
        "{alert}: {firing:?} for a ratio of {ratio}"
    );
    assert!(
        !prometheus.query("cds_hatchery_vsphere_resource_pool_memory_unreserved_bytes / cds_hatchery_vsphere_resource_pool_memory_max_bytes < 0.8").is_empty(),
        "the same expression with a threshold above the ratio ({ratio}) answers"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_records_the_shipped_ratios() {
    let expected = expected_series(HATCHERY, VMS, SEED, "hatchery").await;
    let g = |suffix| gauge(&expected, suffix);
    let exporter = start_exporter();
    let prometheus = Prometheus::start(&exporter);
    prometheus.wait_for(
        "cds_hatchery_vsphere:resource_pool_cpu_unreserved:ratio",
        Duration::from_secs(60),
    );

    let recorded = [
        (
            "cds_hatchery_vsphere:allocated_vcpus:ratio_max",
            g("allocated_vcpus") / MAX_VCPUS,
        ),
        (
            "cds_hatchery_vsphere:allocated_memory_mb:ratio_max",
            g("allocated_memory_mb") / MAX_MEMORY_MB,
        ),
        (
            "cds_hatchery_vsphere:vm_count:not_provisioned",
            g("vm_count") - g("provisioned_vm_count"),
        ),
        (
            "cds_hatchery_vsphere:vm_count:ratio_pool",
            g("vm_count") / g("pool_total_vm_count"),
        ),
        (
            "cds_hatchery_vsphere:allocated_vcpus:ratio_pool",
            g("allocated_vcpus") / g("pool_total_vcpus"),
        ),
        (
            "cds_hatchery_vsphere:pool_vcpus:others",
            g("pool_total_vcpus") - g("allocated_vcpus") - g("template_vcpus"),
        ),
        (
            "cds_hatchery_vsphere:resource_pool_memory_usage:percent",
            g("resource_pool_memory_usage_bytes") / g("resource_pool_memory_max_bytes") * 100.0,
        ),
        (
            "cds_hatchery_vsphere:resource_pool_memory_unreserved:ratio",
            g("resource_pool_memory_unreserved_bytes") / g("resource_pool_memory_max_bytes"),
        ),
        (
            "cds_hatchery_vsphere:resource_pool_cpu_usage:percent",
            g("resource_pool_cpu_usage_mhz") / g("resource_pool_cpu_max_mhz") * 100.0,
        ),
        (
            "cds_hatchery_vsphere:resource_pool_cpu_unreserved:ratio",
            g("resource_pool_cpu_unreserved_mhz") / g("resource_pool_cpu_max_mhz"),
        ),
    ];
    for (record, want) in recorded {
        prometheus.wait_for(record, Duration::from_secs(10));
        assert_close(record, prometheus.value(record), want);
    }
}

#[test]
fn every_query_of_the_dashboard_answers() {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repository().join("docs/grafana/cds-vsphere-hatchery.json"))
            .unwrap(),
    )
    .unwrap();
    let exporter = start_exporter();
    let prometheus = Prometheus::start(&exporter);
    prometheus.wait_for("cds_hatchery_vsphere_up == 1", Duration::from_secs(60));

    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 20, "{} queries", queries.len());
    for (panel, expr) in queries {
        let expr = expr.replace("$service_name", HATCHERY);
        assert!(
            !prometheus.query(&expr).is_empty(),
            "panel {panel:?}: {expr} answers nothing"
        );
    }
}

/// Every (panel title, query) of the dashboard's panels.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    let panels = dashboard["panels"].as_array().unwrap();
    panels
        .iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or_default().to_owned();
            let targets = panel["targets"].as_array().cloned().unwrap_or_default();
            targets
                .into_iter()
                .map(move |target| (title.clone(), target["expr"].as_str().unwrap().to_owned()))
        })
        .collect()
}
