//! The exporter's release binary: served on a free loopback port and stopped with
//! SIGTERM when dropped, or run once with its own CPU time and peak memory.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::launcher::{self, Ready};
use crate::spawner;
use crate::sys::{self, ChildUsage};

/// The options that point the exporter at the launcher's simulator; the password goes in
/// the environment (see [`command`]).
pub fn vcenter_args(ready: &Ready, url: &str) -> Vec<String> {
    [
        "--vcenter-url",
        url,
        "--username",
        launcher::USERNAME,
        "--resource-pool",
        &ready.resource_pool,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// What the exporters log: info, and for `start_following`, each answer of the feed.
const LOG: &str = "info";
const LOG_FEED: &str = "info,adapters::vsphere::follower=debug";

/// The debug line of the change feed once an answer is applied to its mirror.
pub const FEED_APPLIED: &str = "applied vSphere inventory changes";

/// The exporter with `args`, logging at info level without colours.
fn command(binary: &Path, args: &[String]) -> Command {
    command_logging(binary, args, LOG)
}

fn command_logging(binary: &Path, args: &[String], log: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .args(args)
        .env("CDS_VSPHERE_EXPORTER_PASSWORD", launcher::PASSWORD)
        .env("RUST_LOG", log)
        .env("NO_COLOR", "1");
    command
}

/// An exporter serving `/mon/metrics`.
#[derive(Debug)]
pub struct Exporter {
    child: Child,
    pub address: SocketAddr,
    /// Its log lines, read by a thread.
    pub logs: mpsc::Receiver<LogLine>,
}

/// A line the exporter logged, and when the bench read it.
#[derive(Debug)]
pub struct LogLine {
    pub at: Instant,
    pub text: String,
}

impl Exporter {
    /// Starts the exporter on `127.0.0.1:0` and waits for the start line that gives the
    /// port.
    pub fn start(binary: &Path, args: &[String]) -> anyhow::Result<Exporter> {
        Self::spawn(command(binary, args))
    }

    /// Starts the exporter as `start` does, and has it also log each answer of its change
    /// feed once applied (`FEED_APPLIED`).
    pub fn start_following(binary: &Path, args: &[String]) -> anyhow::Result<Exporter> {
        Self::spawn(command_logging(binary, args, LOG_FEED))
    }

    fn spawn(mut command: Command) -> anyhow::Result<Exporter> {
        let program = command.get_program().to_owned();
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", Path::new(&program).display()))?;
        let logs = lines_of(child.stderr.take().context("no stderr pipe")?);

        let mut exporter = Exporter {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            logs,
        };
        let line = exporter.wait_for_log("serving metrics", Duration::from_secs(30))?;
        exporter.address = field(&line, "address")
            .context("no address in the start line")?
            .parse()
            .context("bad address in the start line")?;
        Ok(exporter)
    }

    pub fn metrics_url(&self) -> String {
        format!("http://{}/mon/metrics", self.address)
    }

    /// Waits for a log line containing `needle`.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.logs.recv_timeout(left) {
                Ok(line) if line.text.contains(needle) => return Ok(line.text),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        bail!("the exporter logged no {needle:?} within {timeout:?}")
    }
}

impl Drop for Exporter {
    /// SIGTERM, so that it logs out of vCenter; killed if it has not stopped after 10 s.
    fn drop(&mut self) {
        if sys::terminate(self.child.id()).is_ok() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `--once` run.
#[derive(Debug)]
pub struct OnceRun {
    /// From spawn to exit.
    pub wall: Duration,
    pub usage: ChildUsage,
    /// The metrics it printed.
    pub exposition: String,
}

/// Runs the exporter with `--once` and `args`, through the spawner (see `spawner`), and
/// measures it. The wall time includes the spawner's start, about a millisecond.
pub fn run_once(binary: &Path, args: &[String]) -> anyhow::Result<OnceRun> {
    let mut once = command(binary, args);
    once.arg("--once");

    let started = Instant::now();
    let output = spawner::wrap(&once)?
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let wall = started.elapsed();

    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("the spawner failed: {stderr}");
    }
    let usage: spawner::Usage = serde_json::from_str(stderr.lines().last().unwrap_or_default())
        .with_context(|| format!("bad usage line from the spawner: {stderr}"))?;
    if usage.exit_code != Some(0) {
        bail!("the exporter --once ended with {:?}", usage.exit_code);
    }

    Ok(OnceRun {
        wall,
        usage: ChildUsage {
            exit_code: usage.exit_code,
            user: Duration::from_micros(usage.user_micros),
            system: Duration::from_micros(usage.system_micros),
            max_rss_bytes: usage.max_rss_bytes,
        },
        exposition: String::from_utf8(output.stdout).context("an exposition not in UTF-8")?,
    })
}

fn lines_of(stream: impl Read + Send + 'static) -> mpsc::Receiver<LogLine> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for text in BufReader::new(stream).lines().map_while(Result::ok) {
            let line = LogLine {
                at: Instant::now(),
                text,
            };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

/// The value of `name=value` in a tracing log line.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    line[start..].split_whitespace().next()
}
