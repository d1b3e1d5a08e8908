//! The change feed's vocabulary: the `UpdateSet` that `WaitForUpdatesEx` answers.

use std::borrow::Cow;

use tracing::debug;

use super::error::VsphereError;
use super::moref::Moref;
use super::properties::{self, MissingProperty, missing_property};
use super::record::{FlatRecord, Node};
use super::xml::{Element, Record};

const METHOD: &str = "WaitForUpdatesEx";

/// The object updates of a `WaitForUpdatesEx` answer, under `returnval` and `filterSet`,
/// read one by one.
pub(crate) const OBJECT_SETS: Record = Record {
    name: "objectSet",
    depth: 5,
};

/// `UpdateSet`: what changed since the version sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpdateSet {
    /// The version to send back in the next call.
    pub version: String,
    /// More updates wait behind `version`: the caller asks again at once.
    pub truncated: bool,
    /// `filterSet`: one or more per filter, to be applied in order.
    pub filters: Vec<FilterUpdate>,
}

/// `PropertyFilterUpdate`: the changes seen by one filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FilterUpdate {
    pub filter: Moref,
    pub objects: Vec<ObjectUpdate<'static>>,
}

/// `ObjectUpdateKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateKind {
    /// The object came into the filter's view: every property, as `assign`.
    Enter,
    Modify,
    /// The object left the view (deleted, or moved out of the container).
    Leave,
}

/// `ObjectUpdate`: how one object changed. Its text borrows from the record it was read
/// from, until [`ObjectUpdate::into_owned`]: a full read through the feed applies each
/// VM where it lies, without a copy of its names and values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectUpdate<'a> {
    pub kind: UpdateKind,
    pub obj: Moref,
    pub changes: Vec<PropertyChange<'a>>,
    /// Properties that could not be read, which no longer have a known value.
    pub missing: Vec<MissingProperty>,
}

/// `PropertyChangeOp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeOp {
    Add,
    Remove,
    Assign,
    /// Removed because the object holding it was.
    IndirectRemove,
}

/// `PropertyChange`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PropertyChange<'a> {
    pub name: Cow<'a, str>,
    pub op: ChangeOp,
    /// The value's text; absent for removals, and for an `assign` of an unset value (an
    /// annotation cleared).
    pub val: Option<Cow<'a, str>>,
}

impl ObjectUpdate<'_> {
    /// The same update, its text copied: to be kept beyond the record it was read from.
    pub fn into_owned(self) -> ObjectUpdate<'static> {
        let changes = self.changes.into_iter().map(|change| PropertyChange {
            name: Cow::Owned(change.name.into_owned()),
            op: change.op,
            val: change.val.map(|val| Cow::Owned(val.into_owned())),
        });
        ObjectUpdate {
            kind: self.kind,
            obj: self.obj,
            changes: changes.collect(),
            missing: self.missing,
        }
    }
}

impl UpdateSet {
    /// Puts back, in their order, the updates handed over one by one while the answer
    /// was read: they replace the (then empty) object lists of its filter sets.
    pub fn with_updates(mut self, updates: Vec<(Moref, ObjectUpdate<'static>)>) -> Self {
        self.filters.clear();
        for (filter, update) in updates {
            match self.filters.last_mut() {
                Some(last) if last.filter == filter => last.objects.push(update),
                _ => self.filters.push(FilterUpdate {
                    filter,
                    objects: vec![update],
                }),
            }
        }
        self
    }
}

/// Reads one `objectSet` of an answer, with the filter of the `filterSet` holding it
/// (`ancestors[4]`), whose `filter` comes before its objects.
pub(crate) fn object_set_record<'a>(
    ancestors: &[Element],
    object_set: &'a FlatRecord,
) -> Result<(Moref, ObjectUpdate<'a>), VsphereError> {
    let filter = ancestors
        .get(OBJECT_SETS.depth - 1)
        .and_then(|filter_set| filter_set.child("filter"))
        .and_then(Element::moref)
        .ok_or_else(|| VsphereError::unexpected(METHOD, "objectSet before its filter"))?;

    Ok((filter, object_update(object_set.root())?))
}

/// Reads `WaitForUpdatesExResponse` once its object sets were handed over as records:
/// the version, whether it was truncated, and the filter of each `filterSet`, whose
/// objects are put back with [`UpdateSet::with_updates`]. `None` when it has no
/// `returnval` (the wait ended without any change).
pub(crate) fn parse_update_set(mut response: Element) -> Result<Option<UpdateSet>, VsphereError> {
    let Some(returnval) = response.take_child("returnval") else {
        return Ok(None);
    };

    let version = returnval
        .child_text("version")
        .ok_or_else(|| VsphereError::unexpected(METHOD, "no version"))?
        .trim()
        .to_owned();
    let truncated = matches!(
        returnval.child_text("truncated").map(str::trim),
        Some("true" | "1")
    );

    let mut filters = Vec::new();
    for child in returnval.children {
        if child.name == "filterSet" {
            filters.push(filter_update(child)?);
        }
    }

    Ok(Some(UpdateSet {
        version,
        truncated,
        filters,
    }))
}

/// A whole `WaitForUpdatesEx` body read as the feed reads it: object sets as records,
/// put back in their filter sets.
#[cfg(test)]
pub(crate) fn read_update_set(body: &[u8]) -> Result<Option<UpdateSet>, VsphereError> {
    let mut updates = Vec::new();
    let response = properties::read_response(body, OBJECT_SETS, |ancestors, object_set| {
        let (filter, update) = object_set_record(ancestors, object_set)?;
        updates.push((filter, update.into_owned()));
        Ok(())
    })?;

    let set = parse_update_set(response)?;
    Ok(set.map(|set| set.with_updates(updates)))
}

/// The filter of a `filterSet` and the objects it could not read; its `objectSet`s are
/// records, read apart.
fn filter_update(filter_set: Element) -> Result<FilterUpdate, VsphereError> {
    let filter = filter_set
        .child("filter")
        .and_then(Element::moref)
        .ok_or_else(|| VsphereError::unexpected(METHOD, "filterSet without filter"))?;

    for child in &filter_set.children {
        if child.name == "missingSet" {
            missing_object(child)?;
        }
    }

    Ok(FilterUpdate {
        filter,
        objects: Vec::new(),
    })
}

fn object_update(object_set: Node<'_>) -> Result<ObjectUpdate<'_>, VsphereError> {
    let kind = match object_set.child_text("kind").as_deref().map(str::trim) {
        Some("enter") => UpdateKind::Enter,
        Some("modify") => UpdateKind::Modify,
        Some("leave") => UpdateKind::Leave,
        other => return Err(unknown("kind", other)),
    };
    let obj = object_set
        .child("obj")
        .and_then(|obj| obj.moref())
        .ok_or_else(|| VsphereError::unexpected(METHOD, "objectSet without obj"))?;

    let mut update = ObjectUpdate {
        kind,
        obj,
        changes: Vec::new(),
        missing: Vec::new(),
    };
    for child in object_set.children() {
        match child.name() {
            "changeSet" => update.changes.push(property_change(child)?),
            "missingSet" => update.missing.push(missing_property(child)),
            _ => {}
        }
    }

    lost_session(&update.missing)?;
    Ok(update)
}

fn property_change(change: Node<'_>) -> Result<PropertyChange<'_>, VsphereError> {
    let name = change
        .child_text("name")
        .ok_or_else(|| VsphereError::unexpected(METHOD, "changeSet without name"))?;
    let name = trimmed(name);
    let op = match change.child_text("op").as_deref().map(str::trim) {
        Some("add") => ChangeOp::Add,
        Some("remove") => ChangeOp::Remove,
        Some("assign") => ChangeOp::Assign,
        Some("indirectRemove") => ChangeOp::IndirectRemove,
        other => return Err(unknown("op", other)),
    };

    // The paths followed are scalars: their text is their value.
    let val = change.child("val").map(|val| val.text());
    Ok(PropertyChange { name, op, val })
}

/// `text` without its leading and trailing blanks, borrowed still if it was.
fn trimmed(text: Cow<'_, str>) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(text) => Cow::Borrowed(text.trim()),
        Cow::Owned(text) => Cow::Owned(text.trim().to_owned()),
    }
}

/// `<missingSet><obj/><fault><fault xsi:type="...">`: an object of the view that could
/// not be read, which a later update or the next full read brings.
fn missing_object(missing: &Element) -> Result<(), VsphereError> {
    let fault = missing
        .child("fault")
        .and_then(|wrapper| wrapper.child("fault"))
        .and_then(|fault| fault.xsi_type.as_deref())
        .unwrap_or("UnknownFault");
    let obj = missing.child("obj").and_then(Element::moref);

    debug!(obj = ?obj.map(|o| o.value), fault, "object of the change feed not readable");
    lost_session(&[MissingProperty {
        path: String::new(),
        fault: fault.to_owned(),
    }])
}

/// As with RetrievePropertiesEx, a property or object reported NotAuthenticated means
/// the session is gone, whatever the call's own answer.
fn lost_session(missing: &[MissingProperty]) -> Result<(), VsphereError> {
    match properties::lost_session(missing) {
        Some(fault) => Err(VsphereError::Fault(fault)),
        None => Ok(()),
    }
}

fn unknown(what: &str, value: Option<&str>) -> VsphereError {
    VsphereError::unexpected(METHOD, format!("unknown {what} {value:?}"))
}
