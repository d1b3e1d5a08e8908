//! The inventory: every virtual machine the source can see, with the properties we read.

/// What vSphere reports of one virtual machine, limited to the properties the levels need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualMachine {
    /// The managed object id (`vm-42`), unique within one vCenter.
    pub id: String,
    /// `name`: for a CDS worker, the worker's name.
    pub name: String,
    /// `summary.config.numCpu`.
    pub vcpus: u32,
    /// `summary.config.memorySizeMB`.
    pub memory_mb: u64,
    /// `config.annotation`, raw; `None` when vSphere reports it unset.
    pub annotation: Option<String>,
    /// `runtime.powerState`.
    pub power_state: PowerState,
    /// `summary.config.template`: a vSphere template, not to be confused with a CDS
    /// worker model VM, which CDS marks in its annotation.
    pub template: bool,
}

/// `runtime.powerState` of a virtual machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PowerState {
    PoweredOn,
    #[default]
    PoweredOff,
    Suspended,
}

/// Every virtual machine visible to the source at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub vms: Vec<VirtualMachine>,
}

impl Inventory {
    pub fn new(vms: Vec<VirtualMachine>) -> Self {
        Self { vms }
    }
}
