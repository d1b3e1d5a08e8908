//! The change feed's vocabulary: the `UpdateSet` that `WaitForUpdatesEx` answers.

use tracing::debug;

use super::error::{SoapFault, VsphereError};
use super::moref::Moref;
use super::properties::{MissingProperty, missing_property};
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
    pub objects: Vec<ObjectUpdate>,
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

/// `ObjectUpdate`: how one object changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectUpdate {
    pub kind: UpdateKind,
    pub obj: Moref,
    pub changes: Vec<PropertyChange>,
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
pub(crate) struct PropertyChange {
    pub name: String,
    pub op: ChangeOp,
    /// Absent for removals, and for an `assign` of an unset value (an annotation cleared).
    pub val: Option<Element>,
}

impl UpdateSet {
    /// Puts back, in their order, the updates handed over one by one while the answer
    /// was read: they replace the (then empty) object lists of its filter sets.
    pub fn with_updates(mut self, updates: Vec<(Moref, ObjectUpdate)>) -> Self {
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
pub(crate) fn object_set_record(
    ancestors: &[Element],
    object_set: Element,
) -> Result<(Moref, ObjectUpdate), VsphereError> {
    let filter = ancestors
        .get(OBJECT_SETS.depth - 1)
        .and_then(|filter_set| filter_set.child("filter"))
        .and_then(Element::moref)
        .ok_or_else(|| VsphereError::unexpected(METHOD, "objectSet before its filter"))?;

    Ok((filter, object_update(object_set)?))
}

/// Reads `WaitForUpdatesExResponse`; `None` when it has no `returnval` (the wait ended
/// without any change).
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

fn filter_update(filter_set: Element) -> Result<FilterUpdate, VsphereError> {
    let filter = filter_set
        .child("filter")
        .and_then(Element::moref)
        .ok_or_else(|| VsphereError::unexpected(METHOD, "filterSet without filter"))?;

    let mut objects = Vec::new();
    for child in filter_set.children {
        match child.name.as_ref() {
            "objectSet" => objects.push(object_update(child)?),
            "missingSet" => missing_object(&child)?,
            _ => {}
        }
    }

    Ok(FilterUpdate { filter, objects })
}

fn object_update(object_set: Element) -> Result<ObjectUpdate, VsphereError> {
    let kind = match object_set.child_text("kind").map(str::trim) {
        Some("enter") => UpdateKind::Enter,
        Some("modify") => UpdateKind::Modify,
        Some("leave") => UpdateKind::Leave,
        other => return Err(unknown("kind", other)),
    };
    let obj = object_set
        .child("obj")
        .and_then(Element::moref)
        .ok_or_else(|| VsphereError::unexpected(METHOD, "objectSet without obj"))?;

    let mut update = ObjectUpdate {
        kind,
        obj,
        changes: Vec::new(),
        missing: Vec::new(),
    };
    for child in object_set.children {
        match child.name.as_ref() {
            "changeSet" => update.changes.push(property_change(child)?),
            "missingSet" => update.missing.push(missing_property(&child)),
            _ => {}
        }
    }

    lost_session(&update.missing)?;
    Ok(update)
}

fn property_change(mut change: Element) -> Result<PropertyChange, VsphereError> {
    let mut name = change
        .take_child("name")
        .ok_or_else(|| VsphereError::unexpected(METHOD, "changeSet without name"))?
        .text;
    trim_in_place(&mut name);
    let op = match change.child_text("op").map(str::trim) {
        Some("add") => ChangeOp::Add,
        Some("remove") => ChangeOp::Remove,
        Some("assign") => ChangeOp::Assign,
        Some("indirectRemove") => ChangeOp::IndirectRemove,
        other => return Err(unknown("op", other)),
    };

    let val = change.take_child("val");
    Ok(PropertyChange { name, op, val })
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
    if missing
        .iter()
        .all(|missing| missing.fault != "NotAuthenticated")
    {
        return Ok(());
    }
    Err(VsphereError::Fault(SoapFault::new(
        "NotAuthenticated",
        "properties reported NotAuthenticated by the change feed",
    )))
}

/// Trims without a new allocation: a trimmed name is almost always the name itself.
fn trim_in_place(text: &mut String) {
    let trimmed = text.trim();
    if trimmed.len() != text.len() {
        *text = trimmed.to_owned();
    }
}

fn unknown(what: &str, value: Option<&str>) -> VsphereError {
    VsphereError::unexpected(METHOD, format!("unknown {what} {value:?}"))
}
