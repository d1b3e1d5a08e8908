//! Reads every virtual machine of the container view, page by page, into the domain's
//! `Inventory`.

use std::str::FromStr;

use domain::{Inventory, PowerState, VirtualMachine};
use tracing::debug;

use super::error::VsphereError;
use super::moref::Moref;
use super::properties::{CONTAINER_VIEW, ObjectContent, ObjectSpec, PropertySpec};
use super::vim::Vim;

/// The only properties read: never the whole `config` or `summary`, which are tens of
/// kilobytes a VM.
pub(crate) const VM_PROPERTIES: PropertySpec = PropertySpec {
    kind: "VirtualMachine",
    paths: &[
        "name",
        "summary.config.numCpu",
        "summary.config.memorySizeMB",
        "config.annotation",
        "summary.config.template",
        "runtime.powerState",
    ],
};

/// The page size asked for; vCenter may send fewer, and then a token.
pub(crate) const MAX_OBJECTS_PER_PAGE: u32 = 1000;

/// Reads the VMs of `view` (a container view of `VirtualMachine`), following the tokens.
/// Each VM is read as its part of the answer is: the answer is never held as a whole tree.
pub(crate) async fn read_inventory(vim: &Vim<'_>, view: &Moref) -> Result<Inventory, VsphereError> {
    let object = ObjectSpec {
        obj: view,
        skip: true,
        select: &[CONTAINER_VIEW],
    };
    let mut reader = VmReader::default();

    let mut token = vim
        .retrieve_each(&[VM_PROPERTIES], object, Some(MAX_OBJECTS_PER_PAGE), |o| {
            reader.add(&o);
            Ok(())
        })
        .await?;
    while let Some(current) = token {
        if let Some(error) = reader.failure.take() {
            cancel(vim, &current).await;
            return Err(error);
        }
        token = vim
            .continue_each(&current, |o| {
                reader.add(&o);
                Ok(())
            })
            .await?;
    }

    reader.into_inventory()
}

/// The VMs read so far, and the first value that did not parse: the pages are still read
/// to their end, for the token that frees the server's result set.
#[derive(Debug, Default)]
struct VmReader {
    vms: Vec<VirtualMachine>,
    failure: Option<VsphereError>,
}

impl VmReader {
    fn add(&mut self, object: &ObjectContent) {
        if self.failure.is_some() {
            return;
        }
        match virtual_machine(object) {
            Ok(Some(vm)) => self.vms.push(vm),
            Ok(None) => {}
            Err(error) => self.failure = Some(error),
        }
    }

    fn into_inventory(self) -> Result<Inventory, VsphereError> {
        match self.failure {
            Some(error) => Err(error),
            None => Ok(Inventory::new(self.vms)),
        }
    }
}

/// Frees the server-side result set of a collection we give up on.
async fn cancel(vim: &Vim<'_>, token: &str) {
    if let Err(error) = vim.cancel_retrieve(token).await {
        debug!(error = %error, "cannot cancel the property collection");
    }
}

/// One VM, or `None` when none of its properties could be read (deleted while read).
pub(crate) fn virtual_machine(
    object: &ObjectContent,
) -> Result<Option<VirtualMachine>, VsphereError> {
    let id = &object.obj.value;
    for missing in &object.missing {
        debug!(vm = %id, path = %missing.path, fault = %missing.fault, "vm property not readable");
    }
    if object.properties.is_empty() {
        debug!(vm = %id, "skipping a vm none of whose properties could be read");
        return Ok(None);
    }

    // A VM being created has no config yet, so no summary.config: it is counted with
    // 0 vCPU and 0 MB rather than dropped, as it exists and will soon hold resources.
    if object.property("summary.config.numCpu").is_none() {
        debug!(vm = %id, "vm without summary.config, counted with 0 vcpu and 0 memory");
    }

    Ok(Some(VirtualMachine {
        id: id.clone(),
        name: object.text("name").unwrap_or_default().to_owned(),
        vcpus: number(object, "summary.config.numCpu")?.unwrap_or(0),
        memory_mb: number(object, "summary.config.memorySizeMB")?.unwrap_or(0),
        annotation: object.text("config.annotation").map(str::to_owned),
        power_state: power_state(object),
        template: boolean(object, "summary.config.template")?.unwrap_or(false),
    }))
}

fn number<T: FromStr>(
    object: &ObjectContent,
    path: &'static str,
) -> Result<Option<T>, VsphereError> {
    let Some(text) = object.text(path) else {
        return Ok(None);
    };
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| invalid_value(object, path, text))
}

/// `xsd:boolean` allows `true`, `false`, `1` and `0`.
fn boolean(object: &ObjectContent, path: &'static str) -> Result<Option<bool>, VsphereError> {
    match object.text(path).map(str::trim) {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(text) => Err(invalid_value(object, path, text)),
    }
}

/// An unknown state (a newer vSphere) counts as off: such a VM is not known to run.
fn power_state(object: &ObjectContent) -> PowerState {
    match object.text("runtime.powerState").map(str::trim) {
        Some("poweredOn") => PowerState::PoweredOn,
        Some("suspended") => PowerState::Suspended,
        Some("poweredOff") | None => PowerState::PoweredOff,
        Some(other) => {
            debug!(vm = %object.obj.value, state = other, "unknown power state, counted as off");
            PowerState::PoweredOff
        }
    }
}

fn invalid_value(object: &ObjectContent, path: &str, text: &str) -> VsphereError {
    let detail = format!("{path} of {} is {text:?}", object.obj.value);
    VsphereError::unexpected("RetrievePropertiesEx", detail)
}
