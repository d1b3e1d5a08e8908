//! Reads SOAP answers into a small element tree with quick-xml's namespace-aware reader.
//!
//! The tree keeps what vim25 decoding needs: local names, the `type` attribute of managed
//! object references, `xsi:type` (resolved by namespace URI, whatever its prefix) and
//! text with every entity decoded. Comments, processing instructions and other
//! attributes are dropped.

use quick_xml::encoding::EncodingError;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::{NsReader, XmlVersion};

use super::error::SoapFault;
use super::moref::Moref;

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
    pub name: String,
    /// The element is in the SOAP envelope namespace (`Envelope`, `Body`, `Fault`).
    pub soap: bool,
    /// The local part of `xsi:type` (`int` for `xsd:int`, `NotAuthenticated`).
    pub xsi_type: Option<String>,
    /// The unqualified `type` attribute, which managed object references carry.
    pub type_attr: Option<String>,
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
}

/// The content of a SOAP `Body`: an answer or a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Envelope {
    Response(Element),
    Fault(SoapFault),
}

/// Reads a SOAP envelope, prefixed (`soapenv:Envelope`) or not.
pub(crate) fn parse_envelope(bytes: &[u8]) -> Result<Envelope, XmlError> {
    let root = parse_document(bytes)?;
    if !(root.soap && root.name == "Envelope") {
        return Err(XmlError::NotSoap("the root is not a soap Envelope"));
    }

    let body = root
        .children
        .into_iter()
        .find(|child| child.soap && child.name == "Body")
        .ok_or(XmlError::NotSoap("no soap Body"))?;

    let content = body
        .children
        .into_iter()
        .next()
        .ok_or(XmlError::NotSoap("empty soap Body"))?;

    if content.soap && content.name == "Fault" {
        return Ok(Envelope::Fault(fault(&content)));
    }
    Ok(Envelope::Response(content))
}

/// Reads a whole document into a tree; content after the root element is ignored.
pub(crate) fn parse_document(bytes: &[u8]) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_reader(bytes);
    let mut open: Vec<Element> = Vec::new();

    loop {
        let (namespace, event) = reader.read_resolved_event()?;
        let soap = matches!(namespace, ResolveResult::Bound(Namespace(ns)) if ns == SOAP_ENVELOPE);

        let closed = match event {
            Event::Start(start) => {
                if open.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                open.push(element(&reader, &start, soap)?);
                None
            }
            Event::Empty(start) => Some(element(&reader, &start, soap)?),
            // quick-xml has checked that the end tag matches the open one.
            Event::End(_) => open.pop(),
            Event::Text(text) => append_text(&mut open, &text.xml10_content()?),
            Event::CData(data) => append_text(&mut open, &data.xml10_content()?),
            Event::GeneralRef(reference) => append_text(&mut open, &resolve(&reference)?),
            Event::Eof => return Err(end_of_input(&open)),
            _ => None,
        };

        if let Some(root) = closed.and_then(|element| attach(&mut open, element)) {
            return Ok(root);
        }
    }
}

fn element(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    soap: bool,
) -> Result<Element, XmlError> {
    let mut element = Element {
        name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
        soap,
        ..Element::default()
    };

    for attribute in start.attributes() {
        let attribute = attribute?;
        let (namespace, local) = reader.resolver().resolve_attribute(attribute.key);
        if local.as_ref() != b"type" {
            continue;
        }

        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)?
            .into_owned();
        match namespace {
            ResolveResult::Bound(Namespace(ns)) if ns == XML_SCHEMA_INSTANCE => {
                element.xsi_type = Some(local_part(&value).to_owned());
            }
            ResolveResult::Unbound => element.type_attr = Some(value),
            _ => {}
        }
    }

    Ok(element)
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

/// Text before the root element (whitespace) has no element to go to and is dropped.
fn append_text(open: &mut [Element], text: &str) -> Option<Element> {
    if let Some(current) = open.last_mut() {
        current.text.push_str(text);
    }
    None
}

fn resolve(reference: &BytesRef<'_>) -> Result<String, XmlError> {
    if let Some(character) = reference.resolve_char_ref()? {
        return Ok(character.to_string());
    }

    let name = reference.decode()?;
    resolve_predefined_entity(&name)
        .map(str::to_owned)
        .ok_or_else(|| XmlError::UnknownEntity(name.into_owned()))
}

fn end_of_input(open: &[Element]) -> XmlError {
    match open.last() {
        Some(element) => XmlError::Truncated(element.name.clone()),
        None => XmlError::Empty,
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
        .and_then(|d| d.xsi_type.clone())
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
}
