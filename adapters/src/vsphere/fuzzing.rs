//! Entry points to the vSphere answer parsers for the fuzz targets of `fuzz/`.
//!
//! Built only with the `fuzzing` feature. Each function takes an HTTP body as it comes off
//! the wire and runs it through the calls the adapter makes on a 200 answer, in the same
//! order, with no logic of its own: a crash found through them is a crash of the adapter.

use domain::{ResourcePoolRuntime, VirtualMachine};

use super::datacenter::layout_from;
use super::error::VsphereError;
use super::inventory::virtual_machine;
use super::mirror::Mirror;
use super::properties::{RetrieveResult, parse_retrieve_result};
use super::resource_pool::{default_pool, runtime_from};
use super::updates::parse_update_set;
use super::vim::ServiceContent;
use super::xml::{Element, Envelope, parse_envelope};

/// The SOAP envelope: the local name of the answer's element, or the fault it holds.
pub fn envelope(body: &[u8]) -> Result<String, VsphereError> {
    response(body).map(|element| element.name)
}

/// A `RetrieveServiceContent` answer: the API version the server announces.
pub fn service_content(body: &[u8]) -> Result<String, VsphereError> {
    let content = ServiceContent::from_response(&response(body)?)?;
    Ok(content.api_version)
}

/// A `RetrievePropertiesEx` page of the VM view, read into VMs as an inventory read does.
pub fn virtual_machines(body: &[u8]) -> Result<Vec<VirtualMachine>, VsphereError> {
    let result = retrieve_result(body)?;
    result
        .objects
        .iter()
        .filter_map(|object| virtual_machine(object).transpose())
        .collect()
}

/// A `RetrievePropertiesEx` answer on Resource Pools: the runtime of each object.
pub fn resource_pool_runtimes(body: &[u8]) -> Result<Vec<ResourcePoolRuntime>, VsphereError> {
    let result = retrieve_result(body)?;
    result.objects.iter().map(runtime_from).collect()
}

/// A `RetrievePropertiesEx` answer on the datacenters' layout: govc's default pool.
pub fn default_resource_pool(body: &[u8]) -> Result<String, VsphereError> {
    let result = retrieve_result(body)?;
    let layout = layout_from(&result.objects);
    default_pool(&layout, None).map(|pool| pool.to_string())
}

/// A `WaitForUpdatesEx` answer applied to an empty mirror, as the change feed applies
/// its first answer, for the filter of its first `filterSet`: the VMs the mirror then
/// holds, or `None` when the answer has no update set.
pub fn update_set(body: &[u8]) -> Result<Option<Vec<VirtualMachine>>, VsphereError> {
    let Some(set) = parse_update_set(response(body)?)? else {
        return Ok(None);
    };
    let mut mirror = Mirror::default();
    if let Some(first) = set.filters.first() {
        mirror.apply(&set, &first.filter)?;
    }
    Ok(Some(mirror.inventory().vms))
}

fn retrieve_result(body: &[u8]) -> Result<RetrieveResult, VsphereError> {
    parse_retrieve_result("RetrievePropertiesEx", response(body)?)
}

/// What the transport makes of a 200 answer: the element under `Body`, or its fault.
fn response(body: &[u8]) -> Result<Element, VsphereError> {
    match parse_envelope(body).map_err(VsphereError::Xml)? {
        Envelope::Fault(fault) => Err(VsphereError::Fault(fault)),
        Envelope::Response(element) => Ok(element),
    }
}
