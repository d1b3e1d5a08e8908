//! Figure 6: `Snapshot::compute` over 100,000 generated VMs, the criterion benchmark of
//! the domain (`domain/benches/snapshot.rs`), run through cargo and read back from the
//! estimates criterion saves.

use std::time::Duration;

use anyhow::{Context, bail};

use crate::report::Report;
use crate::{stats, workspace};

/// The benchmark's id in domain/benches/snapshot.rs.
pub const BENCHMARK: &str = "snapshot_compute_100000_vms";

#[derive(Debug)]
pub struct DomainBench {
    pub median: Duration,
    pub mean: Duration,
}

pub fn measure() -> anyhow::Result<DomainBench> {
    eprintln!("bench: cargo bench -p cds-vsphere-domain --bench snapshot");
    let status = workspace::cargo()
        .args(["bench", "-p", "cds-vsphere-domain", "--bench", "snapshot"])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo bench failed: {status}");
    }
    read_estimates()
}

/// The median and mean criterion saved for the last run.
pub fn read_estimates() -> anyhow::Result<DomainBench> {
    let path = workspace::target_dir()
        .join("criterion")
        .join(BENCHMARK)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let estimates: serde_json::Value = serde_json::from_str(&text)?;
    let nanoseconds = |name: &str| {
        estimates[name]["point_estimate"]
            .as_f64()
            .map(|ns| Duration::from_secs_f64(ns / 1e9))
            .with_context(|| format!("no {name} in {}", path.display()))
    };
    Ok(DomainBench {
        median: nanoseconds("median")?,
        mean: nanoseconds("mean")?,
    })
}

impl DomainBench {
    pub fn report(&self, report: &mut Report) {
        report.row(
            "6. Snapshot::compute, 100,000 generated VMs (criterion)",
            format!(
                "median {}, mean {}",
                stats::duration(self.median),
                stats::duration(self.mean)
            ),
            "none set",
            None,
        );
    }
}
