//! Figure 5: the latency of `/mon/metrics` with about 10,000 workers exported.
//!
//! The exporter runs on its built-in simulator, sized with two `--once` runs so that
//! about the wanted number of this hatchery's workers are exported (about 48% of its VMs
//! are). Then sequential scrapes on one kept-alive connection, as Prometheus makes them,
//! and a few clients scraping at once (two: a pair of Prometheus servers); each timed from
//! the request to the last byte, the client running on the same two CPUs.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::exporter::{self, Exporter};
use crate::http;
use crate::report::Report;
use crate::stats::{self, Samples};

/// The share of the built-in simulator's VMs that are this hatchery's workers, roughly:
/// the first guess of the sizing.
const WORKER_SHARE: f64 = 0.48;
/// Untimed scrapes first: connections, allocator, caches.
const WARM_UP: usize = 20;

#[derive(Debug)]
pub struct ScrapeLatencies {
    pub simulator_vms: usize,
    /// `worker_vcpus` series in the last scrape.
    pub workers: usize,
    /// The exposition's size, and what crossed the wire (gzip).
    pub body_bytes: usize,
    pub wire_bytes: usize,
    pub sequential: Samples,
    /// For each number of clients scraping at once, every scrape's time.
    pub concurrent: Vec<(usize, Samples)>,
}

pub async fn measure(
    binary: &Path,
    http: &reqwest::Client,
    workers: usize,
    scrapes: usize,
    clients: &[usize],
) -> anyhow::Result<ScrapeLatencies> {
    let simulator_vms = size_for(binary, workers)?;
    let args = vec!["--simulator-vms".to_owned(), simulator_vms.to_string()];
    let exporter = Exporter::start(binary, &args)?;
    let url = exporter.metrics_url();
    http::scrape_until(
        http,
        &url,
        Duration::from_secs(60),
        Duration::from_millis(50),
        http::is_up,
    )
    .await?;

    for _ in 0..WARM_UP {
        http::scrape(http, &url).await?;
    }

    eprintln!("bench: {scrapes} sequential scrapes");
    let mut sequential = Vec::with_capacity(scrapes);
    let mut last = None;
    for _ in 0..scrapes {
        let scrape = http::scrape(http, &url).await?;
        sequential.push(scrape.elapsed);
        last = Some(scrape);
    }
    let last = last.context("no scrape made")?;

    let mut concurrent_runs = Vec::new();
    for &count in clients {
        eprintln!("bench: {count} clients scraping at once");
        let each = (scrapes / 5 / count.max(1)).max(1);
        let times = concurrent(http, &url, count, each).await?;
        concurrent_runs.push((count, Samples::new(times)));
    }
    drop(exporter);

    Ok(ScrapeLatencies {
        simulator_vms,
        workers: http::count(&last.exposition, "worker_vcpus"),
        body_bytes: last.exposition.len(),
        wire_bytes: last.wire_bytes,
        sequential: Samples::new(sequential),
        concurrent: concurrent_runs,
    })
}

/// The simulator size that exports about `workers` workers: a guess, then one correction.
fn size_for(binary: &Path, workers: usize) -> anyhow::Result<usize> {
    let guess = (workers as f64 / WORKER_SHARE).ceil() as usize;
    let exported = workers_exported(binary, guess)?;
    if exported == 0 {
        bail!("the built-in simulator exported no worker at {guess} VMs");
    }
    let corrected = (guess as f64 * workers as f64 / exported as f64).round() as usize;
    let exported_then = workers_exported(binary, corrected)?;
    eprintln!(
        "bench: simulator sizing: {guess} VMs -> {exported} workers; \
         {corrected} VMs -> {exported_then} workers"
    );
    Ok(corrected)
}

fn workers_exported(binary: &Path, vms: usize) -> anyhow::Result<usize> {
    let args = vec!["--simulator-vms".to_owned(), vms.to_string()];
    let run = exporter::run_once(binary, &args).context("sizing the simulator")?;
    Ok(http::count(&run.exposition, "worker_vcpus"))
}

/// `clients` tasks, each making `each` scrapes; every scrape's time.
async fn concurrent(
    http: &reqwest::Client,
    url: &str,
    clients: usize,
    each: usize,
) -> anyhow::Result<Vec<std::time::Duration>> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let http = http.clone();
        let url = url.to_owned();
        tasks.spawn(async move {
            let mut times = Vec::with_capacity(each);
            for _ in 0..each {
                times.push(http::fetch(&http, &url).await?.elapsed);
            }
            anyhow::Ok(times)
        });
    }

    let mut all = Vec::new();
    while let Some(times) = tasks.join_next().await {
        all.extend(times??);
    }
    Ok(all)
}

const GOAL_P99: Duration = Duration::from_millis(10);

impl ScrapeLatencies {
    pub fn report(&self, report: &mut Report) {
        let line = |samples: &Samples| {
            format!(
                "p50 {}, p99 {}, max {} ({} scrapes)",
                stats::duration(samples.median()),
                stats::duration(samples.percentile(99.0)),
                stats::duration(samples.max()),
                samples.len()
            )
        };
        report.row(
            format!(
                "5. /mon/metrics scrape, {} workers, one client",
                self.workers
            ),
            line(&self.sequential),
            "p99 < 10 ms",
            Some(self.sequential.percentile(99.0) < GOAL_P99),
        );
        for (clients, samples) in &self.concurrent {
            report.row(
                format!("5. /mon/metrics scrape, {clients} clients at once"),
                line(samples),
                "p99 < 10 ms",
                Some(samples.percentile(99.0) < GOAL_P99),
            );
        }
        report.note(format!(
            "Figure 5: built-in simulator of {} VMs, {} worker series, a body of {} \
             (OpenMetrics, as Prometheus asks for it), {} on the wire (gzip, as Prometheus \
             accepts it).",
            self.simulator_vms,
            self.workers,
            stats::bytes(self.body_bytes as u64),
            stats::bytes(self.wire_bytes as u64)
        ));
    }
}
