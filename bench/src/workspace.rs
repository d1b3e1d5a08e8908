//! Where the things measured are, and how they are built: the exporter's release binary,
//! the vcsim launcher, the domain's criterion benchmark.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The workspace root, one level above this crate.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The target directory cargo builds into.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// cargo itself: the one that runs us when there is one.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root());
    command
}

/// Builds the exporter in release mode (quick when it is up to date) and returns it.
pub fn build_exporter() -> anyhow::Result<PathBuf> {
    eprintln!("bench: building the exporter (release)");
    let status = cargo()
        .args(["build", "--release", "-p", "cds-vsphere-exporter"])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build of the exporter failed: {status}");
    }
    Ok(target_dir().join("release/cds-vsphere-exporter"))
}

/// Builds the vcsim launcher with tests/vcsim/build.sh and returns it.
pub fn build_launcher() -> anyhow::Result<PathBuf> {
    eprintln!("bench: building the vcsim launcher");
    let dir = root().join("tests/vcsim");
    let status = Command::new("bash")
        .arg(dir.join("build.sh"))
        .status()
        .context("cannot run bash")?;
    if !status.success() {
        bail!(
            "cannot build the vcsim launcher: it needs Debian's golang-go and \
             golang-github-vmware-govmomi-dev"
        );
    }
    Ok(dir.join("bin/vcsim-launcher"))
}
