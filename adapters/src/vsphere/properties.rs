//! The PropertyCollector's vocabulary: filter specs written into requests, and the
//! `RetrieveResult` read back.

use tracing::debug;

use super::error::{SoapFault, VsphereError};
use super::moref::Moref;
use super::record::{FlatRecord, Node};
use super::request::SoapRequest;
use super::xml::{Element, Record};

/// `PropertySpec`: which properties to read of the objects of one type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PropertySpec {
    pub kind: &'static str,
    pub paths: &'static [&'static str],
}

/// `TraversalSpec`: from the objects of `kind`, follow the references held in `path`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TraversalSpec {
    pub kind: &'static str,
    pub path: &'static str,
    /// Whether the objects reached are left out of the result.
    pub skip: bool,
    pub then: &'static [TraversalSpec],
}

/// `ObjectSpec`: where the collection starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ObjectSpec<'a> {
    pub obj: &'a Moref,
    pub skip: bool,
    pub select: &'a [TraversalSpec],
}

/// Reads all objects of a container view, the view itself left out.
pub(crate) const CONTAINER_VIEW: TraversalSpec = TraversalSpec {
    kind: "ContainerView",
    path: "view",
    skip: false,
    then: &[],
};

/// `RetrievePropertiesEx` with one `PropertyFilterSpec`.
pub(crate) fn retrieve_request(
    collector: &Moref,
    properties: &[PropertySpec],
    object: ObjectSpec<'_>,
    max_objects: Option<u32>,
) -> SoapRequest {
    let mut request = SoapRequest::new("RetrievePropertiesEx", collector);
    write_filter_spec(&mut request, "specSet", properties, &object);

    request.open("options");
    if let Some(max_objects) = max_objects {
        request.text("maxObjects", &max_objects.to_string());
    }
    request.close("options");
    request
}

/// `CreateFilter` of `collector`, reporting each change whole (`partialUpdates` false), so
/// that an update of a property never leaves part of its old value behind.
pub(crate) fn create_filter_request(
    collector: &Moref,
    properties: &[PropertySpec],
    object: ObjectSpec<'_>,
) -> SoapRequest {
    let mut request = SoapRequest::new("CreateFilter", collector);
    write_filter_spec(&mut request, "spec", properties, &object);
    request.text("partialUpdates", "false");
    request
}

/// A `PropertyFilterSpec` under the element `name`.
fn write_filter_spec(
    request: &mut SoapRequest,
    name: &str,
    properties: &[PropertySpec],
    object: &ObjectSpec<'_>,
) {
    request.open(name);
    for spec in properties {
        write_property_spec(request, spec);
    }
    write_object_spec(request, object);
    request.close(name);
}

fn write_property_spec(request: &mut SoapRequest, spec: &PropertySpec) {
    request.open("propSet").text("type", spec.kind);
    for path in spec.paths {
        request.text("pathSet", path);
    }
    request.close("propSet");
}

fn write_object_spec(request: &mut SoapRequest, object: &ObjectSpec<'_>) {
    request
        .open("objectSet")
        .moref("obj", object.obj)
        .text("skip", bool_text(object.skip));
    for traversal in object.select {
        write_traversal(request, traversal);
    }
    request.close("objectSet");
}

/// vcsim refuses a `selectSet` without `xsi:type="TraversalSpec"`.
fn write_traversal(request: &mut SoapRequest, traversal: &TraversalSpec) {
    request
        .open_typed("selectSet", "TraversalSpec")
        .text("type", traversal.kind)
        .text("path", traversal.path)
        .text("skip", bool_text(traversal.skip));
    for next in traversal.then {
        write_traversal(request, next);
    }
    request.close("selectSet");
}

fn bool_text(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// One page of results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RetrieveResult {
    pub objects: Vec<ObjectContent>,
    /// Set when more pages wait behind `ContinueRetrievePropertiesEx`.
    pub token: Option<String>,
}

/// `ObjectContent`: the properties read of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectContent {
    pub obj: Moref,
    pub properties: Vec<DynamicProperty>,
    pub missing: Vec<MissingProperty>,
}

impl ObjectContent {
    /// The value of a property; `None` when vSphere left it out (an unset property).
    pub fn property(&self, name: &str) -> Option<&Element> {
        self.properties
            .iter()
            .find(|property| property.name == name)
            .map(|property| &property.val)
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.property(name).map(|val| val.text.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DynamicProperty {
    pub name: String,
    pub val: Element,
}

/// A property that could not be read, with the name of the fault that says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MissingProperty {
    pub path: String,
    pub fault: String,
}

/// The objects of a `RetrievePropertiesEx` answer, under `returnval`, read one by one.
pub(crate) const OBJECTS: Record = Record {
    name: "objects",
    depth: 4,
};

/// The token of the next page, in what is left of an answer once its objects are read.
pub(crate) fn page_token(response: &Element) -> Option<String> {
    let returnval = response.child("returnval")?;
    returnval.child_text("token").map(str::to_owned)
}

/// A whole `RetrievePropertiesEx` body read as the adapter reads it, object by object.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn read_retrieve_result(body: &[u8]) -> Result<RetrieveResult, VsphereError> {
    let mut objects = Vec::new();
    let response = read_response(body, OBJECTS, |_, objects_record| {
        objects.push(object_record("RetrievePropertiesEx", objects_record)?);
        Ok(())
    })?;

    let token = page_token(&response);
    Ok(RetrieveResult { objects, token })
}

/// The element under `Body` of a whole answer, or its fault; each element of `record`
/// handed to `on_record` with its ancestors as it is read.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn read_response(
    body: &[u8],
    record: Record,
    mut on_record: impl FnMut(&[Element], &FlatRecord) -> Result<(), VsphereError>,
) -> Result<Element, VsphereError> {
    use super::xml::{Envelope, read_envelope};

    let envelope = read_envelope(body, Some(record), |ancestors, flat| {
        on_record(ancestors, &flat)
    })?;
    match envelope {
        Envelope::Fault(fault) => Err(VsphereError::Fault(fault)),
        Envelope::Response(element) => Ok(element),
    }
}

/// Reads one `objects` of an answer to `method`, each value made a tree.
pub(crate) fn object_record(
    method: &'static str,
    objects: &FlatRecord,
) -> Result<ObjectContent, VsphereError> {
    let mut properties = Vec::new();
    let (obj, missing) = read_object(method, objects.root(), |name, val| {
        properties.push(DynamicProperty {
            name: name.to_owned(),
            val: val.to_element(),
        });
    })?;

    Ok(ObjectContent {
        obj,
        properties,
        missing,
    })
}

/// Reads one `objects` in place: each `propSet` handed to `on_property` as its path and
/// `val`, then the object and the properties that could not be read. A property reported
/// NotAuthenticated ends the read: RetrievePropertiesEx is allowed without a session, and
/// after the session expired vCenter answers 200 with `NotAuthenticated` in `missingSet`
/// instead of a fault. With a valid session a property is never `NotAuthenticated`
/// (lacking rights is `NoPermission`), so one such entry means the session is gone.
pub(crate) fn read_object<'a>(
    method: &'static str,
    objects: Node<'a>,
    mut on_property: impl FnMut(&str, Node<'a>),
) -> Result<(Moref, Vec<MissingProperty>), VsphereError> {
    let mut obj = None;
    let mut missing = Vec::new();
    for child in objects.children() {
        match child.name() {
            "obj" => obj = child.moref(),
            "propSet" => {
                let (Some(name), Some(val)) = (child.child_text("name"), child.child("val")) else {
                    return Err(VsphereError::unexpected(
                        method,
                        "propSet without name or val",
                    ));
                };
                on_property(name.trim(), val);
            }
            "missingSet" => missing.push(missing_property(child)),
            _ => {}
        }
    }

    if let Some(fault) = lost_session(&missing) {
        return Err(VsphereError::Fault(fault));
    }
    let obj = obj.ok_or_else(|| VsphereError::unexpected(method, "objects without obj"))?;
    Ok((obj, missing))
}

/// `<missingSet><path/><fault><fault xsi:type="NotAuthenticated">`.
pub(crate) fn missing_property(missing: Node<'_>) -> MissingProperty {
    let fault = missing
        .child("fault")
        .and_then(|wrapper| wrapper.child("fault"))
        .and_then(|fault| fault.xsi_type().map(str::to_owned));

    MissingProperty {
        path: missing
            .child_text("path")
            .map(|path| path.trim().to_owned())
            .unwrap_or_default(),
        fault: fault.unwrap_or_else(|| "UnknownFault".to_owned()),
    }
}

/// The fault to report when the collector said a property is NotAuthenticated: the
/// session is gone.
pub(crate) fn lost_session(missing: &[MissingProperty]) -> Option<SoapFault> {
    let lost = missing
        .iter()
        .any(|missing| missing.fault == "NotAuthenticated");
    if !lost {
        return None;
    }

    debug!("property collector reports NotAuthenticated properties");
    Some(SoapFault::new(
        "NotAuthenticated",
        "properties reported NotAuthenticated by the property collector",
    ))
}
