//! `promtool check metrics`, the Prometheus linter, on an exposition.

use std::io::Write;
use std::process::{Command, Stdio};

/// What promtool's linter says of the metric names that the specification fixes, and the
/// CDS hatchery's own metrics already use: they keep `_mb` and `_count` so that existing
/// dashboards and alerts keep working. Any other remark is a fault of the exporter.
pub const NAMING_REMARKS: [&str; 9] = [
    "cds_hatchery_vsphere_allocated_memory_mb metric names should not contain abbreviated units",
    "cds_hatchery_vsphere_max_memory_mb metric names should not contain abbreviated units",
    "cds_hatchery_vsphere_pool_total_memory_mb metric names should not contain abbreviated units",
    "cds_hatchery_vsphere_pool_total_vm_count non-histogram and non-summary metrics should not have \"_count\" suffix",
    "cds_hatchery_vsphere_provisioned_vm_count non-histogram and non-summary metrics should not have \"_count\" suffix",
    "cds_hatchery_vsphere_template_count non-histogram and non-summary metrics should not have \"_count\" suffix",
    "cds_hatchery_vsphere_template_memory_mb metric names should not contain abbreviated units",
    "cds_hatchery_vsphere_vm_count non-histogram and non-summary metrics should not have \"_count\" suffix",
    "cds_hatchery_vsphere_worker_memory_mb metric names should not contain abbreviated units",
];

/// Every line promtool prints about `exposition`.
pub fn remarks(exposition: &str) -> Vec<String> {
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed: `apt-get install prometheus` (.ci/run does it)");
    let mut stdin = promtool.stdin.take().expect("piped stdin");
    stdin
        .write_all(exposition.as_bytes())
        .expect("promtool reads the exposition");
    drop(stdin);
    let output = promtool.wait_with_output().expect("promtool ends");

    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    said.lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_owned)
        .collect()
}
