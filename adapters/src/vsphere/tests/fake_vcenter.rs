//! A scripted HTTP server standing in for vCenter: canned SOAP bodies per method, every
//! request recorded for the test to check.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::fixture;

/// The view the `CreateContainerView` capture returns.
pub(super) const CAPTURED_VIEW: &str =
    "session[8c826521-8b50-44e0-b133-254f79dbabc7]2ad58597-d22d-41e4-8ef0-874fed628910";

/// How a reply's body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    ContentLength,
    Chunked,
    /// Announces the whole length, sends this many bytes, and closes the connection.
    CutAfter(usize),
    /// Announces the whole length, sends this many bytes, and sends nothing more for a
    /// minute.
    StallAfter(usize),
}

#[derive(Debug, Clone)]
pub(super) struct Reply {
    status: u16,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    framing: Framing,
    delay: Duration,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            body: body.into(),
            headers: Vec::new(),
            framing: Framing::ContentLength,
            delay: Duration::ZERO,
        }
    }

    /// A fixture, with status 500 for the `Fault-*` ones as vCenter does.
    pub fn fixture(name: &str) -> Self {
        let file = name.rsplit('/').next().unwrap_or(name);
        let status = if file.starts_with("Fault-") { 500 } else { 200 };
        Self::new(status, fixture(&format!("{name}.response.xml")))
    }

    /// A Login answer giving `cookie` as the session cookie.
    pub fn login(cookie: &str) -> Self {
        let set_cookie = format!("vmware_soap_session={cookie}; HttpOnly");
        Self::fixture("Login").header("Set-Cookie", &set_cookie)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn framing(mut self, framing: Framing) -> Self {
        self.framing = framing;
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(super) struct Recorded {
    /// The SOAP method: the first element in `Body`.
    pub method: String,
    pub cookie: Option<String>,
    pub soap_action: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

#[derive(Debug, Default)]
struct Script {
    /// Replies per method, in order; the last one is repeated.
    replies: HashMap<String, VecDeque<Reply>>,
    requests: Vec<Recorded>,
}

impl Script {
    fn reply_to(&mut self, request: Recorded) -> Reply {
        let queue = self.replies.get_mut(&request.method);
        let reply = match queue {
            Some(queue) if queue.len() > 1 => queue.pop_front(),
            Some(queue) => queue.front().cloned(),
            None => None,
        };
        let missing = format!("no scripted reply to {}", request.method);
        self.requests.push(request);
        reply.unwrap_or_else(|| Reply::new(501, missing))
    }
}

#[derive(Debug)]
pub(super) struct FakeVcenter {
    address: SocketAddr,
    scheme: &'static str,
    script: Arc<Mutex<Script>>,
}

impl FakeVcenter {
    /// A plain HTTP server with no replies scripted.
    pub async fn start() -> Self {
        Self::listen(None).await
    }

    /// An HTTPS server presenting the certificate of `tests/fixtures/vsphere/tls/`.
    pub async fn start_tls(config: Arc<rustls::ServerConfig>) -> Self {
        Self::listen(Some(TlsAcceptor::from(config))).await
    }

    /// A server answering the session calls with vcsim's captures; Login gives the cookie
    /// `session-1`.
    pub async fn vcsim() -> Self {
        let fake = Self::start().await;
        fake.script_session();
        fake
    }

    pub fn script_session(&self) {
        self.answer(
            "RetrieveServiceContent",
            [Reply::fixture("RetrieveServiceContent")],
        );
        self.answer("Login", [Reply::login("session-1")]);
        self.answer(
            "CreateContainerView",
            [Reply::fixture("CreateContainerView")],
        );
        self.answer("DestroyView", [Reply::fixture("DestroyView")]);
        self.answer("Logout", [Reply::fixture("Logout")]);
    }

    async fn listen(tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("local address");
        let script = Arc::new(Mutex::new(Script::default()));
        let scheme = if tls.is_some() { "https" } else { "http" };

        tokio::spawn(serve(listener, tls, script.clone()));

        Self {
            address,
            scheme,
            script,
        }
    }

    /// The SDK URL with the credentials vcsim accepts by default.
    pub fn url(&self) -> Url {
        let url = format!("{}://user:pass@{}/sdk", self.scheme, self.address);
        Url::parse(&url).expect("url")
    }

    /// Replaces the replies to `method`; the last one is repeated.
    pub fn answer(&self, method: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut script = self.script.lock().expect("script");
        script
            .replies
            .insert(method.to_owned(), replies.into_iter().collect());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.script.lock().expect("script").requests.clone()
    }

    pub fn methods(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.method).collect()
    }

    pub fn count(&self, method: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method)
            .count()
    }

    /// The requests made for `method`, in order.
    pub fn requests_for(&self, method: &str) -> Vec<Recorded> {
        let requests = self.requests().into_iter();
        requests.filter(|r| r.method == method).collect()
    }
}

async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, script: Arc<Mutex<Script>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let script = script.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve_connection(stream, script).await;
                    }
                }
                None => serve_connection(stream, script).await,
            }
        });
    }
}

async fn serve_connection<S>(stream: S, script: Arc<Mutex<Script>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    if starts_with_tls_handshake(&mut stream).await {
        // As Go's net/http does on a plain port: a plain answer the client cannot read.
        let refusal =
            "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";
        let _ = stream.get_mut().write_all(refusal.as_bytes()).await;
        return;
    }

    while let Some(request) = read_request(&mut stream).await {
        let reply = script.lock().expect("script").reply_to(request);
        tokio::time::sleep(reply.delay).await;

        let written = write_reply(stream.get_mut(), &reply).await;
        if written.is_err() || matches!(reply.framing, Framing::CutAfter(_)) {
            return;
        }
    }
}

/// A TLS record of type handshake (22) opens a ClientHello.
async fn starts_with_tls_handshake<S: AsyncRead + Unpin>(stream: &mut BufReader<S>) -> bool {
    let buffered = stream.fill_buf().await.unwrap_or_default();
    buffered.first() == Some(&0x16)
}

async fn read_request<S: AsyncRead + Unpin>(stream: &mut BufReader<S>) -> Option<Recorded> {
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

    let length = headers.get("content-length").and_then(|l| l.parse().ok())?;
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    let body = String::from_utf8(body).ok()?;

    Some(Recorded {
        method: soap_method(&body),
        cookie: headers.remove("cookie"),
        soap_action: headers.remove("soapaction"),
        content_type: headers.remove("content-type"),
        body,
    })
}

/// The local name of the first element inside `Body`.
fn soap_method(body: &str) -> String {
    let after_body = body.split_once("Body>").map_or("", |(_, rest)| rest);
    let tag = after_body.trim_start().trim_start_matches('<');
    let name = tag.split([' ', '>', '/']).next().unwrap_or_default();
    name.rsplit(':').next().unwrap_or_default().to_owned()
}

async fn write_reply<S: AsyncWrite + Unpin>(stream: &mut S, reply: &Reply) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} Scripted\r\nContent-Type: text/xml; charset=utf-8\r\n",
        reply.status
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }

    match reply.framing {
        Framing::ContentLength | Framing::CutAfter(_) | Framing::StallAfter(_) => {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
            let sent = match reply.framing {
                Framing::CutAfter(n) | Framing::StallAfter(n) => {
                    &reply.body[..n.min(reply.body.len())]
                }
                _ => &reply.body[..],
            };
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(sent).await?;
            if matches!(reply.framing, Framing::StallAfter(_)) {
                stream.flush().await?;
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
        }
        Framing::Chunked => {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            stream.write_all(head.as_bytes()).await?;
            for chunk in reply.body.chunks(4096) {
                stream
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await?;
                stream.write_all(chunk).await?;
                stream.write_all(b"\r\n").await?;
            }
            stream.write_all(b"0\r\n\r\n").await?;
        }
    }

    stream.flush().await?;
    if let Framing::CutAfter(_) = reply.framing {
        stream.shutdown().await?;
    }
    Ok(())
}
