//! Figure 3: from a change in the simulator to the new value on `/mon/metrics`.
//!
//! The launcher changes its inventory with its control commands, in turn: a worker's
//! annotation (a new flavor label), a new worker, that worker destroyed. Each change is
//! timed from the moment its command is sent, in two phases, side by side:
//! - the floor: a raw `WaitForUpdatesEx` watcher of our own (a property collector with a
//!   filter on the VM view, the exporter's six paths), stopped at the first answer that
//!   names the change; the simulator alone, nothing parsed;
//! - the exporter (default interval, 30 s), stopped at the first scrape, one every 20 ms,
//!   that shows the change. Its own part is timed too: from the last answer of its feed
//!   applied before that scrape (its debug log) to the scrape.
//!
//! The phases run one after the other, so that the watcher does not slow the simulator
//! down for the exporter: vcsim reads every VM again for each change and each watcher.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::exporter::{self, Exporter};
use crate::full_read::HATCHERY;
use crate::http;
use crate::launcher::{self, ExpectedSeries, Launcher, Ready};
use crate::report::Report;
use crate::soap::{self, RawSession};
use crate::stats::{self, Samples};

const POLL: Duration = Duration::from_millis(20);
/// Longer than the default interval, so that a polling exporter is measured too.
const GIVE_UP: Duration = Duration::from_secs(90);
/// Between two changes, so that they are not read as one burst.
const PAUSE: Duration = Duration::from_millis(500);
/// The longest a watcher's `WaitForUpdatesEx` waits without a change.
const WATCH_WAIT_SECONDS: u32 = 60;

#[derive(Debug)]
pub struct ChangeLatencies {
    /// The raw watcher's.
    pub floor: Timings,
    pub exporter: Timings,
    /// From the feed's answer applied to the scrape that showed it, for the changes whose
    /// answer the exporter logged.
    pub exporter_own: Samples,
    /// `inventory_change_feed` once the exporter had read: 1 while the feed is followed.
    pub change_feed: Option<f64>,
}

/// The latencies of one phase.
#[derive(Debug)]
pub struct Timings {
    pub all: Samples,
    pub annotate: Samples,
    pub create: Samples,
    pub destroy: Samples,
    /// How long the launcher took to make each change, included in the latencies.
    pub command: Samples,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Annotate,
    Create,
    Destroy,
}

/// One change and how to see it.
#[derive(Debug)]
struct Change {
    kind: Kind,
    command: String,
    worker: String,
    /// The flavor label the worker's series must have, or `None` for "no series".
    flavor: Option<String>,
}

pub async fn measure(
    binary: &Path,
    launcher: &mut Launcher,
    http: &reqwest::Client,
    changes: usize,
) -> anyhow::Result<ChangeLatencies> {
    let ready = launcher.ready.clone();
    let mut plan = Plan::new(&ready);

    let floor = watcher_phase(launcher, &mut plan, http, changes).await?;
    let exporter = exporter_phase(binary, launcher, &mut plan, http, changes).await?;

    Ok(ChangeLatencies {
        floor,
        exporter: exporter.timings,
        exporter_own: exporter.own,
        change_feed: exporter.change_feed,
    })
}

async fn watcher_phase(
    launcher: &mut Launcher,
    plan: &mut Plan,
    http: &reqwest::Client,
    changes: usize,
) -> anyhow::Result<Timings> {
    let ready = launcher.ready.clone();
    let session = RawSession::open(
        http.clone(),
        &ready.url,
        launcher::USERNAME,
        launcher::PASSWORD,
    );
    let session = Arc::new(session.await?);
    let collector = session.follow().await?;
    let (sender, mut answers) = mpsc::unbounded_channel();
    let waiter = tokio::spawn(wait_forever(
        Arc::clone(&session),
        collector.clone(),
        sender,
    ));

    let mut timings = Recorder::default();
    for _ in 0..changes {
        let change = plan.next()?;
        eprintln!("bench: watcher, change: {}", change.command);

        let started = Instant::now();
        let answer = tokio::task::block_in_place(|| launcher.command(&change.command))?;
        let command = started.elapsed();
        let tokens = tokens(&change, &answer);

        let seen = loop {
            let (at, body) = tokio::time::timeout(GIVE_UP, answers.recv())
                .await
                .context("the watcher saw nothing")?
                .context("the watcher stopped")?;
            if at >= started && tokens.iter().all(|t| soap::contains(&body, t)) {
                break at;
            }
        };
        timings.push(change.kind, seen - started, command);
        tokio::time::sleep(PAUSE).await;
    }

    waiter.abort();
    // Also ends the WaitForUpdatesEx left waiting.
    session.destroy_collector(&collector).await?;
    session.close().await?;
    Ok(timings.finish())
}

/// Waits for updates again and again, and hands over each answer with when it arrived.
async fn wait_forever(
    session: Arc<RawSession>,
    collector: String,
    answers: mpsc::UnboundedSender<(Instant, Bytes)>,
) {
    loop {
        let Ok(body) = session
            .wait_for_updates(&collector, Some("-"), WATCH_WAIT_SECONDS)
            .await
        else {
            return;
        };
        if answers.send((Instant::now(), body)).is_err() {
            return;
        }
    }
}

/// What the exporter's phase measured.
struct ExporterPhase {
    timings: Timings,
    own: Samples,
    change_feed: Option<f64>,
}

async fn exporter_phase(
    binary: &Path,
    launcher: &mut Launcher,
    plan: &mut Plan,
    http: &reqwest::Client,
    changes: usize,
) -> anyhow::Result<ExporterPhase> {
    let ready = launcher.ready.clone();
    let args = exporter::vcenter_args(&ready, &ready.url);
    let exporter = Exporter::start_following(binary, &args)?;
    let url = exporter.metrics_url();
    let expected = plan.vms;
    let first = http::scrape_until(http, &url, Duration::from_secs(120), POLL, |e| {
        http::is_up(e) && http::sample(e, "pool_total_vm_count") == Some(expected)
    })
    .await
    .context("the exporter's first read")?;
    let change_feed = http::sample(&first, "inventory_change_feed");

    let mut timings = Recorder::default();
    let mut own = Vec::new();
    for _ in 0..changes {
        let change = plan.next()?;
        eprintln!("bench: exporter, change: {}", change.command);

        let started = Instant::now();
        tokio::task::block_in_place(|| launcher.command(&change.command))?;
        let command = started.elapsed();

        http::scrape_until(http, &url, GIVE_UP, POLL, |e| shows(e, &change)).await?;
        let seen = Instant::now();
        timings.push(change.kind, seen - started, command);
        own.extend(last_answer_applied(&exporter, started, seen).map(|applied| seen - applied));
        tokio::time::sleep(PAUSE).await;
    }
    drop(exporter);

    Ok(ExporterPhase {
        timings: timings.finish(),
        own: Samples::new(own),
        change_feed,
    })
}

/// When the exporter logged the last answer of its feed applied between the command and
/// the scrape that showed the change; the lines read so far are used up.
fn last_answer_applied(exporter: &Exporter, started: Instant, seen: Instant) -> Option<Instant> {
    exporter
        .logs
        .try_iter()
        .filter(|line| (started..=seen).contains(&line.at))
        .filter(|line| line.text.contains(exporter::FEED_APPLIED))
        .map(|line| line.at)
        .last()
}

/// The changes, in turn: annotate an existing worker, create a worker, destroy it.
struct Plan {
    workers: Vec<ExpectedSeries>,
    /// The VMs the inventory holds after the changes planned so far.
    vms: f64,
    next: usize,
}

impl Plan {
    fn new(ready: &Ready) -> Plan {
        Plan {
            workers: ready.workers().cloned().collect(),
            vms: ready.value("pool_total_vm_count").unwrap_or_default(),
            next: 0,
        }
    }

    fn next(&mut self) -> anyhow::Result<Change> {
        let i = self.next;
        self.next += 1;
        match i % 3 {
            1 => self.vms += 1.0,
            2 => self.vms -= 1.0,
            _ => {}
        }
        // Fixed width, so that no flavor or name is the prefix of another.
        let flavor = format!("bench{i:03}");
        let change = match i % 3 {
            0 => {
                let worker = self.workers.get(i).context("not enough workers")?;
                let name = label(worker, "worker_name");
                let annotation = annotation(name, label(worker, "worker_model"), &flavor);
                Change {
                    kind: Kind::Annotate,
                    command: format!("annotate {name} {annotation}"),
                    worker: name.to_owned(),
                    flavor: Some(flavor),
                }
            }
            1 => {
                let name = format!("bench-worker-{i:03}");
                let annotation = annotation(&name, "shared.infra/debian12", &flavor);
                Change {
                    kind: Kind::Create,
                    command: format!("create {name} 4 8192 {annotation}"),
                    worker: name,
                    flavor: Some(flavor),
                }
            }
            _ => {
                let name = format!("bench-worker-{:03}", i - 1);
                Change {
                    kind: Kind::Destroy,
                    command: format!("destroy {name}"),
                    worker: name,
                    flavor: None,
                }
            }
        };
        Ok(change)
    }
}

/// What a `WaitForUpdatesEx` answer holds once it reports the change whole: the new flavor
/// (inside the annotation), or a `leave` of the destroyed VM, named by the moref the
/// launcher answered.
fn tokens(change: &Change, answer: &serde_json::Value) -> Vec<String> {
    match &change.flavor {
        Some(flavor) => vec![flavor.clone()],
        None => {
            let vm = answer["vm"].as_str().unwrap_or_default();
            vec!["<kind>leave</kind>".to_owned(), format!(">{vm}<")]
        }
    }
}

#[derive(Default)]
struct Recorder {
    all: Vec<Duration>,
    annotate: Vec<Duration>,
    create: Vec<Duration>,
    destroy: Vec<Duration>,
    command: Vec<Duration>,
}

impl Recorder {
    fn push(&mut self, kind: Kind, latency: Duration, command: Duration) {
        self.all.push(latency);
        self.command.push(command);
        match kind {
            Kind::Annotate => self.annotate.push(latency),
            Kind::Create => self.create.push(latency),
            Kind::Destroy => self.destroy.push(latency),
        }
    }

    fn finish(self) -> Timings {
        Timings {
            all: Samples::new(self.all),
            annotate: Samples::new(self.annotate),
            create: Samples::new(self.create),
            destroy: Samples::new(self.destroy),
            command: Samples::new(self.command),
        }
    }
}

/// A CDS annotation of this hatchery's worker.
fn annotation(worker: &str, model: &str, flavor: &str) -> String {
    serde_json::json!({
        "hatchery_name": HATCHERY,
        "worker_name": worker,
        "worker_model_path": model,
        "flavor": flavor,
        "model": false,
    })
    .to_string()
}

fn label<'a>(series: &'a ExpectedSeries, name: &str) -> &'a str {
    series.labels.get(name).map_or("", String::as_str)
}

fn shows(exposition: &str, change: &Change) -> bool {
    let worker = ("worker_name", change.worker.as_str());
    match &change.flavor {
        Some(flavor) => http::has_series(exposition, "worker_vcpus", &[worker, ("flavor", flavor)]),
        None => !http::has_series(exposition, "worker_vcpus", &[worker]),
    }
}

const GOAL: Duration = Duration::from_secs(2);

impl ChangeLatencies {
    pub fn report(&self, report: &mut Report) {
        report.row(
            "3. floor: change → raw WaitForUpdatesEx watcher sees it",
            Self::summary(&self.floor),
            "",
            None,
        );
        let max = self.exporter.all.max();
        report.row(
            "3. change in the simulator → new value on /mon/metrics",
            Self::summary(&self.exporter),
            "< 2 s",
            Some(max < GOAL),
        );
        report.row(
            "3. of which the exporter's: its feed's answer applied → on /mon/metrics",
            format!(
                "median {}, max {} ({} of {} changes)",
                stats::duration(self.exporter_own.median()),
                stats::duration(self.exporter_own.max()),
                self.exporter_own.len(),
                self.exporter.all.len()
            ),
            "",
            None,
        );
        let feed = match self.change_feed {
            Some(1.0) => "following the change feed (inventory_change_feed 1)",
            Some(_) => "polling (inventory_change_feed 0)",
            None => "without an inventory_change_feed gauge",
        };
        report.note(format!(
            "Figure 3: the exporter was {feed}. Medians by kind, watcher / exporter: \
             annotate {} / {}, create {} / {}, destroy {} / {}; the launcher's commands \
             took median {} / {} of that. Scrapes every 20 ms.",
            stats::duration(self.floor.annotate.median()),
            stats::duration(self.exporter.annotate.median()),
            stats::duration(self.floor.create.median()),
            stats::duration(self.exporter.create.median()),
            stats::duration(self.floor.destroy.median()),
            stats::duration(self.exporter.destroy.median()),
            stats::duration(self.floor.command.median()),
            stats::duration(self.exporter.command.median()),
        ));
    }

    fn summary(timings: &Timings) -> String {
        format!(
            "median {}, max {} ({} changes)",
            stats::duration(timings.all.median()),
            stats::duration(timings.all.max()),
            timings.all.len()
        )
    }
}
