//! Entry points to the vSphere answer parsers for the fuzz targets of `fuzz/`.
//!
//! Built only with the `fuzzing` feature. Each function takes an HTTP body as it comes off
//! the wire and runs it through the calls the adapter makes on a 200 answer, in the same
//! order, with no logic of its own: a crash found through them is a crash of the adapter.

use domain::{ResourcePoolRuntime, VirtualMachine};

use super::datacenter::layout_from;
use super::error::VsphereError;
use super::inventory::read_vms;
use super::mirror::Mirror;
use super::properties::{read_response, read_retrieve_result};
use super::resource_pool::{default_pool, runtime_from};
use super::updates::{OBJECT_SETS, object_set_record, parse_update_set};
use super::vim::ServiceContent;
use super::xml::{Element, Envelope, parse_envelope};

/// The SOAP envelope: the local name of the answer's element, or the fault it holds.
pub fn envelope(body: &[u8]) -> Result<String, VsphereError> {
    response(body).map(|element| element.name.into_owned())
}

/// A `RetrieveServiceContent` answer: the API version the server announces.
pub fn service_content(body: &[u8]) -> Result<String, VsphereError> {
    let content = ServiceContent::from_response(&response(body)?)?;
    Ok(content.api_version)
}

/// A `RetrievePropertiesEx` page of the VM view, read into VMs as an inventory read does.
pub fn virtual_machines(body: &[u8]) -> Result<Vec<VirtualMachine>, VsphereError> {
    read_vms(body)
}

/// A `RetrievePropertiesEx` answer on Resource Pools: the runtime of each object.
pub fn resource_pool_runtimes(body: &[u8]) -> Result<Vec<ResourcePoolRuntime>, VsphereError> {
    let result = read_retrieve_result(body)?;
    result.objects.iter().map(runtime_from).collect()
}

/// A `RetrievePropertiesEx` answer on the datacenters' layout: govc's default pool.
pub fn default_resource_pool(body: &[u8]) -> Result<String, VsphereError> {
    let result = read_retrieve_result(body)?;
    let layout = layout_from(&result.objects);
    default_pool(&layout, None).map(|pool| pool.to_string())
}

/// A `WaitForUpdatesEx` answer applied to an empty mirror, as the change feed applies
/// its first answer (each update as it is read), for the filter of its first `filterSet`:
/// the VMs the mirror then holds, or `None` when the answer has no update set.
pub fn update_set(body: &[u8]) -> Result<Option<Vec<VirtualMachine>>, VsphereError> {
    let mut mirror = Mirror::default();
    let mut ours = None;
    let response = read_response(body, OBJECT_SETS, |ancestors, object_set| {
        let (filter, update) = object_set_record(ancestors, object_set)?;
        let ours = ours.get_or_insert_with(|| filter.clone());
        mirror.apply_update(&filter, ours, update).map(drop)
    })?;

    let Some(_set) = parse_update_set(response)? else {
        return Ok(None);
    };
    Ok(Some(mirror.inventory().vms))
}

/// What the transport makes of a 200 answer: the element under `Body`, or its fault.
fn response(body: &[u8]) -> Result<Element, VsphereError> {
    match parse_envelope(body)? {
        Envelope::Fault(fault) => Err(VsphereError::Fault(fault)),
        Envelope::Response(element) => Ok(element),
    }
}
