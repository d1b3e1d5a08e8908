//! `cds-vsphere-bench`: the exporter measured against the govmomi simulator at 10,000 VMs
//! (docs/PERFORMANCE.md), side by side in one run, and a table of every figure against
//! its goal.
//!
//! Every process it starts is stopped when its guard is dropped, on error too: the
//! launcher by closing its stdin, the exporter with SIGTERM. Every address is on loopback.
//!
//! Module map: one module per figure (`full_read` 1, `once` 1 and 2, `change_latency` 3,
//! `idle_traffic` 4, `scrape_latency` 5, `domain_bench` 6); the processes (`launcher`,
//! `exporter`, `spawner`, `sys`), the wire (`http`, `soap`, `proxy`), what the reads in
//! process cost (`alloc` for the heap, `answer_log` for the parse), and the output
//! (`stats`, `report`, `machine`, `workspace`).

mod alloc;
mod answer_log;
mod change_latency;
mod domain_bench;
mod exporter;
mod full_read;
mod http;
mod idle_traffic;
mod launcher;
mod machine;
mod once;
mod proxy;
mod report;
mod scrape_latency;
mod soap;
mod spawner;
mod stats;
mod sys;
mod workspace;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use crate::launcher::Launcher;
use crate::machine::Machine;
use crate::report::Report;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// Measures the exporter against the govmomi simulator and prints every figure against
/// its goal.
#[derive(Debug, Parser)]
#[command(name = "cds-vsphere-bench")]
struct Args {
    /// VMs of the govmomi simulator, for figures 1 to 4.
    #[arg(long, default_value_t = 10_000)]
    vms: usize,

    /// Rounds of the full reads (figure 1) and of `--once` (figures 1 and 2).
    #[arg(long, default_value_t = 5)]
    repetitions: usize,

    /// Changes timed from the simulator to /mon/metrics (figure 3).
    #[arg(long, default_value_t = 10)]
    changes: usize,

    /// Seconds of idle traffic counted (figure 4).
    #[arg(long, default_value_t = 60)]
    idle_seconds: u64,

    /// Workers the built-in simulator should export (figure 5).
    #[arg(long, default_value_t = 10_000)]
    workers: usize,

    /// Sequential scrapes (figure 5); the concurrent clients make a tenth of it in all.
    #[arg(long, default_value_t = 2_000)]
    scrapes: usize,

    /// Clients scraping at once (figure 5), one run per number, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [2, 4])]
    clients: Vec<usize>,

    /// Figures not to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',')]
    skip: Vec<Figure>,

    /// The exporter binary; by default `cargo build --release` builds it.
    #[arg(long, value_name = "PATH")]
    exporter: Option<PathBuf>,
}

/// A figure of the table, for `--skip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Figure {
    /// 1: the floor and the exporter's full reads, in process.
    Reads,
    /// 1 and 2: the exporter binary with --once, CPU and peak memory.
    Once,
    /// 3: from a change to /mon/metrics.
    Latency,
    /// 4: idle bytes with vCenter.
    Idle,
    /// 5: scrape latency with 10,000 workers.
    Scrape,
    /// 6: the domain's criterion benchmark.
    Domain,
}

impl Args {
    fn wants(&self, figure: Figure) -> bool {
        !self.skip.contains(&figure)
    }

    fn wants_simulator(&self) -> bool {
        [Figure::Reads, Figure::Once, Figure::Latency, Figure::Idle]
            .into_iter()
            .any(|f| self.wants(f))
    }
}

fn main() -> anyhow::Result<()> {
    if let Some(command) = spawner::requested() {
        spawner::run(command);
    }

    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(bench(Args::parse()))
}

async fn bench(args: Args) -> anyhow::Result<()> {
    answer_log::listen()?;
    let machine = Machine::read();
    let load_before = machine::load_average();
    let cpu_before = machine::CpuTimes::read();
    let began = Instant::now();

    let exporter = match &args.exporter {
        Some(path) => path.clone(),
        None => workspace::build_exporter()?,
    };
    let http = http::client()?;
    let mut report = Report::default();

    if args.wants_simulator() {
        against_vcsim(&args, &exporter, &http, &mut report).await?;
    }
    if args.wants(Figure::Scrape) {
        let scrapes =
            scrape_latency::measure(&exporter, &http, args.workers, args.scrapes, &args.clients);
        match scrapes.await {
            Ok(figures) => figures.report(&mut report),
            Err(error) => failed(&mut report, "5. /mon/metrics scrape latency", &error),
        }
    }
    if args.wants(Figure::Domain) {
        match domain_bench::measure() {
            Ok(figures) => figures.report(&mut report),
            Err(error) => failed(&mut report, "6. Snapshot::compute, 100,000 VMs", &error),
        }
    }

    println!("Machine: {machine}");
    println!(
        "Load average (1, 5, 15 min): {load_before} before, {} after; run took {} s; \
         CPU over the run: {}\n",
        machine::load_average(),
        began.elapsed().as_secs(),
        machine::CpuTimes::read().since(cpu_before)
    );
    print!("{}", report.render());
    Ok(())
}

/// Figures 1 to 4, on one launcher with `args.vms` VMs.
async fn against_vcsim(
    args: &Args,
    exporter: &Path,
    http: &reqwest::Client,
    report: &mut Report,
) -> anyhow::Result<()> {
    let launcher_binary = workspace::build_launcher()?;
    eprintln!("bench: starting the simulator with {} VMs", args.vms);
    let started = Instant::now();
    let mut launcher = Launcher::start(&launcher_binary, args.vms)?;
    report.note(format!(
        "The govmomi simulator (vcsim 0.24.2, through tests/vcsim) was built, seeded and \
         checked in {:.1} s.",
        started.elapsed().as_secs_f64()
    ));
    let ready = launcher.ready.clone();

    let mut floor = None;
    if args.wants(Figure::Reads) {
        match full_read::measure(&ready, http.clone(), args.repetitions).await {
            Ok(figures) => {
                floor = Some(figures.floor.median());
                figures.report(report);
            }
            Err(error) => failed(report, "1. floor and full reads", &error),
        }
    }
    if args.wants(Figure::Once) {
        match once::measure(exporter, &ready, args.repetitions) {
            Ok(figures) => figures.report(report, floor),
            Err(error) => failed(report, "1-2. exporter --once", &error),
        }
    }
    if args.wants(Figure::Latency) {
        match change_latency::measure(exporter, &mut launcher, http, args.changes).await {
            Ok(figures) => figures.report(report),
            Err(error) => failed(report, "3. change → /mon/metrics", &error),
        }
    }
    if args.wants(Figure::Idle) {
        let window = Duration::from_secs(args.idle_seconds);
        match idle_traffic::measure(exporter, &ready, http, window).await {
            Ok(figures) => figures.report(report),
            Err(error) => failed(report, "4. idle bytes with vCenter", &error),
        }
    }
    Ok(())
}

/// A figure that could not be measured: said in the table, and the run goes on.
fn failed(report: &mut Report, figure: &str, error: &anyhow::Error) {
    eprintln!("bench: {figure} failed: {error:#}");
    report.row(figure, format!("failed: {error:#}"), "", Some(false));
}
