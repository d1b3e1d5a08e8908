//! A `prometheus` collector that turns the latest publication into metric families.

use std::sync::{Arc, RwLock};

use ::prometheus::core::{Collector, Desc};
use ::prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
use domain::{Snapshot, WorkerLabels};
use ports::Publication;

use super::families::{FAMILIES, Family, Source};
use super::{NAMESPACE, ServiceLabels};

const SERVICE_LABELS: [&str; 2] = ["service_name", "service_type"];
const WORKER_LABELS: [&str; 3] = ["worker_name", "worker_model", "flavor"];

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
        let snapshot = publication.snapshot.as_deref();
        let metrics = match (family.source, snapshot) {
            (Source::Worker(value), Some(snapshot)) => self.workers(snapshot, value),
            (Source::Snapshot(value), Some(snapshot)) => vec![self.gauge(value(snapshot) as f64)],
            (Source::ResourcePool(value), Some(snapshot)) => snapshot
                .resource_pool
                .iter()
                .map(|runtime| self.gauge(value(runtime) as f64))
                .collect(),
            (Source::Health(value), _) => value(&publication.health)
                .map(|v| self.gauge(v))
                .into_iter()
                .collect(),
            (_, None) => Vec::new(),
        };

        let mut out = MetricFamily::default();
        out.set_name(full_name(family));
        out.set_help(family.help.to_owned());
        out.set_field_type(MetricType::GAUGE);
        out.set_metric(metrics);
        out
    }

    fn workers(&self, snapshot: &Snapshot, value: fn(&domain::Usage) -> u64) -> Vec<Metric> {
        snapshot
            .workers
            .iter()
            .map(|worker| self.metric(value(&worker.usage) as f64, Some(&worker.labels)))
            .collect()
    }

    fn gauge(&self, value: f64) -> Metric {
        self.metric(value, None)
    }

    fn metric(&self, value: f64, worker: Option<&WorkerLabels>) -> Metric {
        let mut labels = vec![
            label(SERVICE_LABELS[0], &self.service.name),
            label(SERVICE_LABELS[1], &self.service.kind),
        ];
        labels.extend(worker.into_iter().flat_map(worker_labels));

        let mut gauge = Gauge::default();
        gauge.set_value(value);

        let mut metric = Metric::from_label(labels);
        metric.set_gauge(gauge);
        metric
    }
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
    if matches!(family.source, Source::Worker(_)) {
        labels.extend(WORKER_LABELS.iter().map(|l| l.to_string()));
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
