//! Figures 1 and 2 for the real binary: `cds-vsphere-exporter --once` against the
//! launcher's simulator, from spawn to exit (process start, login, view, pool, the full
//! read, snapshot, printing the metrics, logout), with its own CPU time and peak resident
//! memory from wait4(2).

use std::path::Path;
use std::time::Duration;

use anyhow::bail;

use crate::exporter::{self, OnceRun};
use crate::launcher::Ready;
use crate::report::Report;
use crate::stats::{self, Samples, median_u64};
use crate::{full_read, http};

#[derive(Debug)]
pub struct OnceRuns {
    pub wall: Samples,
    /// User plus system CPU time.
    pub cpu: Samples,
    pub max_rss_bytes: Vec<u64>,
}

impl OnceRuns {
    pub fn median_rss(&self) -> u64 {
        median_u64(&self.max_rss_bytes)
    }

    pub fn max_rss(&self) -> u64 {
        self.max_rss_bytes.iter().copied().max().unwrap_or(0)
    }
}

pub fn measure(binary: &Path, ready: &Ready, repetitions: usize) -> anyhow::Result<OnceRuns> {
    let args = exporter::vcenter_args(ready, &ready.url);
    let expected_vms = ready.value("pool_total_vm_count");

    let mut runs = Vec::with_capacity(repetitions);
    for round in 0..repetitions {
        eprintln!("bench: --once, run {}/{repetitions}", round + 1);
        let run = exporter::run_once(binary, &args)?;
        check(&run, expected_vms)?;
        runs.push(run);
    }

    Ok(OnceRuns {
        wall: Samples::new(runs.iter().map(|r| r.wall).collect()),
        cpu: Samples::new(runs.iter().map(|r| r.usage.cpu()).collect()),
        max_rss_bytes: runs.iter().map(|r| r.usage.max_rss_bytes).collect(),
    })
}

fn check(run: &OnceRun, expected_vms: Option<f64>) -> anyhow::Result<()> {
    let read = http::sample(&run.exposition, "pool_total_vm_count");
    if read.is_none() || read != expected_vms {
        bail!("--once printed pool_total_vm_count {read:?}, expected {expected_vms:?}");
    }
    Ok(())
}

/// The goal: under 64 MB resident at 10,000 VMs.
const GOAL_RSS_BYTES: u64 = 64 * 1024 * 1024;

impl OnceRuns {
    pub fn report(&self, report: &mut Report, floor: Option<Duration>) {
        let wall = self.wall.median();
        let measured = match floor {
            Some(floor) => full_read::against_floor(wall, floor),
            None => stats::duration(wall),
        };
        report.row(
            "1. exporter binary `--once`, spawn to exit",
            measured,
            "context: includes process start, login, pool, logout",
            None,
        );
        report.row(
            "2. `--once` CPU time, user + system",
            stats::duration(self.cpu.median()),
            "",
            None,
        );
        report.row(
            "2. `--once` peak resident memory (ru_maxrss)",
            format!(
                "{} (largest of {}: {})",
                stats::mebibytes(self.median_rss()),
                self.max_rss_bytes.len(),
                stats::mebibytes(self.max_rss())
            ),
            "< 64 MiB",
            Some(self.max_rss() < GOAL_RSS_BYTES),
        );
    }
}
