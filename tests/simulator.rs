//! End to end on the built-in simulator: the real binary, real HTTP, every series checked
//! against the simulator's own inventory.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly on any unexpected error"
)]

mod support;

use std::io::Read;
use std::time::Duration;

use support::expectations::{PREFIX, expected_series, inventory_series};
use support::{Exporter, Exposition, Series, binary, http, http_with};

const HATCHERY: &str = "e2e-hatchery";

fn is_up(exposition: &Exposition) -> bool {
    exposition.single(&format!("{PREFIX}up")) == Some(1.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_series_matches_the_simulators_inventory() {
    let expected = expected_series(HATCHERY, 300, 42, "hatchery").await;
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
async fn every_family_has_help_and_a_type() {
    let mut exporter = Exporter::start(&["--interval", "1h"], &[]);

    let exposition = exporter.scrape_until(Duration::from_secs(10), is_up);

    let families: std::collections::BTreeSet<_> =
        exposition.samples.keys().map(|s| s.name.clone()).collect();
    // Every family but the failure counter, which has no series before a failure.
    assert_eq!(families.len(), 26);
    for name in families {
        assert!(
            exposition.help.get(&name).is_some_and(|h| !h.is_empty()),
            "{name}"
        );
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        assert_eq!(
            exposition.types.get(&name).map(String::as_str),
            Some(kind),
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
fn a_scraper_that_accepts_gzip_gets_the_same_exposition_compressed() {
    let mut exporter = Exporter::start(&["--interval", "1h"], &[]);
    let url = exporter.url("/mon/metrics");
    exporter.scrape_until(Duration::from_secs(10), is_up);

    let gzip = http_with(&url, "GET", &[("Accept-Encoding", "gzip")]);
    let plain = http_with(&url, "GET", &[]);

    assert_eq!(gzip.status, 200);
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    assert_eq!(plain.header("content-encoding"), None);
    for answer in [&gzip, &plain] {
        assert_eq!(answer.header("vary"), Some("accept-encoding"));
    }
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&gzip.body[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped.as_bytes(), plain.body);
    assert!(gzip.body.len() * 4 < plain.body.len(), "compressed");
    assert!(is_up(&Exposition::parse(&unzipped)));
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
        expected_series(HATCHERY, 40, 3, "hatchery").await
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
