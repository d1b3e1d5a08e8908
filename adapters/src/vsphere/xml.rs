//! Reads SOAP answers into a small element tree with quick-xml.
//!
//! The tree keeps what vim25 decoding needs: local names, the `type` attribute of managed
//! object references, `xsi:type` (resolved by namespace URI, whatever its prefix) and
//! text with every entity decoded. Comments, processing instructions and other
//! attributes are dropped.
//!
//! The answers that carry an inventory are large (about 1.4 kB a VM, 200,000 elements for
//! 10,000 VMs), so their bulk is not kept: each element named by a [`Record`] is handed
//! over, flat (see `record.rs`), as soon as it ends, and the tree keeps only the rest.
//! Names and types that vim25 answers repeat are borrowed from a table rather than
//! allocated.

use std::borrow::Cow;

use quick_xml::encoding::EncodingError;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::attributes::{AttrError, Attribute};
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::PrefixDeclaration;
use quick_xml::{Reader, XmlVersion};

use super::error::SoapFault;
use super::moref::Moref;
use super::record::{Capacity, FlatRecord, RecordBuilder};

const SOAP_ENVELOPE: &[u8] = b"http://schemas.xmlsoap.org/soap/envelope/";
const XML_SCHEMA_INSTANCE: &[u8] = b"http://www.w3.org/2001/XMLSchema-instance";

/// vim25 answers nest about ten deep; the bound keeps a hostile document from building a
/// tree whose recursive drop would overflow the stack.
const MAX_DEPTH: usize = 64;

/// Why an answer could not be read as XML, or not as a SOAP envelope.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    #[error("not well-formed xml")]
    Syntax(#[from] quick_xml::Error),
    #[error("malformed attribute")]
    Attribute(#[from] AttrError),
    /// Not a `#[source]`: quick-xml's encoding error already prints its own cause, which
    /// a chain would then print twice.
    #[error("text is not valid utf-8: {0}")]
    Encoding(EncodingError),
    #[error("document ends inside <{0}>")]
    Truncated(String),
    #[error("document has no element")]
    Empty,
    #[error("elements nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("more than {MAX_DECLARATIONS} namespace declarations on one element")]
    TooManyDeclarations,
    #[error("unknown entity &{0};")]
    UnknownEntity(String),
    #[error("not a soap envelope: {0}")]
    NotSoap(&'static str),
}

impl From<EncodingError> for XmlError {
    fn from(error: EncodingError) -> Self {
        XmlError::Encoding(error)
    }
}

/// One element of an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Element {
    /// The local name, without prefix.
    pub name: Cow<'static, str>,
    /// The element is in the SOAP envelope namespace (`Envelope`, `Body`, `Fault`).
    pub soap: bool,
    /// The local part of `xsi:type` (`int` for `xsd:int`, `NotAuthenticated`).
    pub xsi_type: Option<Cow<'static, str>>,
    /// The unqualified `type` attribute, which managed object references carry.
    pub type_attr: Option<Cow<'static, str>>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }

    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|child| child.text.as_str())
    }

    /// Takes the first child of that name out of the tree, to avoid copying big subtrees.
    pub fn take_child(&mut self, name: &str) -> Option<Element> {
        let index = self.children.iter().position(|child| child.name == name)?;
        Some(self.children.remove(index))
    }

    /// The element read as a `ManagedObjectReference`: `<x type="Folder">group-d1</x>`.
    pub fn moref(&self) -> Option<Moref> {
        let kind = self.type_attr.as_deref()?;
        Some(Moref::new(kind, self.text.trim()))
    }

    fn is_soap(&self, name: &str) -> bool {
        self.soap && self.name == name
    }
}

/// The content of a SOAP `Body`: an answer or a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Envelope {
    Response(Element),
    Fault(SoapFault),
}

/// Elements of an answer handed over one by one as they end: those named `name` at
/// `depth` (the envelope at 0, so 3 for `returnval`) inside a SOAP answer, not a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    pub name: &'static str,
    pub depth: usize,
}

/// Reads a SOAP envelope, prefixed (`soapenv:Envelope`) or not.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn parse_envelope(bytes: &[u8]) -> Result<Envelope, XmlError> {
    read_envelope(bytes, None, |_, _| Ok::<_, XmlError>(()))
}

/// Reads a SOAP envelope, giving each element of `record` to `on_record` with its open
/// ancestors (the envelope first) instead of keeping it in the tree. Records already
/// given stay given when a later part of the document turns out broken.
pub(crate) fn read_envelope<E: From<XmlError>>(
    bytes: &[u8],
    record: Option<Record>,
    mut on_record: impl FnMut(&[Element], FlatRecord) -> Result<(), E>,
) -> Result<Envelope, E> {
    let root = read_document(bytes, record, |ancestry, flat| {
        on_record(ancestry.elements, flat)
    })?;
    Ok(envelope(root)?)
}

/// The open ancestors of a record, and a number that changes whenever they do: a
/// reader on another thread sends them again only then.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ancestry<'a> {
    pub elements: &'a [Element],
    pub version: u64,
}

/// [`read_envelope`], each record given with its [`Ancestry`].
pub(crate) fn read_envelope_flat<E: From<XmlError>>(
    bytes: &[u8],
    record: Record,
    on_record: impl FnMut(Ancestry<'_>, FlatRecord) -> Result<(), E>,
) -> Result<Envelope, E> {
    let root = read_document(bytes, Some(record), on_record)?;
    Ok(envelope(root)?)
}

/// Reads a whole document into a tree; content after the root element is ignored.
#[cfg(test)]
pub(crate) fn parse_document(bytes: &[u8]) -> Result<Element, XmlError> {
    read_document(bytes, None, |_, _| Ok::<_, XmlError>(()))
}

/// Reads from a slice: its events borrow from it, with no copy.
fn read_document<E: From<XmlError>>(
    bytes: &[u8],
    record: Option<Record>,
    mut on_record: impl FnMut(Ancestry<'_>, FlatRecord) -> Result<(), E>,
) -> Result<Element, E> {
    let mut reader = Reader::from_reader(bytes);
    let mut builder = Builder::new(record);

    loop {
        let event = reader.read_event().map_err(XmlError::from)?;
        let started = matches!(event, Event::Start(_));
        match builder.event(event)? {
            Built::Nothing => {}
            Built::Record(flat) => on_record(builder.ancestry(), flat)?,
            Built::Root(root) => return Ok(root),
        }
        if started {
            builder.text.take_leaf(reader.get_mut());
        }
    }
}

/// Builds the tree event by event, and sets records aside.
#[derive(Debug)]
struct Builder {
    record: Option<Record>,
    namespaces: Namespaces,
    text: PendingText,
    /// The open elements outside any record.
    open: Vec<Element>,
    /// The record being read.
    reading: Option<RecordBuilder>,
    /// The size of the last record, to size the next one's buffers.
    last_record: Capacity,
    /// Bumped by each change of an element that may be a record's ancestor.
    ancestry: u64,
}

/// What one event completed.
#[derive(Debug)]
enum Built {
    Nothing,
    Record(FlatRecord),
    Root(Element),
}

impl Builder {
    fn new(record: Option<Record>) -> Self {
        Self {
            record,
            namespaces: Namespaces::default(),
            text: PendingText::default(),
            open: Vec::new(),
            reading: None,
            last_record: Capacity::default(),
            ancestry: 0,
        }
    }

    fn ancestry(&self) -> Ancestry<'_> {
        Ancestry {
            elements: &self.open,
            version: self.ancestry,
        }
    }

    fn depth(&self) -> usize {
        self.open.len() + self.reading.as_ref().map_or(0, RecordBuilder::depth)
    }

    fn event(&mut self, event: Event<'_>) -> Result<Built, XmlError> {
        match event {
            Event::Start(start) => self.start(&start, false),
            Event::Empty(start) => self.start(&start, true),
            // quick-xml has checked that the end tag matches the open one.
            Event::End(_) => self.end(),
            Event::Text(raw) => Ok(self.text.push_raw(&raw)),
            Event::CData(raw) => Ok(self.text.push_raw(&raw)),
            Event::GeneralRef(reference) => self.text.push_reference(&reference),
            Event::Eof => Err(self.end_of_input()),
            _ => Ok(Built::Nothing),
        }
    }

    fn start(&mut self, start: &BytesStart<'_>, empty: bool) -> Result<Built, XmlError> {
        let depth = self.depth();
        if depth >= MAX_DEPTH && !empty {
            return Err(XmlError::TooDeep);
        }
        self.flush_text()?;

        // Inside a record only local names are read: whether an element is SOAP's does
        // not matter there, and finding out is most of the cost of a start tag.
        let in_record = self.reading.is_some();
        let element = self.namespaces.element(start, depth, !in_record)?;
        if empty {
            self.namespaces.close(depth);
        }

        if let Some(reading) = &mut self.reading {
            reading.start(element);
            if empty {
                reading.end();
            }
            return Ok(Built::Nothing);
        }
        if self
            .record
            .is_some_and(|record| is_record(&self.open, &element, record))
        {
            return self.start_record(element, empty);
        }
        if empty {
            return Ok(self.close(element));
        }
        if self
            .record
            .is_some_and(|record| self.open.len() < record.depth)
        {
            self.ancestry += 1;
        }
        self.open.push(element);
        Ok(Built::Nothing)
    }

    fn start_record(&mut self, element: Element, empty: bool) -> Result<Built, XmlError> {
        let mut reading = RecordBuilder::new(element, &self.last_record);
        if !empty {
            self.reading = Some(reading);
            return Ok(Built::Nothing);
        }
        reading.end();
        self.finish_record(reading)
    }

    fn end(&mut self) -> Result<Built, XmlError> {
        self.flush_text()?;
        self.namespaces.close(self.depth().saturating_sub(1));

        if let Some(reading) = &mut self.reading {
            if !reading.end() {
                return Ok(Built::Nothing);
            }
            let Some(reading) = self.reading.take() else {
                return Ok(Built::Nothing);
            };
            return self.finish_record(reading);
        }
        Ok(match self.open.pop() {
            Some(element) => self.close(element),
            None => Built::Nothing,
        })
    }

    fn finish_record(&mut self, reading: RecordBuilder) -> Result<Built, XmlError> {
        let (record, capacity) = reading.finish()?;
        self.last_record = capacity;
        Ok(Built::Record(record))
    }

    /// Adds a finished element, not a record, to its parent.
    fn close(&mut self, element: Element) -> Built {
        if self
            .record
            .is_some_and(|record| self.open.len() <= record.depth)
        {
            self.ancestry += 1;
        }
        match attach(&mut self.open, element) {
            Some(root) => Built::Root(root),
            None => Built::Nothing,
        }
    }

    /// Gives the text gathered to the innermost open element; text outside any element
    /// (white space around the root) is dropped. A record's text is checked as UTF-8
    /// once the record is whole.
    fn flush_text(&mut self) -> Result<(), XmlError> {
        if self.text.bytes.is_empty() {
            return Ok(());
        }

        if let Some(reading) = &mut self.reading {
            reading.text(&self.text.bytes);
        } else if let Some(element) = self.open.last_mut() {
            element.text.push_str(self.text.decoded()?);
        }
        self.text.bytes.clear();
        Ok(())
    }

    fn end_of_input(&self) -> XmlError {
        let innermost = match &self.reading {
            Some(reading) => reading.innermost(),
            None => self.open.last().map(|element| element.name.as_ref()),
        };
        match innermost {
            Some(name) => XmlError::Truncated(name.to_owned()),
            None => XmlError::Empty,
        }
    }
}

/// The text of the innermost open element, kept as bytes until a child starts or the
/// element ends, then decoded at once: an annotation comes in dozens of pieces, as the
/// reader stops at each entity, and some servers write each JSON quote as `&#34;`.
#[derive(Debug, Default)]
struct PendingText {
    bytes: Vec<u8>,
}

impl PendingText {
    /// Takes the text of an element that has just started, when nothing but text comes
    /// before its end tag and that text holds only references it can resolve, leaving
    /// `rest` at the end tag. Most elements of an answer are such leaves, and the reader
    /// would hand their text over as events split at each reference: an annotation's
    /// dozens of `&#34;` cost more than the rest of its VM. Anything else (a child, a
    /// line end to normalize, a reference to refuse) is left to the events, which read
    /// it or say what is wrong with it. The reader's byte position then falls behind,
    /// which only its error positions use, and they are not read here.
    fn take_leaf(&mut self, rest: &mut &[u8]) {
        let Some(at) = memchr::memchr2(b'<', b'\r', rest) else {
            return;
        };
        if rest[at] != b'<' || rest.get(at + 1) != Some(&b'/') {
            return;
        }

        if self.push_escaped(&rest[..at]) {
            *rest = &rest[at..];
        }
    }

    /// Appends text with its references resolved; appends nothing and says so when one
    /// of them is not a character reference or a predefined entity.
    fn push_escaped(&mut self, raw: &[u8]) -> bool {
        let mark = self.bytes.len();
        let mut rest = raw;

        while let Some(at) = memchr::memchr(b'&', rest) {
            self.bytes.extend_from_slice(&rest[..at]);
            let after = &rest[at + 1..];
            // A reference is a few bytes long: too short for `memchr` to pay.
            let end = after
                .iter()
                .position(|&byte| byte == b';' || byte == b'&')
                .filter(|&end| after[end] == b';');
            let Some(end) = end.filter(|&end| self.push_known_reference(&after[..end])) else {
                self.bytes.truncate(mark);
                return false;
            };
            rest = &after[end + 1..];
        }
        self.bytes.extend_from_slice(rest);
        true
    }

    /// Appends what `&name;` stands for, read as quick-xml reads it: a character
    /// reference or a predefined entity. Says whether it was one.
    fn push_known_reference(&mut self, name: &[u8]) -> bool {
        if let Some(number) = name.strip_prefix(b"#") {
            let Some(character) = character_reference(number) else {
                return false;
            };
            let mut utf8 = [0; 4];
            self.bytes
                .extend_from_slice(character.encode_utf8(&mut utf8).as_bytes());
            return true;
        }

        let entity = std::str::from_utf8(name)
            .ok()
            .and_then(resolve_predefined_entity);
        if let Some(entity) = entity {
            self.bytes.extend_from_slice(entity.as_bytes());
        }
        entity.is_some()
    }

    /// Appends raw text, its line ends normalized as XML 1.0 says (`\r\n` and `\r` are
    /// `\n`); not a character reference's, which stays as written.
    fn push_raw(&mut self, raw: &[u8]) -> Built {
        if !raw.contains(&b'\r') {
            self.bytes.extend_from_slice(raw);
            return Built::Nothing;
        }

        let mut rest = raw;
        while let Some(at) = rest.iter().position(|&byte| byte == b'\r') {
            self.bytes.extend_from_slice(&rest[..at]);
            self.bytes.push(b'\n');
            let skip = if rest.get(at + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            rest = &rest[at + skip..];
        }
        self.bytes.extend_from_slice(rest);
        Built::Nothing
    }

    /// Appends what a reference stands for.
    fn push_reference(&mut self, reference: &BytesRef<'_>) -> Result<Built, XmlError> {
        if self.push_known_reference(reference) {
            return Ok(Built::Nothing);
        }

        // Not one it knows: quick-xml says what is wrong with a character reference.
        reference.resolve_char_ref()?;
        Err(XmlError::UnknownEntity(reference.decode()?.into_owned()))
    }

    fn decoded(&self) -> Result<&str, XmlError> {
        std::str::from_utf8(&self.bytes).map_err(|error| XmlError::Encoding(error.into()))
    }
}

/// The character of a reference `&#number;`, as quick-xml reads it: decimal, or
/// hexadecimal after `x`, without sign, not 0.
fn character_reference(number: &[u8]) -> Option<char> {
    let (digits, radix) = match number.strip_prefix(b"x") {
        Some(hex) => (hex, 16),
        None => (number, 10),
    };
    if digits.is_empty() {
        return None;
    }

    let code = digits.iter().try_fold(0_u32, |code, &digit| {
        let digit = char::from(digit).to_digit(radix)?;
        code.checked_mul(radix)?.checked_add(digit)
    })?;
    char::from_u32(code).filter(|_| code != 0)
}

/// A namespace the decoding tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Uri {
    SoapEnvelope,
    SchemaInstance,
    Other,
}

impl Uri {
    fn of(uri: &[u8]) -> Self {
        match uri {
            SOAP_ENVELOPE => Uri::SoapEnvelope,
            XML_SCHEMA_INSTANCE => Uri::SchemaInstance,
            _ => Uri::Other,
        }
    }
}

/// The prefixes in scope and what they are bound to, and the attributes of the start
/// tags read lately. quick-xml's `NsReader` would track the prefixes, but at the cost of
/// reading every element's attributes twice, a third of the parse.
#[derive(Debug, Default)]
struct Namespaces {
    scope: Scope,
    remembered: Remembered,
}

#[derive(Debug, Default)]
struct Scope {
    /// The bound prefixes, end to end (empty for the default namespace).
    prefixes: Vec<u8>,
    bindings: Vec<Binding>,
}

#[derive(Debug)]
struct Binding {
    /// Depth of the element that declared it: it ends with that element.
    depth: usize,
    prefix: std::ops::Range<usize>,
    uri: Uri,
}

/// A bound on the declarations of one element, which are looked through for each name.
const MAX_DECLARATIONS: usize = 32;

/// How many distinct sets of attributes are remembered. An inventory answer has a
/// handful: one per `xsi:type` of its values, and the `type` of its object references.
const MAX_REMEMBERED: usize = 16;

impl Namespaces {
    /// Reads the element that starts with `start` at `depth`, after the declarations it
    /// makes, which may bind its own prefix; whether it is in the SOAP namespace only
    /// when `qualified`.
    fn element(
        &mut self,
        start: &BytesStart<'_>,
        depth: usize,
        qualified: bool,
    ) -> Result<Element, XmlError> {
        let mut element = Element {
            name: well_known(start.local_name().as_ref()),
            ..Element::default()
        };
        let mut prefixed_type = None;

        // Most elements have no attribute: their start tag is not read a second time.
        if !start.attributes_raw().iter().all(u8::is_ascii_whitespace) {
            let attributes = self.remembered.of(start)?;
            for (prefix, uri) in &attributes.declarations {
                self.scope.bind(depth, prefix, *uri);
            }
            element.type_attr.clone_from(&attributes.type_attr);
            prefixed_type = attributes.prefixed_type.as_ref();
        }

        if qualified {
            let prefix = start.name().prefix();
            let prefix = prefix.as_ref().map_or(&[][..], AsRef::as_ref);
            element.soap = self.scope.resolve(prefix) == Some(Uri::SoapEnvelope);
        }
        // Known only once every declaration of the element is: it may declare its own
        // prefix after using it.
        if let Some((prefix, local_part)) = prefixed_type {
            if self.scope.resolve(prefix) == Some(Uri::SchemaInstance) {
                element.xsi_type = Some(local_part.clone());
            }
        }
        Ok(element)
    }

    /// The element at `depth` ended: so did its declarations.
    fn close(&mut self, depth: usize) {
        self.scope.close(depth);
    }
}

impl Scope {
    fn bind(&mut self, depth: usize, prefix: &[u8], uri: Uri) {
        let start = self.prefixes.len();
        self.prefixes.extend_from_slice(prefix);
        let prefix = start..self.prefixes.len();
        self.bindings.push(Binding { depth, prefix, uri });
    }

    fn close(&mut self, depth: usize) {
        while self.bindings.last().is_some_and(|b| b.depth >= depth) {
            if let Some(binding) = self.bindings.pop() {
                self.prefixes.truncate(binding.prefix.start);
            }
        }
    }

    /// What `prefix` (empty: the default namespace) is bound to; `None` when unbound.
    fn resolve(&self, prefix: &[u8]) -> Option<Uri> {
        self.bindings
            .iter()
            .rev()
            .find(|binding| &self.prefixes[binding.prefix.clone()] == prefix)
            .map(|binding| binding.uri)
    }
}

/// The attributes of the start tags read lately, as many distinct ones as
/// [`MAX_REMEMBERED`]. Each value of an answer repeats, in its start tag, a namespace
/// declaration and an `xsi:type`: reading them every time was a quarter of the parse.
#[derive(Debug, Default)]
struct Remembered {
    seen: Vec<Attributes>,
}

impl Remembered {
    /// What the attributes of `start` say: remembered if a start tag wrote them alike
    /// lately, else read.
    fn of(&mut self, start: &BytesStart<'_>) -> Result<&Attributes, XmlError> {
        let raw = start.attributes_raw();
        if let Some(index) = self.seen.iter().position(|seen| *seen.raw == *raw) {
            return Ok(&self.seen[index]);
        }

        let read = Attributes::read(start)?;
        // The oldest goes: an answer past its first records repeats the latest ones.
        if self.seen.len() == MAX_REMEMBERED {
            self.seen.remove(0);
        }
        self.seen.push(read);
        Ok(&self.seen[self.seen.len() - 1])
    }
}

/// What the attributes of a start tag say, whatever the element and its scope.
#[derive(Debug)]
struct Attributes {
    /// The attributes as written, to know them again.
    raw: Box<[u8]>,
    /// Its namespace declarations, in order: the prefix (empty for the default one) and
    /// the namespace.
    declarations: Vec<(Box<[u8]>, Uri)>,
    /// The unqualified `type`, which managed object references carry.
    type_attr: Option<Cow<'static, str>>,
    /// A prefixed `type`, `xsi:type` if its prefix is bound to the schema instance: the
    /// prefix, and the local part of the value.
    prefixed_type: Option<(Box<[u8]>, Cow<'static, str>)>,
}

impl Attributes {
    fn read(start: &BytesStart<'_>) -> Result<Self, XmlError> {
        let mut read = Attributes {
            raw: start.attributes_raw().into(),
            declarations: Vec::new(),
            type_attr: None,
            prefixed_type: None,
        };

        // Duplicate attributes are not looked for: none of those read could be one.
        for attribute in start.attributes().with_checks(false) {
            let attribute = attribute?;
            let key = attribute.key;
            if let Some(declaration) = key.as_namespace_binding() {
                if read.declarations.len() == MAX_DECLARATIONS {
                    return Err(XmlError::TooManyDeclarations);
                }
                let prefix = match declaration {
                    PrefixDeclaration::Default => &[][..],
                    PrefixDeclaration::Named(prefix) => prefix,
                };
                let uri = Uri::of(value(attribute)?.as_bytes());
                read.declarations.push((prefix.into(), uri));
            } else if key.local_name().as_ref() == b"type" {
                let value = value(attribute)?;
                match key.prefix() {
                    None => read.type_attr = Some(well_known(value.as_bytes())),
                    Some(prefix) => {
                        let local = well_known(local_part(&value).as_bytes());
                        read.prefixed_type = Some((prefix.as_ref().into(), local));
                    }
                }
            }
        }
        Ok(read)
    }
}

/// Whether `element`, whose open ancestors are `open`, is a record inside a SOAP answer.
fn is_record(open: &[Element], element: &Element, record: Record) -> bool {
    open.len() == record.depth
        && element.name == record.name
        && matches!(open, [envelope, body, answer, ..]
            if envelope.is_soap("Envelope") && body.is_soap("Body") && !answer.soap)
}

/// The content of the envelope's `Body`.
fn envelope(root: Element) -> Result<Envelope, XmlError> {
    if !root.is_soap("Envelope") {
        return Err(XmlError::NotSoap("the root is not a soap Envelope"));
    }

    let body = root
        .children
        .into_iter()
        .find(|child| child.is_soap("Body"))
        .ok_or(XmlError::NotSoap("no soap Body"))?;

    let content = body
        .children
        .into_iter()
        .next()
        .ok_or(XmlError::NotSoap("empty soap Body"))?;

    if content.is_soap("Fault") {
        return Ok(Envelope::Fault(fault(&content)));
    }
    Ok(Envelope::Response(content))
}

/// The names, `xsi:type` local parts and managed object types that fill inventory answers
/// are borrowed; any other is allocated (invalid UTF-8 replaced: names and types are
/// compared, never shown as data).
fn well_known(bytes: &[u8]) -> Cow<'static, str> {
    let known = match bytes {
        b"name" => "name",
        b"val" => "val",
        b"propSet" => "propSet",
        b"changeSet" => "changeSet",
        b"op" => "op",
        b"obj" => "obj",
        b"objects" => "objects",
        b"objectSet" => "objectSet",
        b"kind" => "kind",
        b"string" => "string",
        b"int" => "int",
        b"boolean" => "boolean",
        b"VirtualMachine" => "VirtualMachine",
        b"VirtualMachinePowerState" => "VirtualMachinePowerState",
        b"long" => "long",
        b"missingSet" => "missingSet",
        b"path" => "path",
        b"fault" => "fault",
        b"returnval" => "returnval",
        b"token" => "token",
        b"version" => "version",
        b"truncated" => "truncated",
        b"filterSet" => "filterSet",
        b"filter" => "filter",
        b"Envelope" => "Envelope",
        b"Body" => "Body",
        b"PropertyFilter" => "PropertyFilter",
        b"ResourcePool" => "ResourcePool",
        b"ResourcePoolRuntimeInfo" => "ResourcePoolRuntimeInfo",
        b"ResourcePoolResourceUsage" => "ResourcePoolResourceUsage",
        _ => return Cow::Owned(String::from_utf8_lossy(bytes).into_owned()),
    };
    Cow::Borrowed(known)
}

/// An attribute's value; normalized (references resolved, white space made spaces) only
/// when it needs to be, which names and types never do.
fn value(attribute: Attribute<'_>) -> Result<Cow<'_, str>, XmlError> {
    let raw: &[u8] = &attribute.value;
    let normalized = memchr::memchr3(b'&', b'\t', b'\n', raw).is_some() || raw.contains(&b'\r');
    if normalized {
        let value = attribute.normalized_value(XmlVersion::Implicit1_0)?;
        return Ok(Cow::Owned(value.into_owned()));
    }

    let utf8 = |error: std::str::Utf8Error| XmlError::Encoding(error.into());
    match attribute.value {
        Cow::Borrowed(raw) => std::str::from_utf8(raw).map(Cow::Borrowed).map_err(utf8),
        Cow::Owned(raw) => String::from_utf8(raw)
            .map(Cow::Owned)
            .map_err(|error| utf8(error.utf8_error())),
    }
}

/// Adds a finished element to its parent; returns it when it is the root.
fn attach(open: &mut [Element], element: Element) -> Option<Element> {
    match open.last_mut() {
        Some(parent) => {
            parent.children.push(element);
            None
        }
        None => Some(element),
    }
}

/// `xsd:int` → `int`; a QName's prefix means nothing once the type is known to be vim25's
/// or XML Schema's, which never share a local name we read.
fn local_part(qualified: &str) -> &str {
    qualified.rsplit(':').next().unwrap_or(qualified)
}

/// `<Fault><faultcode/><faultstring/><detail><XxxFault xsi:type="Xxx">`.
fn fault(element: &Element) -> SoapFault {
    let detail = element.child("detail").and_then(|d| d.children.first());
    let name = detail
        .and_then(|d| d.xsi_type.as_deref().map(str::to_owned))
        .or_else(|| detail.map(|d| d.name.trim_end_matches("Fault").to_owned()))
        .or_else(|| {
            element
                .child_text("faultcode")
                .map(|c| local_part(c).to_owned())
        })
        .unwrap_or_else(|| "UnknownFault".to_owned());

    let message = element.child_text("faultstring").unwrap_or_default();
    let mut fault = SoapFault::new(name, message.trim());
    fault.object = detail.and_then(|d| d.child("obj")).and_then(Element::moref);
    fault
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error and its sources, as a log line prints them.
    fn chain(error: &(dyn std::error::Error + 'static)) -> String {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        text
    }

    #[test]
    fn invalid_utf8_says_its_cause_once() {
        let error = parse_document(b"<a>\xff\xfe</a>").expect_err("not utf-8");

        let line = chain(&error);
        assert_eq!(line.matches("invalid utf-8 sequence").count(), 1, "{line}");
    }

    #[test]
    fn xsi_type_is_resolved_by_namespace_whatever_the_prefix() {
        let xml = r#"<r xmlns:x="http://www.w3.org/2001/XMLSchema-instance"
            xmlns:xsi="urn:not-the-schema-instance">
            <a x:type="xsd:int">1</a><b xsi:type="Decoy">2</b></r>"#;

        let root = parse_document(xml.as_bytes()).expect("parses");

        assert_eq!(root.children[0].xsi_type.as_deref(), Some("int"));
        assert_eq!(root.children[1].xsi_type, None);
    }

    #[test]
    fn attributes_written_alike_mean_what_their_scope_says() {
        let xml = r#"<r xmlns:x="http://www.w3.org/2001/XMLSchema-instance">
            <a x:type="xsd:int"/><b xmlns:x="urn:other"><a x:type="xsd:int"/></b>
            <v xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="xsd:long"/>
            <v xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="xsd:long">
            <w i:type="xsd:short"/></v></r>"#;

        let root = parse_document(xml.as_bytes()).expect("parses");

        let types: Vec<_> = [&root.children[0], &root.children[1].children[0]]
            .into_iter()
            .chain(&root.children[2..])
            .chain(&root.children[3].children)
            .map(|element| element.xsi_type.as_deref())
            .collect();
        assert_eq!(
            types,
            [Some("int"), None, Some("long"), Some("long"), Some("short")]
        );
    }

    /// More distinct attributes than are remembered, twice over: each read as written.
    #[test]
    fn attributes_past_those_remembered_are_read_alike() {
        let values: String = (0..2 * MAX_REMEMBERED + 3)
            .map(|i| format!(r#"<v x:type="xsd:t{}"/>"#, i % (MAX_REMEMBERED + 3)))
            .collect();
        let xml = format!(r#"<r xmlns:x="http://www.w3.org/2001/XMLSchema-instance">{values}</r>"#);

        let root = parse_document(xml.as_bytes()).expect("parses");

        let types: Vec<_> = root.children.iter().map(|v| v.xsi_type.clone()).collect();
        let expected: Vec<_> = (0..2 * MAX_REMEMBERED + 3)
            .map(|i| Some(format!("t{}", i % (MAX_REMEMBERED + 3)).into()))
            .collect();
        assert_eq!(types, expected);
    }

    #[test]
    fn entities_and_character_references_are_decoded() {
        let xml = "<a>{&quot;k&quot;:&#x22;&lt;&amp;&gt;&apos;&#233;\u{1F600}&#x1F600;\"}</a>";

        let root = parse_document(xml.as_bytes()).expect("parses");

        assert_eq!(root.text, "{\"k\":\"<&>'é😀😀\"}");
    }

    #[test]
    fn an_unknown_entity_is_an_error() {
        let error = parse_document(b"<a>&nbsp;</a>");

        assert!(matches!(error, Err(XmlError::UnknownEntity(name)) if name == "nbsp"));
    }

    #[test]
    fn a_document_cut_short_is_an_error() {
        let error = parse_document(b"<a><b>text</b><c>");

        assert!(matches!(error, Err(XmlError::Truncated(name)) if name == "c"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let xml = "<a>".repeat(MAX_DEPTH + 1);

        assert!(matches!(
            parse_document(xml.as_bytes()),
            Err(XmlError::TooDeep)
        ));
    }

    #[test]
    fn a_mismatched_end_tag_is_an_error() {
        assert!(matches!(
            parse_document(b"<a><b></a>"),
            Err(XmlError::Syntax(_))
        ));
    }

    #[test]
    fn plain_xml_is_not_a_soap_envelope() {
        let error = parse_envelope(b"<Envelope><Body><x/></Body></Envelope>");

        assert!(matches!(error, Err(XmlError::NotSoap(_))));
    }

    const SOAP: &str = r#"xmlns:s="http://schemas.xmlsoap.org/soap/envelope/""#;

    /// The records handed over by `read_envelope`, with the names of their ancestors,
    /// and what is left of the answer.
    fn records(xml: &str, record: Record) -> (Vec<(Vec<String>, Element)>, Element) {
        let mut handed = Vec::new();
        let envelope = read_envelope(xml.as_bytes(), Some(record), |open, element| {
            let names = open.iter().map(|e| e.name.to_string()).collect();
            handed.push((names, element.into_element()));
            Ok::<_, XmlError>(())
        });
        let Ok(Envelope::Response(rest)) = envelope else {
            panic!("not an answer: {envelope:?}");
        };
        (handed, rest)
    }

    #[test]
    fn records_are_handed_over_in_order_and_left_out_of_the_tree() {
        let xml = format!(
            r#"<s:Envelope {SOAP}><s:Body><R xmlns="urn:vim25"><returnval><token>t</token>
            <objects><obj type="VirtualMachine">vm-1</obj></objects>
            <objects><obj type="VirtualMachine">vm-2</obj><objects>nested</objects></objects>
            </returnval></R></s:Body></s:Envelope>"#
        );

        let (handed, rest) = records(
            &xml,
            Record {
                name: "objects",
                depth: 4,
            },
        );

        let objs: Vec<_> = handed
            .iter()
            .map(|(_, e)| e.child("obj").and_then(Element::moref).map(|m| m.value))
            .collect();
        assert_eq!(objs, [Some("vm-1".to_owned()), Some("vm-2".to_owned())]);
        assert_eq!(handed[0].0, ["Envelope", "Body", "R", "returnval"]);
        assert_eq!(handed[1].1.child_text("objects"), Some("nested"));
        let returnval = rest.child("returnval").expect("returnval");
        assert_eq!(returnval.child_text("token"), Some("t"));
        assert!(returnval.child("objects").is_none());
    }

    #[test]
    fn a_record_sees_its_ancestors_earlier_children() {
        let xml = format!(
            r#"<s:Envelope {SOAP}><s:Body><W><returnval><filterSet>
            <filter type="PropertyFilter">f-1</filter><objectSet><kind>enter</kind></objectSet>
            </filterSet></returnval></W></s:Body></s:Envelope>"#
        );
        let mut filters = Vec::new();

        let answer = read_envelope(
            xml.as_bytes(),
            Some(Record {
                name: "objectSet",
                depth: 5,
            }),
            |open, _| {
                let filter = open[4].child("filter").and_then(Element::moref);
                filters.push(filter.map(|f| f.value));
                Ok::<_, XmlError>(())
            },
        );

        assert!(matches!(answer, Ok(Envelope::Response(_))));
        assert_eq!(filters, [Some("f-1".to_owned())]);
    }

    #[test]
    fn nothing_is_handed_over_from_a_fault_or_from_plain_xml() {
        let fault = format!(
            r#"<s:Envelope {SOAP}><s:Body><s:Fault><faultcode>x</faultcode>
            <detail><objects>no</objects></detail></s:Fault></s:Body></s:Envelope>"#
        );
        let plain = "<Envelope><Body><R><returnval><objects/></returnval></R></Body></Envelope>";
        let mut handed = 0;

        for xml in [fault.as_str(), plain] {
            let _ = read_envelope(
                xml.as_bytes(),
                Some(Record {
                    name: "objects",
                    depth: 4,
                }),
                |_, _| {
                    handed += 1;
                    Ok::<_, XmlError>(())
                },
            );
        }

        assert_eq!(handed, 0);
    }

    #[test]
    fn an_error_of_a_record_ends_the_read() {
        let xml = format!(
            r#"<s:Envelope {SOAP}><s:Body><R><returnval><objects/><objects/></returnval>
            </R></s:Body></s:Envelope>"#
        );
        let mut seen = 0;

        let result = read_envelope(
            xml.as_bytes(),
            Some(Record {
                name: "objects",
                depth: 4,
            }),
            |_, _| {
                seen += 1;
                Err(XmlError::NotSoap("refused by the test"))
            },
        );

        assert!(matches!(
            result,
            Err(XmlError::NotSoap("refused by the test"))
        ));
        assert_eq!(seen, 1);
    }

    #[test]
    fn a_prefix_means_what_its_nearest_declaration_says() {
        let xml = r#"<r xmlns:x="http://www.w3.org/2001/XMLSchema-instance">
            <a x:type="xsd:int"/>
            <b xmlns:x="urn:other" x:type="Shadowed"><c x:type="Inner"/></b>
            <d x:type="xsd:boolean"/>
            <e xmlns:y="http://www.w3.org/2001/XMLSchema-instance" y:type="Own"/>
            <f y:type="Unbound"/></r>"#;

        let root = parse_document(xml.as_bytes()).expect("parses");

        let types: Vec<_> = root
            .children
            .iter()
            .map(|c| c.xsi_type.as_deref())
            .collect();
        assert_eq!(
            types,
            [Some("int"), None, Some("boolean"), Some("Own"), None]
        );
        assert_eq!(root.children[1].children[0].xsi_type, None);
    }

    #[test]
    fn the_soap_namespace_may_be_the_default_one() {
        let xml = r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/">
            <Body><LoginResponse xmlns="urn:vim25"/></Body></Envelope>"#;

        let envelope = parse_envelope(xml.as_bytes());

        let Ok(Envelope::Response(response)) = envelope else {
            panic!("not an answer: {envelope:?}");
        };
        assert_eq!(response.name, "LoginResponse");
        assert!(!response.soap);
    }

    #[test]
    fn too_many_declarations_on_one_element_are_refused() {
        let declarations: String = (0..=MAX_DECLARATIONS)
            .map(|i| format!(r#" xmlns:p{i}="urn:{i}""#))
            .collect();
        let xml = format!("<a{declarations}/>");

        assert!(matches!(
            parse_document(xml.as_bytes()),
            Err(XmlError::TooManyDeclarations)
        ));
    }

    #[test]
    fn line_ends_are_normalized_but_not_those_written_as_references() {
        let xml = "<a>1\r\n2\r3&#13;4<![CDATA[5\r\n]]></a>";

        let root = parse_document(xml.as_bytes()).expect("parses");

        assert_eq!(root.text, "1\n2\n3\r45\n");
    }

    #[test]
    fn text_around_a_child_is_the_parents() {
        let root = parse_document(b"<a>x&amp;<b>in</b>y</a>").expect("parses");

        assert_eq!(root.text, "x&y");
        assert_eq!(root.children[0].text, "in");
    }

    #[test]
    fn a_record_is_the_same_tree_as_read_whole() {
        let xml = format!(
            r#"<s:Envelope {SOAP}><s:Body><R><returnval>
            <objects>a<x xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="xsd:int">1</x>b
            <y type="VirtualMachine"><z>&lt;deep&gt;</z><z/>c</y>d&#34;</objects>
            <objects/><objects><w>1</w><w>2</w><w><v>3</v></w></objects>
            </returnval></R></s:Body></s:Envelope>"#
        );

        let (handed, _) = records(
            &xml,
            Record {
                name: "objects",
                depth: 4,
            },
        );
        let Ok(Envelope::Response(whole)) = parse_envelope(xml.as_bytes()) else {
            panic!("not an answer");
        };

        let records: Vec<_> = handed.into_iter().map(|(_, record)| record).collect();
        let returnval = whole.child("returnval").expect("returnval");
        assert_eq!(records, returnval.children);
        assert_eq!(records[0].children[0].xsi_type.as_deref(), Some("int"));
        assert_eq!(records[0].text.trim(), "ab\n            d\"");
    }
}
