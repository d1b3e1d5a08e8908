//! Exposition tests: exact lines for a known snapshot.

use std::io::Read;
use std::sync::Arc;

use domain::{
    HatcheryUsage, Limits, PoolUsage, ResourcePoolRuntime, ResourceUsage, Snapshot, Usage,
    WorkerLabels, WorkerUsage,
};
use ports::{CollectionHealth, MetricSink, Publication, Stage, Tracking};

use super::*;

const SERVICE: &str = r#"service_name="h1",service_type="hatchery""#;

fn sink() -> PrometheusSink {
    PrometheusSink::new(ServiceLabels {
        name: "h1".into(),
        kind: "hatchery".into(),
    })
}

fn worker(name: &str, flavor: &str, vcpus: u64, memory_mb: u64) -> WorkerUsage {
    WorkerUsage {
        labels: WorkerLabels {
            worker_name: name.into(),
            worker_model: "shared/debian".into(),
            flavor: flavor.into(),
        },
        usage: Usage { vcpus, memory_mb },
    }
}

fn snapshot() -> Snapshot {
    Snapshot {
        workers: vec![worker("w1", "b2-7", 2, 2048), worker("w2", "", 4, 8192)],
        hatchery: HatcheryUsage {
            allocated: Usage {
                vcpus: 6,
                memory_mb: 10240,
            },
            vm_count: 2,
            provisioned_vm_count: 1,
            templates: Usage {
                vcpus: 1,
                memory_mb: 512,
            },
            template_count: 1,
        },
        pool: PoolUsage {
            total: Usage {
                vcpus: 20,
                memory_mb: 40960,
            },
            vm_count: 9,
        },
        resource_pool: Some(ResourcePoolRuntime {
            cpu_mhz: ResourceUsage {
                max: 4121,
                usage: 1200,
                unreserved: 3000,
            },
            memory_bytes: ResourceUsage {
                max: 1_007_681_536,
                usage: 5,
                unreserved: 6,
            },
        }),
        limits: Limits {
            max_vcpus: 64,
            max_memory_mb: 0,
        },
        unparsable_annotations: 3,
    }
}

fn healthy() -> CollectionHealth {
    CollectionHealth {
        up: true,
        duration_seconds: 0.25,
        last_success_unix_seconds: Some(1_700_000_000.0),
        tracking: Tracking::ChangeFeed,
        failures: [
            ((Stage::Inventory, "NotAuthenticated".to_owned()), 2),
            ((Stage::ResourcePool, "timeout".to_owned()), 1),
        ]
        .into(),
        logins: 3,
    }
}

fn publication(snapshot: Option<Snapshot>) -> Publication {
    Publication {
        snapshot: snapshot.map(Arc::new),
        health: healthy(),
    }
}

async fn render(snapshot: Option<Snapshot>, health: CollectionHealth) -> String {
    let sink = sink();
    let snapshot = snapshot.map(Arc::new);
    sink.publish(Publication { snapshot, health }).await;
    text(&sink)
}

fn text(sink: &PrometheusSink) -> String {
    String::from_utf8(
        sink.render(Format::Text, Encoding::Identity)
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

fn samples(text: &str) -> Vec<&str> {
    text.lines().filter(|line| !line.starts_with('#')).collect()
}

#[tokio::test]
async fn renders_every_gauge_of_a_snapshot() {
    let text = render(Some(snapshot()), healthy()).await;

    let expected = [
        format!("cds_hatchery_vsphere_allocated_memory_mb{{{SERVICE}}} 10240"),
        format!("cds_hatchery_vsphere_allocated_vcpus{{{SERVICE}}} 6"),
        format!("cds_hatchery_vsphere_collect_duration_seconds{{{SERVICE}}} 0.25"),
        format!(
            "cds_hatchery_vsphere_collect_failures_total{{{SERVICE},stage=\"inventory\",reason=\"NotAuthenticated\"}} 2"
        ),
        format!(
            "cds_hatchery_vsphere_collect_failures_total{{{SERVICE},stage=\"resource_pool\",reason=\"timeout\"}} 1"
        ),
        format!("cds_hatchery_vsphere_inventory_change_feed{{{SERVICE}}} 1"),
        format!(
            "cds_hatchery_vsphere_last_collect_success_timestamp_seconds{{{SERVICE}}} 1700000000"
        ),
        format!("cds_hatchery_vsphere_max_memory_mb{{{SERVICE}}} 0"),
        format!("cds_hatchery_vsphere_max_vcpus{{{SERVICE}}} 64"),
        format!("cds_hatchery_vsphere_pool_total_memory_mb{{{SERVICE}}} 40960"),
        format!("cds_hatchery_vsphere_pool_total_vcpus{{{SERVICE}}} 20"),
        format!("cds_hatchery_vsphere_pool_total_vm_count{{{SERVICE}}} 9"),
        format!("cds_hatchery_vsphere_provisioned_vm_count{{{SERVICE}}} 1"),
        format!("cds_hatchery_vsphere_resource_pool_cpu_max_mhz{{{SERVICE}}} 4121"),
        format!("cds_hatchery_vsphere_resource_pool_cpu_unreserved_mhz{{{SERVICE}}} 3000"),
        format!("cds_hatchery_vsphere_resource_pool_cpu_usage_mhz{{{SERVICE}}} 1200"),
        format!("cds_hatchery_vsphere_resource_pool_memory_max_bytes{{{SERVICE}}} 1007681536"),
        format!("cds_hatchery_vsphere_resource_pool_memory_unreserved_bytes{{{SERVICE}}} 6"),
        format!("cds_hatchery_vsphere_resource_pool_memory_usage_bytes{{{SERVICE}}} 5"),
        format!("cds_hatchery_vsphere_template_count{{{SERVICE}}} 1"),
        format!("cds_hatchery_vsphere_template_memory_mb{{{SERVICE}}} 512"),
        format!("cds_hatchery_vsphere_template_vcpus{{{SERVICE}}} 1"),
        format!("cds_hatchery_vsphere_unparsable_annotations{{{SERVICE}}} 3"),
        format!("cds_hatchery_vsphere_up{{{SERVICE}}} 1"),
        format!("cds_hatchery_vsphere_vcenter_logins_total{{{SERVICE}}} 3"),
        format!("cds_hatchery_vsphere_vm_count{{{SERVICE}}} 2"),
        format!(
            "cds_hatchery_vsphere_worker_memory_mb{{{SERVICE},worker_name=\"w1\",worker_model=\"shared/debian\",flavor=\"b2-7\"}} 2048"
        ),
        format!(
            "cds_hatchery_vsphere_worker_memory_mb{{{SERVICE},worker_name=\"w2\",worker_model=\"shared/debian\",flavor=\"\"}} 8192"
        ),
        format!(
            "cds_hatchery_vsphere_worker_vcpus{{{SERVICE},worker_name=\"w1\",worker_model=\"shared/debian\",flavor=\"b2-7\"}} 2"
        ),
        format!(
            "cds_hatchery_vsphere_worker_vcpus{{{SERVICE},worker_name=\"w2\",worker_model=\"shared/debian\",flavor=\"\"}} 4"
        ),
    ];
    assert_eq!(samples(&text), expected);
}

#[tokio::test]
async fn every_family_has_help_and_a_gauge_type() {
    let text = render(Some(snapshot()), healthy()).await;

    assert!(text.contains(
        "# HELP cds_hatchery_vsphere_up 1 when the last collection read the inventory, 0 when it failed.\n\
         # TYPE cds_hatchery_vsphere_up gauge\n"
    ));
    let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
    let gauges = text
        .lines()
        .filter(|l| l.starts_with("# TYPE ") && l.ends_with(" gauge"));
    let counters = text
        .lines()
        .filter(|l| l.starts_with("# TYPE ") && l.ends_with(" counter"));
    assert_eq!((helps, gauges.count(), counters.count()), (27, 25, 2));
}

#[tokio::test]
async fn an_unknown_resource_pool_is_absent_not_zero() {
    let snapshot = Snapshot {
        resource_pool: None,
        ..snapshot()
    };

    let text = render(Some(snapshot), healthy()).await;

    assert!(!text.contains("resource_pool_"));
    assert!(text.contains(&format!(
        "cds_hatchery_vsphere_pool_total_vcpus{{{SERVICE}}} 20"
    )));
}

#[tokio::test]
async fn without_a_snapshot_only_the_health_gauges_remain() {
    let health = CollectionHealth {
        up: false,
        duration_seconds: 1.5,
        last_success_unix_seconds: None,
        tracking: Tracking::Polling,
        ..Default::default()
    };

    let text = render(None, health).await;

    assert_eq!(
        samples(&text),
        [
            format!("cds_hatchery_vsphere_collect_duration_seconds{{{SERVICE}}} 1.5"),
            format!("cds_hatchery_vsphere_inventory_change_feed{{{SERVICE}}} 0"),
            format!("cds_hatchery_vsphere_up{{{SERVICE}}} 0"),
            format!("cds_hatchery_vsphere_vcenter_logins_total{{{SERVICE}}} 0"),
        ]
    );
}

#[tokio::test]
async fn a_worker_gone_from_the_next_snapshot_loses_its_series() {
    let sink = sink();
    sink.publish(publication(Some(snapshot()))).await;
    assert!(text(&sink).contains("worker_name=\"w2\""));
    assert!(
        text(&sink).contains("worker_name=\"w2\""),
        "the cached exposition is the same"
    );

    let mut next = snapshot();
    next.workers.truncate(1);
    sink.publish(publication(Some(next))).await;

    let text = text(&sink);
    assert!(text.contains("worker_name=\"w1\""));
    assert!(!text.contains("worker_name=\"w2\""));
}

#[tokio::test]
async fn label_values_are_escaped() {
    let mut snapshot = snapshot();
    snapshot.workers = vec![worker("w\"1\\\n", "é😀", 1, 1)];

    let text = render(Some(snapshot), healthy()).await;

    assert!(
        text.contains(r#"worker_name="w\"1\\\n",worker_model="shared/debian",flavor="é😀"} 1"#)
    );
}

#[tokio::test]
async fn openmetrics_is_the_same_exposition_closed_by_eof() {
    let sink = sink();
    sink.publish(publication(Some(snapshot()))).await;

    let text = sink.render(Format::Text, Encoding::Identity).unwrap();
    let openmetrics = sink
        .render(Format::OpenMetrics, Encoding::Identity)
        .unwrap();

    assert_eq!(&openmetrics[..text.len()], &text[..]);
    assert_eq!(&openmetrics[text.len()..], b"# EOF\n");
}

#[tokio::test]
async fn a_scrape_before_any_publication_shows_the_exporter_down() {
    let text = text(&sink());

    assert_eq!(
        samples(&text),
        [
            format!("cds_hatchery_vsphere_collect_duration_seconds{{{SERVICE}}} 0"),
            format!("cds_hatchery_vsphere_inventory_change_feed{{{SERVICE}}} 0"),
            format!("cds_hatchery_vsphere_up{{{SERVICE}}} 0"),
            format!("cds_hatchery_vsphere_vcenter_logins_total{{{SERVICE}}} 0"),
        ]
    );
}

#[tokio::test]
async fn scrapes_between_publications_share_one_encoding() {
    let sink = sink();
    sink.publish(publication(Some(snapshot()))).await;

    let first = sink.render(Format::Text, Encoding::Identity).unwrap();
    let second = sink.render(Format::Text, Encoding::Identity).unwrap();
    sink.publish(publication(None)).await;
    let after = sink.render(Format::Text, Encoding::Identity).unwrap();

    assert_eq!(
        first.as_ptr(),
        second.as_ptr(),
        "the same buffer, not a new encoding"
    );
    assert_ne!(after, first, "a publication makes a new one");
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut plain)
        .expect("valid gzip");
    plain
}

#[tokio::test]
async fn a_compressed_exposition_is_the_same_once_uncompressed() {
    let sink = sink();
    sink.publish(publication(Some(snapshot()))).await;

    for format in [Format::Text, Format::OpenMetrics] {
        let plain = sink.render(format, Encoding::Identity).unwrap();
        let gzip = sink.render(format, Encoding::Gzip).unwrap();

        assert_eq!(&gzip[..2], [0x1f, 0x8b], "{format:?}: gzip's magic number");
        assert_eq!(gunzip(&gzip), plain, "{format:?}");
    }
}

#[tokio::test]
async fn scrapes_between_publications_share_one_compression() {
    let sink = sink();
    sink.publish(publication(Some(snapshot()))).await;

    let first = sink.render(Format::OpenMetrics, Encoding::Gzip).unwrap();
    let second = sink.render(Format::OpenMetrics, Encoding::Gzip).unwrap();
    sink.publish(publication(None)).await;
    let after = sink.render(Format::OpenMetrics, Encoding::Gzip).unwrap();

    assert_eq!(first.as_ptr(), second.as_ptr(), "compressed once");
    assert_ne!(
        gunzip(&after),
        gunzip(&first),
        "a publication makes a new one"
    );
}

#[tokio::test]
async fn a_publication_is_encoded_ahead_and_compressed_as_scrapers_asked() {
    let sink = sink();
    sink.publish(publication(Some(snapshot()))).await;
    let first = sink.cache.lock().unwrap().clone();
    let first = first.expect("encoded by the publication");
    assert!(
        first.compressed().is_empty(),
        "no scraper has asked for gzip yet"
    );

    sink.render(Format::OpenMetrics, Encoding::Gzip).unwrap();
    sink.publish(publication(None)).await;

    let kept = sink.cache.lock().unwrap().clone();
    let kept = kept.expect("encoded by the publication");
    assert_eq!(kept.generation, sink.generation.load(Ordering::Acquire));
    assert_eq!(
        kept.compressed(),
        [Format::OpenMetrics],
        "what was asked compressed"
    );
    let compressed = kept.openmetrics_gzip.get().expect("compressed ahead");
    let scraped = sink.render(Format::OpenMetrics, Encoding::Gzip).unwrap();
    assert_eq!(
        scraped.as_ptr(),
        compressed.as_ptr(),
        "the scrape sends what was kept"
    );
    let plain = sink
        .render(Format::OpenMetrics, Encoding::Identity)
        .unwrap();
    assert_eq!(gunzip(&scraped), plain);
}

/// While a publication is encoded, scrapes get the previous exposition: none waits for
/// the encoding, and none makes a second one. The scraper notes when the new publication
/// was already stored as it scraped; every buffer it got must be one of the two kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_during_an_encoding_get_the_previous_exposition() {
    use std::sync::atomic::AtomicBool;

    let sink = sink();
    sink.publish(publication(Some(snapshot()))).await;
    let before = sink.render(Format::Text, Encoding::Identity).unwrap();
    let workers = (0..10_000)
        .map(|i| worker(&format!("w{i}"), "b2-7", 2, 2048))
        .collect();
    let large = Snapshot {
        workers,
        ..snapshot()
    };

    let publishing = Arc::new(AtomicBool::new(true));
    let scraper = std::thread::spawn({
        let (sink, publishing) = (sink.clone(), Arc::clone(&publishing));
        move || {
            let mut scraped = Vec::new();
            while publishing.load(Ordering::Acquire) {
                let stored = sink.latest.read().unwrap().snapshot.clone();
                let stored_large = stored.is_some_and(|s| s.workers.len() == 10_000);
                let buffer = sink.render(Format::Text, Encoding::Identity).unwrap();
                scraped.push((stored_large, buffer));
            }
            scraped
        }
    });
    sink.publish(publication(Some(large))).await;
    publishing.store(false, Ordering::Release);
    let scraped = scraper.join().unwrap();
    let after = sink.render(Format::Text, Encoding::Identity).unwrap();

    let kept = [before.as_ptr(), after.as_ptr()];
    assert!(
        scraped
            .iter()
            .all(|(_, buffer)| kept.contains(&buffer.as_ptr())),
        "a scrape encoded the publication a second time"
    );
    let during = scraped
        .iter()
        .filter(|(stored_large, buffer)| *stored_large && buffer.as_ptr() == before.as_ptr())
        .count();
    assert!(during > 0, "no scrape fell within the encoding");
}
