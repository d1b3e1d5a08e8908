//! The govmomi simulator, seeded like a hatchery's vCenter by the Go launcher in
//! `tests/vcsim`, which also computes through the vSphere API what every series must be.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

use super::Series;

/// The launcher's ready line.
#[derive(Debug, Clone, Deserialize)]
pub struct Ready {
    pub url: String,
    pub ca_file: String,
    pub datacenter: String,
    pub resource_pool: String,
    pub username: String,
    series: Vec<ExpectedSeries>,
}

#[derive(Debug, Clone, Deserialize)]
struct ExpectedSeries {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Ready {
    /// Every series the exporter must publish about the inventory and the pool.
    pub fn expected(&self) -> BTreeMap<Series, f64> {
        to_series(&self.series)
    }

    /// The address the simulator listens on, `127.0.0.1:port`.
    pub fn address(&self) -> &str {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest);
        rest.split('/').next().unwrap_or(rest)
    }
}

fn to_series(expected: &[ExpectedSeries]) -> BTreeMap<Series, f64> {
    expected
        .iter()
        .map(|s| {
            let series = Series {
                name: s.name.clone(),
                labels: s.labels.clone(),
            };
            (series, s.value)
        })
        .collect()
}

/// A running simulator, stopped when dropped.
pub struct Vcsim {
    child: Child,
    pub ready: Ready,
    /// The launcher's stdout, past the ready line: the answers to control commands.
    answers: BufReader<ChildStdout>,
    /// Stopped by [`Self::freeze`].
    frozen: bool,
    /// The launcher's scratch files (its certificate, vcsim's VM folders), removed on drop
    /// even when the launcher was killed.
    _scratch: tempfile::TempDir,
}

/// How to seed and serve the simulator.
#[derive(Debug, Clone)]
pub struct VcsimOptions<'a> {
    pub vms: usize,
    pub seed: u64,
    pub hatchery: &'a str,
    pub password: &'a str,
    pub listen: String,
    pub idle_timeout: Option<Duration>,
    pub tls: bool,
}

impl Default for VcsimOptions<'_> {
    fn default() -> Self {
        VcsimOptions {
            vms: 300,
            seed: 1,
            hatchery: "hatchery-vsphere",
            password: "pass",
            listen: "127.0.0.1:0".into(),
            idle_timeout: None,
            tls: false,
        }
    }
}

impl Vcsim {
    pub fn start(options: &VcsimOptions<'_>) -> Vcsim {
        let scratch = tempfile::tempdir().expect("a scratch folder");
        let mut command = Command::new(launcher());
        command
            .env("TMPDIR", scratch.path())
            .args(["-listen", &options.listen, "-vms", &options.vms.to_string()])
            .args([
                "-seed",
                &options.seed.to_string(),
                "-hatchery",
                options.hatchery,
            ])
            .args(["-username", "user", "-password", options.password]);
        if let Some(timeout) = options.idle_timeout {
            command.args(["-idle-timeout", &format!("{}ms", timeout.as_millis())]);
        }
        if options.tls {
            command.arg("-tls-dir").arg(scratch.path().join("tls"));
        }

        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the launcher starts");
        let mut answers = BufReader::new(child.stdout.take().expect("piped stdout"));
        let ready = read_ready(&mut answers);
        Vcsim {
            child,
            ready,
            answers,
            frozen: false,
            _scratch: scratch,
        }
    }

    /// Sends a control command (see tests/vcsim/README.md) and returns its answer, which
    /// must say `"ok": true`.
    pub fn command(&mut self, line: &str) -> serde_json::Value {
        let stdin = self.child.stdin.as_mut().expect("the launcher's stdin");
        writeln!(stdin, "{line}").expect("the command is sent");
        stdin.flush().expect("the command is sent");

        let mut answer = String::new();
        self.answers.read_line(&mut answer).expect("an answer");
        let answer: serde_json::Value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("bad answer to {line:?} ({e}): {answer}"));
        assert_eq!(answer["ok"], true, "{line}: {answer}");
        answer
    }

    /// Every series the exporter must publish for the simulator as it is now.
    pub fn expected_now(&mut self) -> BTreeMap<Series, f64> {
        let answer = self.command("expect");
        let series: Vec<ExpectedSeries> =
            serde_json::from_value(answer["series"].clone()).expect("expected series");
        to_series(&series)
    }

    /// How many sessions the simulator holds.
    pub fn sessions(&mut self) -> u64 {
        self.command("sessions")["sessions"]
            .as_u64()
            .expect("a count")
    }

    /// Freezes the simulator (SIGSTOP), as a vCenter that hangs: its connections stay
    /// open and the kernel still accepts new ones, but nothing is answered.
    pub fn freeze(&mut self) {
        self.signal("STOP");
        self.frozen = true;
    }

    /// Lets a frozen simulator go on (SIGCONT).
    pub fn thaw(&mut self) {
        self.signal("CONT");
        self.frozen = false;
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} of the launcher: {status}");
    }

    /// Kills the simulator at once, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vcsim {
    /// Closing its stdin asks the launcher to stop; it is killed if it does not in time.
    fn drop(&mut self) {
        if self.frozen {
            self.thaw();
        }
        drop(self.child.stdin.take());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_ready(answers: &mut BufReader<ChildStdout>) -> Ready {
    let mut line = String::new();
    answers.read_line(&mut line).expect("the ready line");
    assert!(!line.is_empty(), "the launcher exited before it was ready");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad ready line ({e}): {line}"))
}

/// The launcher, built once per test binary with Debian's Go and govmomi source.
fn launcher() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vcsim");
            let status = Command::new("bash")
                .arg(dir.join("build.sh"))
                .status()
                .expect("bash runs");
            assert!(
                status.success(),
                "cannot build the vcsim launcher: it needs Debian's golang-go and \
                 golang-github-vmware-govmomi-dev (.ci/run installs them)"
            );
            dir.join("bin/vcsim-launcher")
        })
        .clone()
}
