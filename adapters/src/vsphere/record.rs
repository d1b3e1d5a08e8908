//! A record of a large answer (an `objects` or `objectSet` element), read flat: its
//! elements in document order in one vector, their text in one buffer. Its readers walk
//! it in place through [`Node`]; the few that want a tree (a Resource Pool's `runtime`)
//! make one of the part they read.
//!
//! At 10,000 VMs an answer holds 200,000 elements: building each one as a tree node, then
//! converting it to the value it stands for, cost more than the parse itself. A flat
//! record costs a handful of allocations whatever its size.

use std::borrow::Cow;
use std::ops::Range;

use super::moref::Moref;
use super::xml::{Element, XmlError};

/// One record, read whole.
#[derive(Debug, Default)]
pub(crate) struct FlatRecord {
    nodes: Vec<FlatNode>,
    /// Text pieces of an element after its first, split by its children: mixed
    /// content, which vim25 never writes but a reader must not lose.
    more_text: Vec<(u32, Range<u32>)>,
    text: String,
}

/// An element of a record, without its children, which follow it.
#[derive(Debug)]
struct FlatNode {
    name: Cow<'static, str>,
    xsi_type: Option<Cow<'static, str>>,
    type_attr: Option<Cow<'static, str>>,
    /// The index past its last descendant: the next sibling's, if any.
    end: u32,
    /// Its first piece of text; empty when it has none.
    text: Range<u32>,
}

impl FlatRecord {
    /// The record's own element.
    pub fn root(&self) -> Node<'_> {
        Node {
            record: self,
            index: 0,
        }
    }

    /// The record made a tree.
    #[cfg(test)]
    pub fn into_element(self) -> Element {
        self.root().to_element()
    }
}

/// An element of a record, read in place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node<'a> {
    record: &'a FlatRecord,
    index: usize,
}

impl<'a> Node<'a> {
    fn flat(&self) -> &'a FlatNode {
        &self.record.nodes[self.index]
    }

    /// The local name, without prefix.
    pub fn name(&self) -> &'a str {
        &self.flat().name
    }

    /// The local part of `xsi:type`.
    pub fn xsi_type(&self) -> Option<&'a str> {
        self.flat().xsi_type.as_deref()
    }

    /// Its text, entities decoded; the pieces split by children put together.
    pub fn text(&self) -> Cow<'a, str> {
        let first = self.piece(&self.flat().text);
        if self.record.more_text.is_empty() {
            return Cow::Borrowed(first);
        }

        let mut more = self.more_pieces().peekable();
        if more.peek().is_none() {
            return Cow::Borrowed(first);
        }
        let mut text = first.to_owned();
        more.for_each(|piece| text.push_str(piece));
        Cow::Owned(text)
    }

    /// The element read as a `ManagedObjectReference`: `<x type="Folder">group-d1</x>`.
    pub fn moref(&self) -> Option<Moref> {
        let kind = self.flat().type_attr.as_deref()?;
        Some(Moref::new(kind, self.text().trim()))
    }

    pub fn children(&self) -> impl Iterator<Item = Node<'a>> + use<'a> {
        let record = self.record;
        let end = self.flat().end as usize;
        let mut next = self.index + 1;
        std::iter::from_fn(move || {
            if next >= end {
                return None;
            }
            let child = Node {
                record,
                index: next,
            };
            next = child.flat().end as usize;
            Some(child)
        })
    }

    pub fn child(&self, name: &str) -> Option<Node<'a>> {
        self.children().find(|child| child.name() == name)
    }

    pub fn child_text(&self, name: &str) -> Option<Cow<'a, str>> {
        self.child(name).map(|child| child.text())
    }

    /// This element and its descendants as a tree.
    pub fn to_element(self) -> Element {
        let flat = self.flat();
        Element {
            name: flat.name.clone(),
            soap: false,
            xsi_type: flat.xsi_type.clone(),
            type_attr: flat.type_attr.clone(),
            text: self.text().into_owned(),
            children: self.children().map(|child| child.to_element()).collect(),
        }
    }

    fn piece(&self, range: &Range<u32>) -> &'a str {
        &self.record.text[range.start as usize..range.end as usize]
    }

    fn more_pieces(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        let node = *self;
        let index = u32::try_from(self.index).unwrap_or(u32::MAX);
        node.record
            .more_text
            .iter()
            .filter(move |(of, _)| *of == index)
            .map(move |(_, range)| node.piece(range))
    }
}

/// A record being read: elements are added as they start, text as it ends, and each
/// element closed when its end tag comes.
#[derive(Debug, Default)]
pub(crate) struct RecordBuilder {
    nodes: Vec<FlatNode>,
    more_text: Vec<(u32, Range<u32>)>,
    /// Checked as UTF-8 once, when the record is done.
    text: Vec<u8>,
    /// The open elements, innermost last.
    open: Vec<u32>,
}

impl RecordBuilder {
    /// A record whose first element is `element`, sized like the previous one.
    pub fn new(element: Element, like: &Capacity) -> Self {
        let mut builder = Self {
            nodes: Vec::with_capacity(like.nodes),
            more_text: Vec::new(),
            text: Vec::with_capacity(like.text),
            open: Vec::new(),
        };
        builder.start(element);
        builder
    }

    /// Depth inside the record: 1 while only the record's own element is open.
    pub fn depth(&self) -> usize {
        self.open.len()
    }

    /// Adds an element as a child of the innermost open one, and opens it.
    pub fn start(&mut self, element: Element) {
        let index = self.index();
        self.nodes.push(FlatNode {
            name: element.name,
            xsi_type: element.xsi_type,
            type_attr: element.type_attr,
            end: index + 1,
            text: 0..0,
        });
        self.open.push(index);
    }

    /// Closes the innermost open element; says whether that was the record's own.
    pub fn end(&mut self) -> bool {
        let end = self.index();
        if let Some(index) = self.open.pop() {
            self.nodes[index as usize].end = end;
        }
        self.open.is_empty()
    }

    /// Gives `bytes`, raw text already decoded, to the innermost open element.
    pub fn text(&mut self, bytes: &[u8]) {
        let Some(&node) = self.open.last() else {
            return;
        };
        let start = offset(self.text.len());
        self.text.extend_from_slice(bytes);
        let range = start..offset(self.text.len());

        let flat = &mut self.nodes[node as usize];
        if flat.text.is_empty() {
            flat.text = range;
        } else {
            self.more_text.push((node, range));
        }
    }

    /// The name of the innermost open element, for an error.
    pub fn innermost(&self) -> Option<&str> {
        let node = self.open.last()?;
        Some(&self.nodes[*node as usize].name)
    }

    /// The record, once its text is known to be UTF-8.
    pub fn finish(self) -> Result<(FlatRecord, Capacity), XmlError> {
        let capacity = Capacity {
            nodes: self.nodes.len(),
            text: self.text.len(),
        };
        let text = String::from_utf8(self.text)
            .map_err(|error| XmlError::Encoding(error.utf8_error().into()))?;
        let record = FlatRecord {
            nodes: self.nodes,
            more_text: self.more_text,
            text,
        };
        Ok((record, capacity))
    }

    fn index(&self) -> u32 {
        offset(self.nodes.len())
    }
}

/// The size of a record, to size the next one's buffers: the records of one answer are
/// alike.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Capacity {
    nodes: usize,
    text: usize,
}

/// Records are far below 4 GiB: the answer's size is capped well under it.
fn offset(length: usize) -> u32 {
    u32::try_from(length).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(name: &'static str) -> Element {
        Element {
            name: name.into(),
            ..Element::default()
        }
    }

    /// `<r>a<x type="T">1</x>b<y><z>2</z></y>c</r>`, built as the reader builds it.
    fn sample() -> FlatRecord {
        let mut builder = RecordBuilder::new(element("r"), &Capacity::default());
        builder.text(b"a");
        builder.start(Element {
            type_attr: Some("T".into()),
            ..element("x")
        });
        builder.text(b"1");
        builder.end();
        builder.text(b"b");
        builder.start(element("y"));
        builder.start(element("z"));
        builder.text(b"2");
        builder.end();
        builder.end();
        builder.text(b"c");
        assert!(builder.end(), "the record's own element closes it");
        builder.finish().expect("utf-8").0
    }

    #[test]
    fn children_are_read_in_order_and_in_place() {
        let record = sample();
        let root = record.root();

        let names: Vec<_> = root.children().map(|child| child.name()).collect();
        assert_eq!(names, ["x", "y"]);
        assert_eq!(root.child_text("x").as_deref(), Some("1"));
        let y = root.child("y").expect("y");
        assert_eq!(y.child_text("z").as_deref(), Some("2"));
        assert!(root.child("z").is_none(), "a grandchild is not a child");
        assert_eq!(
            root.child("x").and_then(|x| x.moref()),
            Some(Moref::new("T", "1"))
        );
    }

    #[test]
    fn text_split_by_children_is_put_together() {
        let record = sample();

        assert_eq!(record.root().text(), "abc");
        assert_eq!(record.root().child_text("y").as_deref(), Some(""));
    }

    #[test]
    fn the_tree_holds_every_element_and_its_text() {
        let tree = sample().into_element();

        assert_eq!(tree.text, "abc");
        assert_eq!(tree.children.len(), 2);
        assert_eq!(tree.children[0].type_attr.as_deref(), Some("T"));
        assert_eq!(tree.children[1].children[0].text, "2");
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_when_the_record_ends() {
        let mut builder = RecordBuilder::new(element("r"), &Capacity::default());
        builder.text(b"\xff");
        builder.end();

        assert!(matches!(builder.finish(), Err(XmlError::Encoding(_))));
    }
}
