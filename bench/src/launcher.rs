//! The govmomi simulator, through the vcsim launcher of tests/vcsim: its ready line, its
//! control commands, and its stop when dropped (stdin closed, killed if it lingers).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;

/// The user name and password the launcher accepts, and nothing else.
pub const USERNAME: &str = "user";
pub const PASSWORD: &str = "bench-pass";

/// The launcher's ready line.
#[derive(Debug, Clone, Deserialize)]
pub struct Ready {
    pub url: String,
    pub resource_pool: String,
    pub series: Vec<ExpectedSeries>,
}

/// One series the exporter must publish, computed by the launcher through the API.
#[derive(Debug, Clone, Deserialize)]
pub struct ExpectedSeries {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Ready {
    /// The value of the expected series `cds_hatchery_vsphere_<name>` without worker
    /// labels.
    pub fn value(&self, name: &str) -> Option<f64> {
        let full = format!("cds_hatchery_vsphere_{name}");
        self.series.iter().find(|s| s.name == full).map(|s| s.value)
    }

    /// The expected `worker_vcpus` series: one per worker.
    pub fn workers(&self) -> impl Iterator<Item = &ExpectedSeries> {
        self.series
            .iter()
            .filter(|s| s.name == "cds_hatchery_vsphere_worker_vcpus")
    }

    /// `127.0.0.1:port`.
    pub fn address(&self) -> &str {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest);
        rest.split('/').next().unwrap_or(rest)
    }
}

/// A running launcher.
#[derive(Debug)]
pub struct Launcher {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The reader that took the ready line; the answers to commands follow on it.
    stdout: BufReader<ChildStdout>,
    pub ready: Ready,
}

impl Launcher {
    /// Starts the launcher with `vms` VMs and waits for its ready line (15 to 60 s at
    /// 10,000 VMs).
    pub fn start(launcher: &Path, vms: usize) -> anyhow::Result<Launcher> {
        let mut child = Command::new(launcher)
            .args(["-listen", "127.0.0.1:0", "-vms", &vms.to_string()])
            .args(["-username", USERNAME, "-password", PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", launcher.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("no stdout pipe")?;

        // From here on, Drop stops the child whatever happens.
        let mut launcher = Launcher {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            ready: Ready {
                url: String::new(),
                resource_pool: String::new(),
                series: Vec::new(),
            },
        };
        let line = launcher.read_line()?;
        launcher.ready = serde_json::from_str(&line).context("bad ready line")?;
        Ok(launcher)
    }

    /// Sends one control command and returns its answer, or an error if it failed.
    pub fn command(&mut self, line: &str) -> anyhow::Result<serde_json::Value> {
        let stdin = self
            .stdin
            .as_mut()
            .context("the launcher's stdin is closed")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;

        let answer = self.read_line()?;
        let answer: serde_json::Value =
            serde_json::from_str(&answer).context("bad answer to a command")?;
        if answer["ok"] != serde_json::Value::Bool(true) {
            bail!("command {line:?} failed: {}", answer["error"]);
        }
        Ok(answer)
    }

    fn read_line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        if line.is_empty() {
            bail!("the launcher exited (see its stderr by running it by hand)");
        }
        Ok(line)
    }
}

impl Drop for Launcher {
    /// Closing stdin asks the launcher to stop; it removes its 10,000 VM folders first,
    /// which takes a few seconds. Killed if it has not stopped after 30 s.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("bench: the launcher did not stop in time, killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
