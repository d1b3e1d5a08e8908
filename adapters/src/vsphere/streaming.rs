//! Reads a large answer on two threads: a parser on a blocking thread reads the body and
//! sends back each record as soon as it ends, flat, while the caller reads the records
//! in place and applies them, in order. The parse of a 10,000-VM answer and the use of its
//! records then overlap on two CPUs, instead of following each other.
//!
//! The body is received whole first. Parsing it while it arrives was tried: quick-xml's
//! reader of a byte stream copies each event, which costs more than the transfer (30 ms
//! for 13.6 MB on loopback) it would hide.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use reqwest::Response;
use tokio::sync::mpsc;
use tracing::debug;

use super::error::VsphereError;
use super::record::FlatRecord;
use super::transport::read_capped;
use super::xml::{Ancestry, Element, Envelope, Record, XmlError, read_envelope_flat};

/// Records sent back at once, at most: a wake-up of the caller costs a few microseconds,
/// ten thousand times per 10,000-VM answer if each record had its own.
const BATCH: usize = 64;

/// Batches parsed ahead of the caller, at most: the parser waits beyond.
const BATCHES_AHEAD: usize = 8;

/// What the parser sends back.
#[derive(Debug)]
enum Message {
    /// The open ancestors of the records that follow.
    Ancestors(Vec<Element>),
    /// Read in place on the caller's side.
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
/// to `on_record` with its ancestors, in document order. A failure of `on_record` stops
/// the parser and comes before one of the parse.
pub(crate) async fn read_streamed(
    method: &'static str,
    response: Response,
    limit: u64,
    record: Record,
    on_record: impl FnMut(&[Element], FlatRecord) -> Result<(), VsphereError>,
) -> Result<Envelope, VsphereError> {
    let started = Instant::now();
    let body = read_capped(response, limit).await?;
    let transfer = started.elapsed();
    let bytes = body.len();

    let (messages, mut parsed) = mpsc::channel(BATCHES_AHEAD);
    let parsing = tokio::task::spawn_blocking(move || parse(&body, record, messages));

    let applied = apply(&mut parsed, on_record).await;
    // Refuses the parser's next batch, should it still be reading.
    drop(parsed);
    let envelope = match parsing.await {
        Ok(Ok(envelope)) => Ok(envelope),
        Ok(Err(ParseError::Xml(error))) => Err(VsphereError::Xml(error)),
        Ok(Err(ParseError::Stopped)) => Err(VsphereError::unexpected(method, "read stopped")),
        Err(panic) => Err(VsphereError::unexpected(method, format!("parser: {panic}"))),
    };

    // Tells a slow vCenter from a slow exporter: until the last byte the time is vCenter's
    // and the network's, after it the exporter's.
    let parse = started.elapsed() - transfer;
    debug!(
        method,
        bytes,
        transfer_ms = millis(transfer),
        parse_ms = millis(parse),
        "read a large answer"
    );
    applied?;
    envelope
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Passes the records on, in order, until the parser is done or `on_record` fails.
async fn apply(
    parsed: &mut mpsc::Receiver<Vec<Message>>,
    mut on_record: impl FnMut(&[Element], FlatRecord) -> Result<(), VsphereError>,
) -> Result<(), VsphereError> {
    let mut ancestors = Vec::new();
    while let Some(batch) = parsed.recv().await {
        for message in batch {
            match message {
                Message::Ancestors(elements) => ancestors = elements,
                Message::Record(flat) => on_record(&ancestors, flat)?,
            }
        }
    }
    Ok(())
}

/// On the blocking thread: reads the envelope, sending the records back in batches, each
/// after its ancestors whenever they changed.
fn parse(
    body: &[u8],
    record: Record,
    messages: mpsc::Sender<Vec<Message>>,
) -> Result<Envelope, ParseError> {
    let batch = RefCell::new(Vec::with_capacity(BATCH));
    let send = || {
        let full = batch.replace(Vec::with_capacity(BATCH));
        if full.is_empty() {
            return Ok(());
        }
        messages
            .blocking_send(full)
            .map_err(|_| ParseError::Stopped)
    };
    let mut sent = None;

    let envelope =
        read_envelope_flat::<ParseError>(body, record, |ancestry: Ancestry<'_>, flat| {
            if sent != Some(ancestry.version) {
                let ancestors = Message::Ancestors(ancestry.elements.to_vec());
                batch.borrow_mut().push(ancestors);
                sent = Some(ancestry.version);
            }
            batch.borrow_mut().push(Message::Record(flat));
            if batch.borrow().len() >= BATCH {
                send()?;
            }
            Ok(())
        });

    let flushed = send();
    let envelope = envelope?;
    flushed?;
    Ok(envelope)
}
