//! A `prometheus` collector that turns the latest publication into metric families.

use std::sync::{Arc, RwLock};

use ::prometheus::core::{Collector, Desc};
use ::prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use domain::{Snapshot, WorkerLabels};
use ports::{CollectionHealth, Publication};

use super::families::{FAMILIES, Family, Kind, Source};
use super::{NAMESPACE, ServiceLabels};

const SERVICE_LABELS: [&str; 2] = ["service_name", "service_type"];
const WORKER_LABELS: [&str; 3] = ["worker_name", "worker_model", "flavor"];
const FAILURE_LABELS: [&str; 2] = ["stage", "reason"];

pub(super) struct SnapshotCollector {
    service: ServiceLabels,
    latest: Arc<RwLock<Publication>>,
    descs: Vec<Desc>,
}

impl SnapshotCollector {
    pub(super) fn new(service: ServiceLabels, latest: Arc<RwLock<Publication>>) -> Self {
        let descs = FAMILIES.iter().map(describe).collect();

        Self {
            service,
            latest,
            descs,
        }
    }

    fn family(&self, family: &Family, publication: &Publication) -> MetricFamily {
        let metrics = samples(family.source, publication)
            .into_iter()
            .map(|(value, labels)| self.metric(family.kind, value, labels))
            .collect();

        let mut out = MetricFamily::default();
        out.set_name(full_name(family));
        out.set_help(family.help.to_owned());
        out.set_field_type(match family.kind {
            Kind::Gauge => MetricType::GAUGE,
            Kind::Counter => MetricType::COUNTER,
        });
        out.set_metric(metrics);
        out
    }

    /// A sample with the service labels before `extra` ones.
    fn metric(&self, kind: Kind, value: f64, extra: Vec<LabelPair>) -> Metric {
        let mut labels = vec![
            label(SERVICE_LABELS[0], &self.service.name),
            label(SERVICE_LABELS[1], &self.service.kind),
        ];
        labels.extend(extra);

        let mut metric = Metric::from_label(labels);
        match kind {
            Kind::Gauge => {
                let mut gauge = Gauge::default();
                gauge.set_value(value);
                metric.set_gauge(gauge);
            }
            Kind::Counter => {
                let mut counter = Counter::default();
                counter.set_value(value);
                metric.set_counter(counter);
            }
        }
        metric
    }
}

/// The values of one family in `publication`, each with its labels beyond the service's;
/// none when the values are unknown.
fn samples(source: Source, publication: &Publication) -> Vec<(f64, Vec<LabelPair>)> {
    let snapshot = publication.snapshot.as_deref();
    match (source, snapshot) {
        (Source::Worker(value), Some(snapshot)) => workers(snapshot, value),
        (Source::Snapshot(value), Some(snapshot)) => vec![(value(snapshot) as f64, Vec::new())],
        (Source::ResourcePool(value), Some(snapshot)) => snapshot
            .resource_pool
            .iter()
            .map(|runtime| (value(runtime) as f64, Vec::new()))
            .collect(),
        (Source::Health(value), _) => value(&publication.health)
            .map(|v| (v, Vec::new()))
            .into_iter()
            .collect(),
        (Source::Failures, _) => failures(&publication.health),
        (_, None) => Vec::new(),
    }
}

fn workers(snapshot: &Snapshot, value: fn(&domain::Usage) -> u64) -> Vec<(f64, Vec<LabelPair>)> {
    snapshot
        .workers
        .iter()
        .map(|worker| {
            (
                value(&worker.usage) as f64,
                worker_labels(&worker.labels).into(),
            )
        })
        .collect()
}

fn failures(health: &CollectionHealth) -> Vec<(f64, Vec<LabelPair>)> {
    health
        .failures
        .iter()
        .map(|((stage, reason), count)| {
            let labels = vec![
                label(FAILURE_LABELS[0], stage.as_str()),
                label(FAILURE_LABELS[1], reason),
            ];
            (*count as f64, labels)
        })
        .collect()
}

impl Collector for SnapshotCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let publication = self.latest.read().unwrap_or_else(|e| e.into_inner());

        FAMILIES
            .iter()
            .map(|family| self.family(family, &publication))
            .collect()
    }
}

fn describe(family: &Family) -> Desc {
    let mut labels: Vec<String> = SERVICE_LABELS.iter().map(|l| l.to_string()).collect();
    match family.source {
        Source::Worker(_) => labels.extend(WORKER_LABELS.iter().map(|l| l.to_string())),
        Source::Failures => labels.extend(FAILURE_LABELS.iter().map(|l| l.to_string())),
        _ => {}
    }

    Desc::new(
        full_name(family),
        family.help.to_owned(),
        labels,
        Default::default(),
    )
    .expect("every family in the table has a valid name and help")
}

fn full_name(family: &Family) -> String {
    format!("{NAMESPACE}_{}", family.suffix)
}

fn worker_labels(labels: &WorkerLabels) -> [LabelPair; 3] {
    [
        label(WORKER_LABELS[0], &labels.worker_name),
        label(WORKER_LABELS[1], &labels.worker_model),
        label(WORKER_LABELS[2], &labels.flavor),
    ]
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_owned());
    pair.set_value(value.to_owned());
    pair
}
