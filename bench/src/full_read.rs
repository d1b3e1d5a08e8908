//! Figure 1, in process: the floor (the simulator answering the narrow
//! `RetrievePropertiesEx` alone, read to the last byte and not parsed) beside the
//! exporter's own full reads of the same inventory, parse and snapshot included.
//!
//! Two reads of the exporter are timed, alternating with the floor so that both see the
//! same simulator, and the parse of the floor's answer alone, through the adapter's own
//! parser (`adapters::vsphere::fuzzing::virtual_machines`):
//! - a later full read: `VsphereSource::read_inventory` on a connected source (session,
//!   view and pool already there), then `Snapshot::compute`;
//! - a first read: a fresh source's `InventorySource::inventory`, which logs in, creates
//!   the view and, with the change feed, a property collector and filter, and returns
//!   once the feed's first `WaitForUpdatesEx` (the full read) has been applied; then
//!   `Snapshot::compute`, and the source's shutdown, untimed. Its own floor is timed too:
//!   the same calls on a fresh raw session (RetrieveServiceContent, Login,
//!   CreateContainerView, then the feed's), the answer read and not parsed. The first
//!   read is judged against that floor: the narrow floor has neither the session's set-up
//!   nor the feed's larger answer.
//!
//! Each step starts on a simulator at rest (see [`SETTLE`]), as the exporter's reads do,
//! every 30 s at most. The heap each needed above what was in use before it is counted
//! too (see `alloc`), and the exporter's own part of each read, from the answer's last
//! byte to its last record applied, as the adapter logs it (see `answer_log`): the
//! simulator's time to answer moves by half from one request to the next, which the
//! ratios of medians carry, while that part is the exporter's alone.

use std::time::{Duration, Instant};

use adapters::vsphere::{Password, Url, VsphereConfig, VsphereSource};
use anyhow::{Context, bail};
use domain::{Inventory, Limits, ResourcePoolRuntime, Snapshot};
use ports::InventorySource;

use crate::alloc;
use crate::answer_log;
use crate::launcher::{self, Ready};
use crate::report::Report;
use crate::soap::RawSession;
use crate::stats::{self, Samples};

/// The hatchery both the launcher and the exporter assume by default.
pub const HATCHERY: &str = "hatchery-vsphere";

#[derive(Debug)]
pub struct FullReads {
    pub floor: Samples,
    pub floor_bytes: u64,
    /// Read and parse of a later full read.
    pub later_read: Samples,
    /// Snapshot::compute after the later read.
    pub compute: Samples,
    /// Read and snapshot, together.
    pub later_total: Samples,
    /// A fresh source's first read, login included, and its snapshot.
    pub first_total: Samples,
    /// The floor of the first read: RetrieveServiceContent, Login, CreateContainerView,
    /// CreatePropertyCollector, CreateFilter and the first WaitForUpdatesEx on a fresh
    /// session, read to the end, nothing parsed.
    pub feed_floor: Samples,
    /// The floor's answer parsed into VMs, as a full read parses it.
    pub parse: Samples,
    /// From the last byte to the last record applied, inside the later and first reads.
    pub later_own: Samples,
    pub first_own: Samples,
    /// The most heap each needed, in bytes, over the rounds.
    pub later_heap: u64,
    pub first_heap: u64,
    pub parse_heap: u64,
    pub vms: usize,
}

pub async fn measure(
    ready: &Ready,
    http: reqwest::Client,
    repetitions: usize,
) -> anyhow::Result<FullReads> {
    let expected_vms = ready.value("pool_total_vm_count").unwrap_or_default() as usize;
    let raw = RawSession::open(
        http.clone(),
        &ready.url,
        launcher::USERNAME,
        launcher::PASSWORD,
    )
    .await?;
    let source = VsphereSource::connect(config(ready, false)?).await?;
    let pool = source.read_resource_pool_runtime().await?;

    // One untimed round first: the simulator's and our allocators warm up.
    let floor_bytes = raw.narrow_read().await?.1.len() as u64;
    later_read(&source, pool).await?;

    let mut figures = Rounds::default();
    for round in 0..repetitions {
        eprintln!("bench: full reads, round {}/{repetitions}", round + 1);
        settle().await;
        let (floor, body) = raw.narrow_read().await?;
        figures.floor.push(floor);
        settle().await;
        let (parse, vms, heap) = measured(|| parse_alone(&body))?;
        check_count(vms, expected_vms)?;
        figures.parse.push(parse);
        figures.parse_heap = figures.parse_heap.max(heap);
        drop(body);

        settle().await;
        let base = alloc::reset_peak();
        answer_log::take();
        let (read, compute, vms) = later_read(&source, pool).await?;
        figures.later_own.extend(answer_log::take().first());
        figures.later_heap = figures.later_heap.max(alloc::peak_above(base));
        check_count(vms, expected_vms)?;
        figures.later_read.push(read);
        figures.compute.push(compute);
        figures.later_total.push(read + compute);

        settle().await;
        figures
            .feed_floor
            .push(first_read_floor(ready, &http).await?);

        settle().await;
        let base = alloc::reset_peak();
        answer_log::take();
        let (total, vms) = first_read(ready, pool).await?;
        // The first answer is the full read; the feed's wait cancelled at shutdown follows.
        figures.first_own.extend(answer_log::take().first());
        figures.first_heap = figures.first_heap.max(alloc::peak_above(base));
        check_count(vms, expected_vms)?;
        figures.first_total.push(total);
    }

    source.shutdown().await;
    raw.close().await?;

    Ok(FullReads {
        floor: Samples::new(figures.floor),
        floor_bytes,
        later_read: Samples::new(figures.later_read),
        compute: Samples::new(figures.compute),
        later_total: Samples::new(figures.later_total),
        first_total: Samples::new(figures.first_total),
        feed_floor: Samples::new(figures.feed_floor),
        parse: Samples::new(figures.parse),
        later_own: Samples::new(figures.later_own),
        first_own: Samples::new(figures.first_own),
        later_heap: figures.later_heap,
        first_heap: figures.first_heap,
        parse_heap: figures.parse_heap,
        vms: expected_vms,
    })
}

/// How long the simulator is left at rest before each step. After a large answer,
/// vcsim works on for up to a tenth of a second (its garbage collector), on the same
/// two CPUs: a step right after another would pay for it, and each of the exporter's
/// reads came right after a floor.
const SETTLE: Duration = Duration::from_millis(500);

async fn settle() {
    tokio::time::sleep(SETTLE).await;
}

#[derive(Default)]
struct Rounds {
    floor: Vec<Duration>,
    later_read: Vec<Duration>,
    compute: Vec<Duration>,
    later_total: Vec<Duration>,
    first_total: Vec<Duration>,
    feed_floor: Vec<Duration>,
    parse: Vec<Duration>,
    later_own: Vec<Duration>,
    first_own: Vec<Duration>,
    later_heap: u64,
    first_heap: u64,
    parse_heap: u64,
}

/// The calls of a first read, made raw on a fresh session; the session is closed after,
/// untimed.
async fn first_read_floor(ready: &Ready, http: &reqwest::Client) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let fresh = RawSession::open(
        http.clone(),
        &ready.url,
        launcher::USERNAME,
        launcher::PASSWORD,
    )
    .await?;
    let collector = fresh.follow().await?;
    let elapsed = started.elapsed();

    fresh.destroy_collector(&collector).await?;
    fresh.close().await?;
    Ok(elapsed)
}

/// The exporter's settings for the launcher's simulator; `follow_changes` as asked.
fn config(ready: &Ready, follow_changes: bool) -> anyhow::Result<VsphereConfig> {
    let url = Url::parse(&ready.url).context("the launcher's url")?;
    let mut config = VsphereConfig::new(url);
    config.username = Some(launcher::USERNAME.to_owned());
    config.password = Some(Password::new(launcher::PASSWORD));
    config.resource_pool = Some(ready.resource_pool.clone());
    config.follow_changes = follow_changes;
    Ok(config)
}

/// A full read on a connected source, then the snapshot: their times and the VM count.
async fn later_read(
    source: &VsphereSource,
    pool: ResourcePoolRuntime,
) -> anyhow::Result<(Duration, Duration, usize)> {
    let started = Instant::now();
    let inventory = source.read_inventory().await?;
    let read = started.elapsed();

    let started = Instant::now();
    let vms = snapshot(&inventory, pool);
    Ok((read, started.elapsed(), vms))
}

/// A fresh source's first read and its snapshot, timed together; the VM count.
async fn first_read(ready: &Ready, pool: ResourcePoolRuntime) -> anyhow::Result<(Duration, usize)> {
    let source = VsphereSource::new(config(ready, true)?)?;

    let started = Instant::now();
    let timed = source.inventory().await.map(|inventory| {
        let vms = snapshot(&inventory, pool);
        (started.elapsed(), vms)
    });

    source.shutdown().await;
    Ok(timed?)
}

/// The floor's answer read into VMs by the adapter's parser; their number.
fn parse_alone(body: &[u8]) -> anyhow::Result<usize> {
    Ok(adapters::vsphere::fuzzing::virtual_machines(body)?.len())
}

/// Runs `work`, timed, with the heap it needed above what was in use before.
fn measured<T>(work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(Duration, T, u64)> {
    let base = alloc::reset_peak();
    let started = Instant::now();
    let value = work()?;
    let elapsed = started.elapsed();
    Ok((elapsed, value, alloc::peak_above(base)))
}

fn snapshot(inventory: &Inventory, pool: ResourcePoolRuntime) -> usize {
    let snapshot = Snapshot::compute(inventory, HATCHERY, Limits::default(), Some(pool));
    snapshot.pool.vm_count as usize
}

fn check_count(vms: usize, expected: usize) -> anyhow::Result<()> {
    if vms != expected {
        bail!("the exporter read {vms} VMs, the launcher has {expected}");
    }
    Ok(())
}

/// The goal: the exporter's full read within 1.25 times the floor.
pub const GOAL_RATIO: f64 = 1.25;

impl FullReads {
    pub fn report(&self, report: &mut Report) {
        let floor = self.floor.median();
        report.row(
            "1. floor: narrow RetrievePropertiesEx alone, read to the end",
            format!(
                "{} ({} VMs, {})",
                stats::duration(floor),
                self.vms,
                stats::bytes(self.floor_bytes)
            ),
            "",
            None,
        );
        report.row(
            "1. exporter, later full read + parse + snapshot (in process)",
            against_floor(self.later_total.median(), floor),
            format!("≤ {GOAL_RATIO} × floor"),
            Some(ratio(self.later_total.median(), floor) <= GOAL_RATIO),
        );
        let feed_floor = self.feed_floor.median();
        report.row(
            "1. first read's floor: service content, Login, view, collector, filter, first WaitForUpdatesEx",
            against_floor(feed_floor, floor),
            "",
            None,
        );
        let first = self.first_total.median();
        report.row(
            "1. exporter, first read through the feed, login included (in process)",
            format!(
                "{} ({:.2} × its floor)",
                against_floor(first, floor),
                ratio(first, feed_floor)
            ),
            format!("≤ {GOAL_RATIO} × its floor"),
            Some(ratio(first, feed_floor) <= GOAL_RATIO),
        );
        report.row(
            "1. the floor's answer parsed alone (adapter's parser, in process)",
            stats::duration(self.parse.median()),
            "",
            None,
        );
        let with_floor = floor + self.later_own.median() + self.compute.median();
        report.row(
            "1. of which the exporter's: last byte → last record applied, later / first read",
            format!(
                "median {} / {}, max {} / {} ({} / {} reads); floor + later's + snapshot: {:.2} × floor",
                stats::duration(self.later_own.median()),
                stats::duration(self.first_own.median()),
                stats::duration(self.later_own.max()),
                stats::duration(self.first_own.max()),
                self.later_own.len(),
                self.first_own.len(),
                ratio(with_floor, floor)
            ),
            "",
            None,
        );
        report.row(
            "2. heap needed in process: later read / first read / parse alone",
            format!(
                "{} / {} / {}",
                stats::mebibytes(self.later_heap),
                stats::mebibytes(self.first_heap),
                stats::mebibytes(self.parse_heap)
            ),
            "",
            None,
        );
        report.note(format!(
            "Figure 1 (in process), medians of {n} rounds, floor and exporter alternating: \
             the later read is `VsphereSource::read_inventory` on a connected source \
             (one RetrievePropertiesEx, parsed into the inventory: {read}) then \
             `Snapshot::compute` ({compute}); the first read is a fresh source's \
             `inventory()` (RetrieveServiceContent, Login, CreateContainerView, \
             CreatePropertyCollector, CreateFilter, the first WaitForUpdatesEx) then the \
             snapshot. Heap figures are the largest over the rounds, counted by the \
             bench's allocator above what was in use before.",
            n = self.floor.len(),
            read = stats::duration(self.later_read.median()),
            compute = stats::duration(self.compute.median()),
        ));
    }
}

/// `0.412 s (1.08 × floor)`.
pub fn against_floor(time: Duration, floor: Duration) -> String {
    format!(
        "{} ({:.2} × floor)",
        stats::duration(time),
        ratio(time, floor)
    )
}

pub fn ratio(time: Duration, floor: Duration) -> f64 {
    time.as_secs_f64() / floor.as_secs_f64().max(f64::EPSILON)
}
