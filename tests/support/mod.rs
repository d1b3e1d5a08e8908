//! Helpers of the integration tests: run the real binary, scrape it, read the exposition.

#![allow(
    dead_code,
    reason = "each test binary uses its own part of the helpers"
)]

pub mod expectations;
pub mod exposition;
pub mod fake_vcenter;
pub mod promtool;
pub mod vcsim;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use exposition::{Exposition, Series};

/// The exporter under test, killed when dropped.
pub struct Exporter {
    child: Child,
    pub address: SocketAddr,
    /// Every log line the exporter wrote so far, read by a thread.
    logs: mpsc::Receiver<String>,
    seen: Vec<String>,
}

pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cds-vsphere-exporter"))
}

impl Exporter {
    /// Starts the binary on a free port of 127.0.0.1 and waits for its start line.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Exporter {
        let mut child = binary()
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(envs.iter().copied())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the exporter starts");
        let logs = read_lines(child.stderr.take().expect("piped stderr"));

        let mut exporter = Exporter {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            logs,
            seen: Vec::new(),
        };
        let line = exporter.wait_for_log("serving metrics", Duration::from_secs(30));
        exporter.address = field(&line, "address")
            .parse()
            .expect("an address in the start line");
        exporter
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Scrapes `/mon/metrics`.
    pub fn scrape(&self) -> Exposition {
        let text = http_get(&self.url("/mon/metrics"));
        Exposition::parse(&text)
    }

    /// Scrapes until `ready` holds, or panics after `timeout` with the last exposition.
    pub fn scrape_until(
        &mut self,
        timeout: Duration,
        ready: impl Fn(&Exposition) -> bool,
    ) -> Exposition {
        let deadline = Instant::now() + timeout;
        loop {
            let exposition = self.scrape();
            if ready(&exposition) {
                return exposition;
            }
            if Instant::now() > deadline {
                self.drain_logs();
                panic!(
                    "not ready after {timeout:?}:\n{exposition:?}\nlogs:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for a log line containing `needle` and returns it.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> String {
        if let Some(line) = self.seen.iter().find(|line| line.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.logs.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no log line with {needle:?} in:\n{}", self.seen.join("\n"));
    }

    /// Every log line so far.
    pub fn logs(&mut self) -> Vec<String> {
        self.drain_logs();
        self.seen.clone()
    }

    fn drain_logs(&mut self) {
        while let Ok(line) = self.logs.try_recv() {
            self.seen.push(line);
        }
    }

    /// Sends `signal` and waits for the exit, at most `timeout`.
    pub fn stop(mut self, signal: &str, timeout: Duration) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill runs");

        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait works") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the exporter did not stop within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

/// The value of `name=value` in a tracing log line.
pub fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let start = line
        .find(&format!("{name}="))
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        + name.len()
        + 1;
    line[start..].split_whitespace().next().unwrap_or_default()
}

/// A GET that must answer 200; the body as text.
pub fn http_get(url: &str) -> String {
    let (status, body) = http(url, "GET");
    assert_eq!(status, 200, "GET {url}: {body}");
    body
}

/// One HTTP request with no body; the status code and the body.
pub fn http(url: &str, method: &str) -> (u16, String) {
    let answer = http_with(url, method, &[]);
    let body = String::from_utf8(answer.body).expect("a text body");
    (answer.status, body)
}

/// An answer of [`http_with`].
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    /// The header lines, names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        let found = self.headers.iter().find(|(n, _)| n == name);
        found.map(|(_, value)| value.as_str())
    }
}

/// One HTTP request with no body and the extra `headers`.
///
/// Written by hand so that tests can send any method and see the raw answer. HTTP/1.0,
/// so that no server answers in chunks.
pub fn http_with(url: &str, method: &str, headers: &[(&str, &str)]) -> HttpAnswer {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(host).unwrap_or_else(|e| panic!("{url}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    let extra: String = headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\n{extra}\r\n"
    )
    .expect("the request is sent");

    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("a response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head and a body");
    let head = String::from_utf8(response[..split].to_vec()).expect("a text head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpAnswer {
        status,
        headers,
        body: response[split + 4..].to_vec(),
    }
}
