//! Reads a large answer while it arrives: a task receives the body chunk by chunk, a
//! parser on a blocking thread reads the chunks as they come and sends back each record
//! as soon as it ends, and the caller applies the records in order. Receiving, parsing
//! and applying then overlap, and the parse of a 10,000-VM answer is mostly done when its
//! last byte arrives, instead of starting then.

use std::io::{self, BufRead, Read};

use bytes::{Buf, Bytes};
use reqwest::Response;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::error::VsphereError;
use super::xml::{Ancestry, Element, Envelope, FlatRecord, Record, XmlError, read_envelope_from};

/// Records parsed ahead of the caller, at most: the parser waits beyond.
const RECORDS_AHEAD: usize = 256;

/// What the parser sends back.
#[derive(Debug)]
enum Message {
    /// The open ancestors of the records that follow.
    Ancestors(Vec<Element>),
    /// Made a tree on the caller's side, so that the parser's thread does less.
    Record(FlatRecord),
}

/// Why the parser stopped before the end.
#[derive(Debug)]
enum ParseError {
    Xml(XmlError),
    /// The caller gave up on the answer.
    Stopped,
}

impl From<XmlError> for ParseError {
    fn from(error: XmlError) -> Self {
        ParseError::Xml(error)
    }
}

/// Reads the body of `response` (at most `limit` bytes), giving each element of `record`
/// to `on_record` with its ancestors, in document order. A failure of the transfer comes
/// first, as it also breaks the parse; then one of `on_record`, then one of the parse.
pub(crate) async fn read_streamed(
    method: &'static str,
    response: Response,
    limit: u64,
    record: Record,
    on_record: impl FnMut(&[Element], Element) -> Result<(), VsphereError>,
) -> Result<Envelope, VsphereError> {
    let (chunks, arriving) = mpsc::unbounded_channel();
    let (messages, mut parsed) = mpsc::channel(RECORDS_AHEAD);
    let receiving = tokio::spawn(receive(response, limit, chunks));
    let parsing =
        tokio::task::spawn_blocking(move || parse(Chunks::new(arriving), record, messages));

    let applied = apply(&mut parsed, on_record).await;
    if applied.is_err() {
        // Stops both: the parser sees the body end, then its next record refused.
        receiving.abort();
        drop(parsed);
    }
    let envelope = match parsing.await {
        Ok(Ok(envelope)) => Ok(envelope),
        Ok(Err(ParseError::Xml(error))) => Err(VsphereError::Xml(error)),
        Ok(Err(ParseError::Stopped)) => Err(VsphereError::unexpected(method, "read stopped")),
        Err(panic) => Err(VsphereError::unexpected(method, format!("parser: {panic}"))),
    };

    let received = finish(method, receiving, envelope.is_err()).await;
    received?;
    applied?;
    envelope
}

/// Passes the records on, in order, until the parser is done or `on_record` fails.
async fn apply(
    parsed: &mut mpsc::Receiver<Message>,
    mut on_record: impl FnMut(&[Element], Element) -> Result<(), VsphereError>,
) -> Result<(), VsphereError> {
    let mut ancestors = Vec::new();
    while let Some(message) = parsed.recv().await {
        match message {
            Message::Ancestors(elements) => ancestors = elements,
            Message::Record(flat) => on_record(&ancestors, flat.into_element())?,
        }
    }
    Ok(())
}

/// Sends the body on as it arrives; ends early when the parser no longer wants it.
async fn receive(
    mut response: Response,
    limit: u64,
    chunks: mpsc::UnboundedSender<Bytes>,
) -> Result<(), VsphereError> {
    let too_large = VsphereError::BodyTooLarge { limit };
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(too_large);
    }

    let mut received = 0;
    while let Some(chunk) = response.chunk().await.map_err(super::transport::classify)? {
        received += chunk.len() as u64;
        if received > limit {
            return Err(too_large);
        }
        if chunks.send(chunk).is_err() {
            break;
        }
    }
    Ok(())
}

/// The transfer's outcome; cut short when the parse has failed, as the rest of the body
/// would change nothing.
async fn finish(
    method: &'static str,
    receiving: JoinHandle<Result<(), VsphereError>>,
    parse_failed: bool,
) -> Result<(), VsphereError> {
    if parse_failed {
        receiving.abort();
    }
    match receiving.await {
        Ok(received) => received,
        Err(stopped) if stopped.is_cancelled() => Ok(()),
        Err(panic) => Err(VsphereError::unexpected(
            method,
            format!("receiver: {panic}"),
        )),
    }
}

/// On the blocking thread: reads the envelope, sending each record back, preceded by its
/// ancestors whenever they changed.
fn parse(
    source: Chunks,
    record: Record,
    messages: mpsc::Sender<Message>,
) -> Result<Envelope, ParseError> {
    let mut sent = None;
    read_envelope_from(source, record, |ancestry: Ancestry<'_>, element| {
        if sent != Some(ancestry.version) {
            let ancestors = Message::Ancestors(ancestry.elements.to_vec());
            messages
                .blocking_send(ancestors)
                .map_err(|_| ParseError::Stopped)?;
            sent = Some(ancestry.version);
        }
        messages
            .blocking_send(Message::Record(element))
            .map_err(|_| ParseError::Stopped)
    })
}

/// The body as a reader for the parser: each read waits for the next chunk, and the body
/// ends when the receiving task does.
#[derive(Debug)]
struct Chunks {
    arriving: mpsc::UnboundedReceiver<Bytes>,
    current: Bytes,
}

impl Chunks {
    fn new(arriving: mpsc::UnboundedReceiver<Bytes>) -> Self {
        Self {
            arriving,
            current: Bytes::new(),
        }
    }
}

impl Read for Chunks {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let count = available.len().min(buffer.len());
        buffer[..count].copy_from_slice(&available[..count]);
        self.consume(count);
        Ok(count)
    }
}

impl BufRead for Chunks {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.current.is_empty() {
            match self.arriving.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => break,
            }
        }
        Ok(&self.current)
    }

    fn consume(&mut self, count: usize) {
        self.current.advance(count);
    }
}
