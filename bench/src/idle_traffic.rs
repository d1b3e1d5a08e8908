//! Figure 4: the bytes exchanged with vCenter while nothing changes.
//!
//! The exporter (default interval, 30 s) reads the launcher's simulator through a
//! counting proxy. Once its first read is published and a few seconds have passed, the
//! bytes both ways are counted over the idle window.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::exporter::{self, Exporter};
use crate::http;
use crate::launcher::Ready;
use crate::proxy::{Proxy, Traffic};
use crate::report::Report;
use crate::stats;

/// Left after the first read is published, for its last exchanges (the pool) to end.
const SETTLE: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct IdleTraffic {
    /// From the exporter's start to the end of its first read.
    pub first_read: Traffic,
    /// Over the idle window.
    pub idle: Traffic,
    pub window: Duration,
    /// `inventory_change_feed` at the end.
    pub change_feed: Option<f64>,
}

impl IdleTraffic {
    pub fn per_minute(&self) -> f64 {
        self.idle.total() as f64 * 60.0 / self.window.as_secs_f64()
    }
}

pub async fn measure(
    binary: &Path,
    ready: &Ready,
    http: &reqwest::Client,
    window: Duration,
) -> anyhow::Result<IdleTraffic> {
    let upstream = ready.address().parse().context("the launcher's address")?;
    let proxy = Proxy::start(upstream).await?;
    let url = format!("http://{}/sdk", proxy.address);
    let exporter = Exporter::start(binary, &exporter::vcenter_args(ready, &url))?;

    let metrics = exporter.metrics_url();
    // Up, with the inventory counted: its first read is published. (The count itself may
    // differ from the ready line's after figure 3's changes.)
    let every = Duration::from_millis(100);
    http::scrape_until(http, &metrics, Duration::from_secs(120), every, |e| {
        http::is_up(e) && http::sample(e, "pool_total_vm_count").is_some()
    })
    .await
    .context("the exporter's first read through the proxy")?;
    let first_read = proxy.traffic();

    tokio::time::sleep(SETTLE).await;
    let start = proxy.traffic();
    eprintln!("bench: counting idle traffic for {}s", window.as_secs());
    tokio::time::sleep(window).await;
    let idle = proxy.traffic().since(start);

    let last = http::scrape(http, &metrics).await?.exposition;
    drop(exporter);
    Ok(IdleTraffic {
        first_read,
        idle,
        window,
        change_feed: http::sample(&last, "inventory_change_feed"),
    })
}

/// The goal: "a few kilobytes" a minute, taken as at most 10 kB.
const GOAL_BYTES_PER_MINUTE: f64 = 10_000.0;

impl IdleTraffic {
    pub fn report(&self, report: &mut Report) {
        let per_minute = self.per_minute();
        report.row(
            "4. bytes exchanged with vCenter per minute, nothing changing",
            format!(
                "{}/min (to vCenter {}, from it {}, over {} s, {} new connections)",
                stats::bytes(per_minute as u64),
                stats::bytes(self.idle.to_server),
                stats::bytes(self.idle.to_client),
                self.window.as_secs(),
                self.idle.connections
            ),
            "a few kB/min (≤ 10 kB)",
            Some(per_minute <= GOAL_BYTES_PER_MINUTE),
        );
        let feed = match self.change_feed {
            Some(1.0) => "following the change feed",
            Some(_) => "polling",
            None => "without an inventory_change_feed gauge",
        };
        report.note(format!(
            "Figure 4: the exporter ({feed}, interval 30 s) exchanged {} to reach its first \
             published read (login, view, pool, full read), then was counted idle.",
            stats::bytes(self.first_read.total())
        ));
    }
}
