//! A misbehaving vCenter for the fault tests of the binary: enough vim25 over HTTP/1.1,
//! answered from the captured vcsim bodies, for the exporter to log in and read its VMs and
//! Resource Pool, by polling or through the change feed, and a fault in how it answers
//! that a test switches on and off at any moment.
//!
//! HTTP is spoken by hand, so that a fault can be placed anywhere in an answer: headers
//! with half a body, a chunked body that never ends, no answer at all.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket};
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::Exporter;

/// How late a [`Mode::Slow`] answer comes: far past the tests' `--request-timeout 1s`.
pub const SLOW_BY: Duration = Duration::from_secs(5);

/// How long the fake holds a `WaitForUpdatesEx` before it answers that nothing changed:
/// short, so that a fault switched on meets the next wait soon.
const FEED_HOLD: Duration = Duration::from_millis(500);

/// What a [`Mode::Oversized`] answer streams at most: a mebibyte past the exporter's cap.
pub const OVERSIZED_BYTES: u64 = adapters::vsphere::DEFAULT_MAX_RESPONSE_BYTES + (1 << 20);

/// The Resource Pool path the fake knows, as in the captures (`resgroup-26`).
pub const RESOURCE_POOL: &str = "/DC0/host/DC0_C0/Resources";

/// How the fake answers, from the next request on. Switching the mode closes every idle
/// connection, so that the exporter meets the new mode from a fresh connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every call answered as vcsim would.
    Healthy,
    /// Headers announcing the whole body, half of the body, then the connection closed.
    CutOff,
    /// Status 200 and a body that is not XML.
    Garbage,
    /// Status 500 and an HTML page: no SOAP fault.
    Status500,
    /// The right answer, [`SLOW_BY`] late.
    Slow,
    /// Status 200 and a chunked body of [`OVERSIZED_BYTES`], no length announced.
    Oversized,
    /// The listener is closed, and so is every open connection: connections are refused.
    Refused,
    /// (HTTPS) handshakes present a certificate for `vcenter.other.example`.
    OtherName,
}

/// A virtual machine as the fake reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeVm {
    pub id: String,
    pub name: String,
    pub vcpus: u32,
    pub memory_mb: u64,
    /// `config.annotation`; `None` leaves the property out, as vSphere does when unset.
    pub annotation: Option<String>,
    pub template: bool,
}

impl FakeVm {
    pub fn new(id: usize, name: &str, vcpus: u32, memory_mb: u64, annotation: &str) -> Self {
        Self {
            id: format!("vm-{id}"),
            name: name.to_owned(),
            vcpus,
            memory_mb,
            annotation: (!annotation.is_empty()).then(|| annotation.to_owned()),
            template: false,
        }
    }
}

/// The fake server, on its own runtime; stopped when dropped.
#[derive(Debug)]
pub struct FakeVcenter {
    address: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    runtime: Option<Runtime>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    mode: watch::Sender<Mode>,
}

#[derive(Debug, Default)]
struct State {
    vms: Vec<FakeVm>,
    /// Serve the change feed; when false, `CreatePropertyCollector` is refused and the
    /// exporter polls.
    feed: bool,
    logins: u64,
    sessions: HashSet<String>,
    /// Requests received per method, whatever the mode; VM reads as
    /// `RetrievePropertiesEx/VirtualMachine`.
    calls: HashMap<String, u64>,
}

impl FakeVcenter {
    /// A healthy fake over plain HTTP, serving `vms`.
    pub fn start(vms: Vec<FakeVm>) -> Self {
        Self::launch(vms, Mode::Healthy, false)
    }

    /// A fake whose port refuses connections until the mode changes: a vCenter not up yet.
    pub fn start_refusing(vms: Vec<FakeVm>) -> Self {
        Self::launch(vms, Mode::Refused, false)
    }

    /// A healthy fake over HTTPS, with the certificate of `localhost` and `127.0.0.1`
    /// that [`Self::ca_file`] holds.
    pub fn start_tls(vms: Vec<FakeVm>) -> Self {
        Self::launch(vms, Mode::Healthy, true)
    }

    fn launch(vms: Vec<FakeVm>, mode: Mode, tls: bool) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-vcenter")
            .enable_all()
            .build()
            .expect("a runtime for the fake vCenter");
        // The port is reserved by binding it once; the server binds it again at will.
        let address = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                vms,
                ..State::default()
            }),
            mode: watch::channel(mode).0,
        });
        let acceptors = tls.then(|| (acceptor("matching"), acceptor("other-name")));

        runtime.spawn(listen(address, Arc::clone(&shared), acceptors));

        Self {
            address,
            tls,
            shared,
            runtime: Some(runtime),
        }
    }

    /// The same fake, serving the change feed: the first `WaitForUpdatesEx` enters every
    /// VM, later ones are held a moment and answer that nothing changed.
    pub fn with_feed(self) -> Self {
        self.shared.state().feed = true;
        self
    }

    /// The SDK URL, without credentials.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/sdk", self.address)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.send_replace(mode);
    }

    /// Through the change feed, the new VMs show at the exporter's next full read: the
    /// fake's waits report no change.
    pub fn set_vms(&self, vms: Vec<FakeVm>) {
        self.shared.state().vms = vms;
    }

    /// Successful Logins so far.
    pub fn logins(&self) -> u64 {
        self.shared.state().logins
    }

    /// Sessions logged in and not logged out.
    pub fn live_sessions(&self) -> usize {
        self.shared.state().sessions.len()
    }

    /// Requests received for `method`, answered or not.
    pub fn calls(&self, method: &str) -> u64 {
        let state = self.shared.state();
        state.calls.get(method).copied().unwrap_or(0)
    }

    /// `RetrievePropertiesEx` requests for VMs received, answered or not: one per
    /// inventory read.
    pub fn vm_reads(&self) -> u64 {
        self.calls("RetrievePropertiesEx/VirtualMachine")
    }

    /// A PEM file trusting both certificates the fake may present, so that the one for
    /// another name fails on its name alone.
    pub fn ca_file() -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
        for name in ["matching", "other-name"] {
            let (pem, _) = certificate_paths(name);
            let text = std::fs::read(&pem).unwrap_or_else(|e| panic!("{}: {e}", pem.display()));
            file.write_all(&text).expect("the CA file is written");
        }
        file
    }
}

impl Drop for FakeVcenter {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

// The exporter's process, for the fault tests; here because only a module inside
// `support` sees the child process of `Exporter`.
impl Exporter {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("wait works").is_none()
    }

    /// The resident memory of the process, from `/proc/PID/status`, in KiB.
    pub fn resident_kib(&self) -> u64 {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS in {path}"))
    }
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the app is in the repository")
}

/// The certificate and key: `matching` is the adapter's test certificate for `localhost`
/// and `127.0.0.1`; `other-name` is for `vcenter.other.example` only.
fn certificate_paths(name: &str) -> (PathBuf, PathBuf) {
    let directory = match name {
        "matching" => repository().join("adapters/tests/fixtures/vsphere/tls"),
        _ => repository().join("tests/fixtures/tls"),
    };
    let stem = if name == "matching" { "server" } else { name };
    (
        directory.join(format!("{stem}.pem")),
        directory.join(format!("{stem}.key")),
    )
}

fn acceptor(name: &str) -> TlsAcceptor {
    let (pem, key) = certificate_paths(name);
    let certificates = CertificateDer::pem_file_iter(&pem)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .unwrap_or_else(|e| panic!("{}: {e}", pem.display()));
    let key =
        PrivateKeyDer::from_pem_file(&key).unwrap_or_else(|e| panic!("{}: {e}", key.display()));
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .expect("a usable certificate");
    TlsAcceptor::from(Arc::new(config))
}

/// Accepts connections while the mode allows, and closes the listener when it does not.
async fn listen(
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptors: Option<(TlsAcceptor, TlsAcceptor)>,
) {
    let mut modes = shared.mode.subscribe();
    loop {
        if *modes.borrow_and_update() == Mode::Refused {
            if modes.changed().await.is_err() {
                return;
            }
            continue;
        }

        let listener = bind(address).await;
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    let acceptor = acceptors.as_ref().map(|(matching, other)| {
                        if *modes.borrow() == Mode::OtherName { other.clone() } else { matching.clone() }
                    });
                    tokio::spawn(async move {
                        match acceptor {
                            Some(acceptor) => {
                                if let Ok(stream) = acceptor.accept(stream).await {
                                    serve(stream, shared).await;
                                }
                            }
                            None => serve(stream, shared).await,
                        }
                    });
                }
                changed = modes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if *modes.borrow() == Mode::Refused {
                        break;
                    }
                }
            }
        }
    }
}

/// Binds the port again, with `SO_REUSEADDR` as servers do, so that connections of the
/// last listener still in TIME_WAIT do not keep it busy.
async fn bind(address: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        if socket.bind(address).is_ok() {
            if let Ok(listener) = socket.listen(128) {
                return listener;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the fake vCenter cannot listen on {address} again");
}

/// One connection: requests answered in turn until the client closes, a fault closes, or
/// the mode changes while the connection waits.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, shared: Arc<Shared>) {
    let mut modes = shared.mode.subscribe();
    let mut stream = BufReader::new(stream);
    loop {
        let request = tokio::select! {
            request = read_request(&mut stream) => request,
            _ = modes.changed() => return,
        };
        let Some(request) = request else { return };
        shared.state().record(&request);

        let mode = *modes.borrow_and_update();
        let keep_open = answer(stream.get_mut(), &shared, &request, mode).await;
        if !matches!(keep_open, Ok(true)) {
            let _ = stream.get_mut().shutdown().await;
            return;
        }
    }
}

/// Answers one request as `mode` says; `Ok(false)` when the connection must close.
async fn answer<S: AsyncWrite + Unpin>(
    stream: &mut S,
    shared: &Shared,
    request: &Request,
    mode: Mode,
) -> std::io::Result<bool> {
    match mode {
        Mode::Healthy | Mode::OtherName => {
            let reply = shared.state().reply(request);
            reply.held().await;
            write_reply(stream, &reply, reply.body.len()).await?;
        }
        Mode::Slow => {
            tokio::time::sleep(SLOW_BY).await;
            let reply = shared.state().reply(request);
            reply.held().await;
            write_reply(stream, &reply, reply.body.len()).await?;
        }
        Mode::CutOff => {
            let reply = shared.state().reply(request);
            reply.held().await;
            write_reply(stream, &reply, reply.body.len() / 2).await?;
            return Ok(false);
        }
        Mode::Garbage => {
            let garbage = b"\x00\xffthis is <not xml & never was\n".repeat(8);
            write_reply(stream, &Reply::new(200, garbage.clone()), garbage.len()).await?;
        }
        Mode::Status500 => {
            let page = b"<html><body><h1>500 Internal Server Error</h1></body></html>";
            let reply = Reply::new(500, page.to_vec()).content_type("text/html");
            write_reply(stream, &reply, page.len()).await?;
        }
        Mode::Oversized => {
            write_endless(stream).await?;
            return Ok(false);
        }
        Mode::Refused => return Ok(false),
    }
    Ok(true)
}

/// One HTTP request: the SOAP body and the session cookie.
#[derive(Debug)]
struct Request {
    body: String,
    cookie: Option<String>,
}

impl Request {
    /// The local name of the first element inside `Body`.
    fn method(&self) -> &str {
        let after_body = self.body.split_once("Body>").map_or("", |(_, rest)| rest);
        let tag = after_body.trim_start().trim_start_matches('<');
        let name = tag.split([' ', '>', '/']).next().unwrap_or_default();
        name.rsplit(':').next().unwrap_or_default()
    }

    /// The method, with the type of objects read for `RetrievePropertiesEx`.
    fn call(&self) -> String {
        let method = self.method();
        if method != "RetrievePropertiesEx" {
            return method.to_owned();
        }
        // A datacenter layout read names ResourcePool too: it is told apart first.
        let kind = ["Datacenter", "VirtualMachine", "ResourcePool"]
            .into_iter()
            .find(|kind| self.body.contains(&format!("<type>{kind}</type>")));
        match kind {
            Some(kind) => format!("{method}/{kind}"),
            None => method.to_owned(),
        }
    }

    fn session(&self) -> Option<&str> {
        self.cookie
            .as_deref()?
            .split(';')
            .find_map(|pair| pair.trim().strip_prefix("vmware_soap_session="))
    }
}

async fn read_request<S: AsyncRead + Unpin>(stream: &mut BufReader<S>) -> Option<Request> {
    let mut headers = HashMap::new();
    let mut line = String::new();
    stream.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
    loop {
        line.clear();
        stream.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
    }

    let length = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(Request {
        body: String::from_utf8(body).ok()?,
        cookie: headers.remove("cookie"),
    })
}

#[derive(Debug)]
struct Reply {
    status: u16,
    body: Vec<u8>,
    content_type: &'static str,
    session: Option<String>,
    /// How long the answer is held back, as vCenter holds a wait.
    hold: Duration,
}

impl Reply {
    fn new(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            body,
            content_type: "text/xml; charset=utf-8",
            session: None,
            hold: Duration::ZERO,
        }
    }

    /// A captured answer, with status 500 for a fault as vCenter does.
    fn capture(name: &str) -> Self {
        let body = capture(name);
        let status = if body.contains("Fault>") { 500 } else { 200 };
        Self::new(status, body.into_bytes())
    }

    fn content_type(mut self, content_type: &'static str) -> Self {
        self.content_type = content_type;
        self
    }

    fn hold(mut self, hold: Duration) -> Self {
        self.hold = hold;
        self
    }

    async fn held(&self) {
        tokio::time::sleep(self.hold).await;
    }
}

/// `Content-Length` says the whole body; only `sent` bytes of it go out.
async fn write_reply<S: AsyncWrite + Unpin>(
    stream: &mut S,
    reply: &Reply,
    sent: usize,
) -> std::io::Result<()> {
    let reason = if reply.status == 200 {
        "OK"
    } else {
        "Internal Server Error"
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    );
    if let Some(session) = &reply.session {
        let _ = write!(
            head,
            "Set-Cookie: vmware_soap_session={session}; HttpOnly\r\n"
        );
    }
    head.push_str("\r\n");

    // One write: a head and a body in two small segments would wait on delayed ACKs.
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&reply.body[..sent]);
    stream.write_all(&bytes).await?;
    stream.flush().await
}

/// The start of a VM page, then blanks in chunks of a mebibyte, until
/// [`OVERSIZED_BYTES`] or the client hangs up.
async fn write_endless<S: AsyncWrite + Unpin>(stream: &mut S) -> std::io::Result<()> {
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await?;
    let start = capture("RetrievePropertiesEx-VirtualMachine-view");
    let start = &start[..start.find("<returnval>").unwrap_or(0)];
    write_chunk(stream, start.as_bytes()).await?;

    let blanks = vec![b' '; 1 << 20];
    let mut sent = start.len() as u64;
    while sent < OVERSIZED_BYTES {
        write_chunk(stream, &blanks).await?;
        sent += blanks.len() as u64;
    }
    stream.write_all(b"0\r\n\r\n").await?;
    stream.flush().await
}

async fn write_chunk<S: AsyncWrite + Unpin>(stream: &mut S, chunk: &[u8]) -> std::io::Result<()> {
    stream
        .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
        .await?;
    stream.write_all(chunk).await?;
    stream.write_all(b"\r\n").await
}

impl State {
    fn record(&mut self, request: &Request) {
        *self.calls.entry(request.call()).or_default() += 1;
    }

    /// What vcsim would answer: the captures, a VM page and the change feed's first
    /// answer built from `vms`, and MethodNotFound for what the fake does not know (the
    /// change feed's `CreatePropertyCollector` unless it serves the feed, so that the
    /// exporter polls).
    fn reply(&mut self, request: &Request) -> Reply {
        let call = request.call();
        let anonymous = matches!(call.as_str(), "RetrieveServiceContent" | "Login");
        let in_session = request
            .session()
            .is_some_and(|session| self.sessions.contains(session));
        if !anonymous && !in_session {
            return Reply::capture("Fault-NotAuthenticated-after-Logout");
        }

        match call.as_str() {
            "RetrieveServiceContent" | "CreateContainerView" | "DestroyView" => {
                Reply::capture(&call)
            }
            "Login" => self.login(),
            "Logout" => {
                if let Some(session) = request.session() {
                    self.sessions.remove(session);
                }
                Reply::capture("Logout")
            }
            "FindByInventoryPath" if request.body.contains(&format!(">{RESOURCE_POOL}<")) => {
                Reply::capture("FindByInventoryPath-ResourcePool")
            }
            "FindByInventoryPath" => Reply::capture("handmade/FindByInventoryPath-null"),
            "RetrievePropertiesEx/ResourcePool" => {
                Reply::capture("RetrievePropertiesEx-ResourcePool-runtime")
            }
            "RetrievePropertiesEx/VirtualMachine" => Reply::new(200, vm_page(&self.vms)),
            "CurrentTime" | "CancelWaitForUpdates" | "DestroyPropertyCollector" => {
                Reply::capture(&call)
            }
            "CreatePropertyCollector" if self.feed => Reply::capture(&call),
            "CreateFilter" => Reply::capture("CreateFilter-VirtualMachine-view"),
            "WaitForUpdatesEx" if request.body.contains("<version>") => {
                Reply::capture("WaitForUpdatesEx-2-maxWaitSeconds-expired").hold(FEED_HOLD)
            }
            "WaitForUpdatesEx" => Reply::new(200, update_set(&self.vms)),
            other => method_not_found(other.split('/').next().unwrap_or(other)),
        }
    }

    fn login(&mut self) -> Reply {
        self.logins += 1;
        let session = format!("fake-session-{}", self.logins);
        self.sessions.insert(session.clone());
        Reply {
            session: Some(session),
            ..Reply::capture("Login")
        }
    }
}

/// The body of a captured answer.
fn capture(name: &str) -> String {
    let path = repository()
        .join("adapters/tests/fixtures/vsphere")
        .join(format!("{name}.response.xml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// vcsim's answer to a method it does not implement.
fn method_not_found(method: &str) -> Reply {
    let body =
        capture("ContinueRetrievePropertiesEx").replace("ContinueRetrievePropertiesEx", method);
    Reply::new(500, body.into_bytes())
}

/// The captured VM page's envelope around objects written as vcsim writes them.
fn vm_page(vms: &[FakeVm]) -> Vec<u8> {
    let mut objects = String::new();
    for vm in vms {
        let _ = write!(
            objects,
            r#"<objects><obj type="VirtualMachine">{}</obj>"#,
            vm.id
        );
        for (name, value) in properties(vm) {
            let _ = write!(objects, "<propSet><name>{name}</name>{value}</propSet>");
        }
        objects.push_str("</objects>");
    }

    in_envelope("RetrievePropertiesEx-VirtualMachine-view", &objects)
}

/// The change feed's first answer, as vcsim writes it: every VM entering, on the filter
/// of the `CreateFilter` capture.
fn update_set(vms: &[FakeVm]) -> Vec<u8> {
    let filter = capture("CreateFilter-VirtualMachine-view");
    let filter = between(
        &filter,
        r#"<returnval type="PropertyFilter">"#,
        "</returnval>",
    );

    let mut set = format!(
        r#"<version>-</version><filterSet><filter type="PropertyFilter">{filter}</filter>"#
    );
    for vm in vms {
        let _ = write!(
            set,
            r#"<objectSet><kind>enter</kind><obj type="VirtualMachine">{}</obj>"#,
            vm.id
        );
        for (name, value) in properties(vm) {
            let _ = write!(
                set,
                "<changeSet><name>{name}</name><op>assign</op>{value}</changeSet>"
            );
        }
        set.push_str("</objectSet>");
    }
    set.push_str("</filterSet>");

    in_envelope("WaitForUpdatesEx-1-initial-enter", &set)
}

/// The capture's envelope, with `returnval` holding `content`.
fn in_envelope(capture_name: &str, content: &str) -> Vec<u8> {
    let capture = capture(capture_name);
    let (head, rest) = capture.split_once("<returnval>").expect("a returnval");
    let (_, tail) = rest.split_once("</returnval>").expect("a returnval");
    format!("{head}<returnval>{content}</returnval>{tail}").into_bytes()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let (_, rest) = text.split_once(start).expect("the start");
    rest.split_once(end).expect("the end").0
}

/// The properties the exporter asks for, each with its typed `val`; an unset annotation
/// is left out, as vSphere does.
fn properties(vm: &FakeVm) -> Vec<(&'static str, String)> {
    let mut properties = vec![
        ("name", value("xsd:string", &vm.name)),
        (
            "summary.config.numCpu",
            value("xsd:int", &vm.vcpus.to_string()),
        ),
        (
            "summary.config.memorySizeMB",
            value("xsd:int", &vm.memory_mb.to_string()),
        ),
    ];
    if let Some(annotation) = &vm.annotation {
        properties.push(("config.annotation", value("xsd:string", annotation)));
    }
    properties.push((
        "summary.config.template",
        value("xsd:boolean", &vm.template.to_string()),
    ));
    properties.push((
        "runtime.powerState",
        value("VirtualMachinePowerState", "poweredOn"),
    ));
    properties
}

fn value(kind: &str, value: &str) -> String {
    format!(
        r#"<val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="{kind}">{}</val>"#,
        escape(value)
    )
}

/// XML text: markup escaped, and control characters (but tab and line feed) written as
/// character references, so that a carriage return is not read as a line end.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '\t' | '\n' => escaped.push(c),
            c if c.is_control() => {
                let _ = write!(escaped, "&#x{:X};", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    escaped
}
