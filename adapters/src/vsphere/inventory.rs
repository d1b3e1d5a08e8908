//! Reads every virtual machine of the container view, page by page, into the domain's
//! `Inventory`.

use std::str::FromStr;

use domain::{Inventory, PowerState, VirtualMachine};
use tracing::debug;

use super::error::VsphereError;
use super::moref::Moref;
use super::properties::{CONTAINER_VIEW, ObjectSpec, PropertySpec, read_object};
use super::record::FlatRecord;
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
        .retrieve_records(&[VM_PROPERTIES], object, Some(MAX_OBJECTS_PER_PAGE), |o| {
            reader.add(o)
        })
        .await?;
    while let Some(current) = token {
        if let Some(error) = reader.failure.take() {
            cancel(vim, &current).await;
            return Err(error);
        }
        token = vim.continue_records(&current, |o| reader.add(o)).await?;
    }

    reader.into_inventory()
}

/// The VMs read so far, and the first value that did not parse: the pages are still read
/// to their end, for the token that frees the server's result set. A lost session ends
/// the read at once.
#[derive(Debug, Default)]
struct VmReader {
    vms: Vec<VirtualMachine>,
    failure: Option<VsphereError>,
}

impl VmReader {
    fn add(&mut self, objects: &FlatRecord) -> Result<(), VsphereError> {
        if self.failure.is_some() {
            return Ok(());
        }
        match vm_object(objects) {
            Ok(Some(vm)) => self.vms.push(vm),
            Ok(None) => {}
            Err(VmReadError::Stop(error)) => return Err(error),
            Err(VmReadError::BadValue(error)) => self.failure = Some(error),
        }
        Ok(())
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

/// Why an `objects` of the VM view gave no VM.
#[derive(Debug)]
enum VmReadError {
    /// The session is gone, or the answer is not what vim25 says: no use reading on.
    Stop(VsphereError),
    /// A value that does not parse: the rest of the page is read all the same.
    BadValue(VsphereError),
}

/// A whole page of the VM view read into VMs as an inventory read does, the first
/// failure an error.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn read_vms(body: &[u8]) -> Result<Vec<VirtualMachine>, VsphereError> {
    use super::properties::{OBJECTS, read_response};

    let mut vms = Vec::new();
    read_response(body, OBJECTS, |_, objects| {
        let vm = vm_object(objects).map_err(|error| match error {
            VmReadError::Stop(error) | VmReadError::BadValue(error) => error,
        })?;
        vms.extend(vm);
        Ok(())
    })?;
    Ok(vms)
}

/// One `objects` of the VM view read straight into a VM, or `None` when none of its
/// properties could be read (deleted while read).
fn vm_object(objects: &FlatRecord) -> Result<Option<VirtualMachine>, VmReadError> {
    let mut properties = VmProperties::default();
    let mut bad_value = None;
    let (obj, missing) = read_object(METHOD, objects.root(), |path, val| {
        if let Err(error) = properties.set(path, &val.text()) {
            bad_value.get_or_insert(error);
        }
    })
    .map_err(VmReadError::Stop)?;

    let id = obj.value;
    if let Some(error) = bad_value {
        return Err(VmReadError::BadValue(error.of(&id, METHOD)));
    }
    for missing in &missing {
        debug!(vm = %id, path = %missing.path, fault = %missing.fault, "vm property not readable");
    }
    properties.log_gaps(&id);
    Ok(properties.into_virtual_machine(id))
}

const METHOD: &str = "RetrievePropertiesEx";

/// What vSphere reported of a VM's six properties, each `None` while unreported: unset,
/// not readable, or not yet sent by the change feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VmProperties {
    name: Option<String>,
    vcpus: Option<u32>,
    memory_mb: Option<u64>,
    annotation: Option<String>,
    template: Option<bool>,
    power_state: Option<PowerReading>,
}

/// `runtime.powerState` as read. An unknown state (from a newer vSphere) counts as off,
/// since such a VM is not known to run; its text is kept for the debug log, which names
/// the VM.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PowerReading {
    Known(PowerState),
    Unknown(String),
}

/// A property whose text is not a value of its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidValue {
    path: &'static str,
    text: String,
}

impl InvalidValue {
    /// The error of a read by `method` of the VM `id`.
    pub fn of(&self, id: &str, method: &'static str) -> VsphereError {
        let detail = format!("{} of {id} is {:?}", self.path, self.text);
        VsphereError::unexpected(method, detail)
    }
}

impl VmProperties {
    /// Sets the property at `path` from its text; a path not among the six is ignored.
    pub fn set(&mut self, path: &str, text: &str) -> Result<(), InvalidValue> {
        match path {
            "name" => self.name = Some(text.to_owned()),
            "summary.config.numCpu" => self.vcpus = Some(number("summary.config.numCpu", text)?),
            "summary.config.memorySizeMB" => {
                self.memory_mb = Some(number("summary.config.memorySizeMB", text)?);
            }
            "config.annotation" => self.annotation = Some(text.to_owned()),
            "summary.config.template" => {
                self.template = Some(boolean("summary.config.template", text)?);
            }
            "runtime.powerState" => self.power_state = Some(power_reading(text)),
            _ => {}
        }
        Ok(())
    }

    /// Forgets the property at `path`: unset, or no longer known.
    pub fn unset(&mut self, path: &str) {
        match path {
            "name" => self.name = None,
            "summary.config.numCpu" => self.vcpus = None,
            "summary.config.memorySizeMB" => self.memory_mb = None,
            "config.annotation" => self.annotation = None,
            "summary.config.template" => self.template = None,
            "runtime.powerState" => self.power_state = None,
            _ => {}
        }
    }

    /// Says, in the debug log, what of the VM `id` is read from partial properties.
    pub fn log_gaps(&self, id: &str) {
        if self.is_unknown() {
            debug!(vm = %id, "skipping a vm none of whose properties could be read");
        } else if self.vcpus.is_none() {
            // A VM being created has no config yet, so no summary.config: it is counted
            // with 0 vCPU and 0 MB rather than dropped, as it exists and will soon hold
            // resources.
            debug!(vm = %id, "vm without summary.config, counted with 0 vcpu and 0 memory");
        }
        if let Some(PowerReading::Unknown(state)) = &self.power_state {
            debug!(vm = %id, state = %state, "unknown power state, counted as off");
        }
    }

    /// The VM these properties describe, `None` when none is known.
    pub fn into_virtual_machine(self, id: String) -> Option<VirtualMachine> {
        if self.is_unknown() {
            return None;
        }

        Some(VirtualMachine {
            id,
            name: self.name.unwrap_or_default(),
            vcpus: self.vcpus.unwrap_or(0),
            memory_mb: self.memory_mb.unwrap_or(0),
            annotation: self.annotation,
            power_state: match self.power_state {
                Some(PowerReading::Known(state)) => state,
                Some(PowerReading::Unknown(_)) | None => PowerState::PoweredOff,
            },
            template: self.template.unwrap_or(false),
        })
    }

    pub fn is_unknown(&self) -> bool {
        *self == VmProperties::default()
    }
}

fn number<T: FromStr>(path: &'static str, text: &str) -> Result<T, InvalidValue> {
    text.trim().parse().map_err(|_| InvalidValue {
        path,
        text: text.to_owned(),
    })
}

/// `xsd:boolean` allows `true`, `false`, `1` and `0`.
fn boolean(path: &'static str, text: &str) -> Result<bool, InvalidValue> {
    match text.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(InvalidValue {
            path,
            text: text.to_owned(),
        }),
    }
}

fn power_reading(text: &str) -> PowerReading {
    let state = match text.trim() {
        "poweredOn" => PowerState::PoweredOn,
        "suspended" => PowerState::Suspended,
        "poweredOff" => PowerState::PoweredOff,
        other => return PowerReading::Unknown(other.to_owned()),
    };
    PowerReading::Known(state)
}
