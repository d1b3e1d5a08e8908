//! Tests of the vSphere source against captures and a scripted fake vCenter.

mod captures;
mod failures;
mod fake_vcenter;
mod faults;
mod feed;
mod feed_lifecycle;
mod feed_silence;
mod feed_updates;
mod paging;
mod proptests;
mod session;
mod streaming;
mod tls;

use std::path::PathBuf;
use std::time::Duration;

use super::config::VsphereConfig;
use fake_vcenter::FakeVcenter;

/// The path of a file under `tests/fixtures/vsphere/`.
fn fixture_path(name: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/vsphere", name]
        .iter()
        .collect()
}

/// A fixture's bytes, as they go on the wire.
fn fixture(name: &str) -> String {
    let path = fixture_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Settings that point at `fake`, with short limits so failing tests end quickly.
fn config(fake: &FakeVcenter) -> VsphereConfig {
    let mut config = VsphereConfig::new(fake.url());
    config.request_timeout = Duration::from_secs(5);
    config
}
