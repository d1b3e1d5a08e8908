//! The followed inventory: each VM's properties by managed object id, kept current by
//! applying the change feed's updates. Pure: an `UpdateSet` in, the map changed.

use std::collections::HashMap;

use domain::{Inventory, VirtualMachine};
use tracing::debug;

use super::error::VsphereError;
use super::inventory::VmProperties;
use super::moref::Moref;
use super::updates::{ChangeOp, ObjectUpdate, UpdateKind, UpdateSet};

/// Every VM the feed has reported and not seen leave.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Mirror {
    vms: HashMap<String, Entry>,
}

/// One VM: its properties as reported, and what they say.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Read by the same code as a full read's.
    properties: VmProperties,
    /// `None` while none of its properties could be read.
    vm: Option<VirtualMachine>,
}

impl Mirror {
    /// Applies the updates of `filter` in `set`, in order; says whether any VM changed.
    /// On error (a value that does not parse) the mirror is left part-updated, and must
    /// be read again in full.
    pub fn apply(&mut self, set: &UpdateSet, filter: &Moref) -> Result<bool, VsphereError> {
        let mut changed = false;
        for filter_update in &set.filters {
            for update in &filter_update.objects {
                changed |= self.apply_update(&filter_update.filter, filter, update.clone())?;
            }
        }
        Ok(changed)
    }

    /// Applies one update seen by the filter `from` if it is `ours`; says whether a VM
    /// changed. Errors as [`Self::apply`].
    pub fn apply_update(
        &mut self,
        from: &Moref,
        ours: &Moref,
        update: ObjectUpdate,
    ) -> Result<bool, VsphereError> {
        if from != ours {
            debug!(filter = %from, "skipping an update of another filter");
            return Ok(false);
        }
        self.apply_object(update)
    }

    /// The VMs, ordered by managed object id so that equal mirrors give equal inventories.
    pub fn inventory(&self) -> Inventory {
        let mut vms: Vec<VirtualMachine> = self
            .vms
            .values()
            .filter_map(|entry| entry.vm.clone())
            .collect();
        vms.sort_by(|a, b| a.id.cmp(&b.id));
        Inventory::new(vms)
    }

    /// Whether both mirrors give the same inventory.
    pub fn same_vms(&self, other: &Mirror) -> bool {
        self.vms.len() == other.vms.len()
            && self
                .vms
                .iter()
                .all(|(id, entry)| other.vms.get(id).is_some_and(|o| o.vm == entry.vm))
    }

    pub fn len(&self) -> usize {
        self.vms.len()
    }

    fn apply_object(&mut self, update: ObjectUpdate) -> Result<bool, VsphereError> {
        let id = &update.obj.value;
        let before = self.vms.get(id).and_then(|entry| entry.vm.clone());

        if update.kind == UpdateKind::Leave {
            self.vms.remove(id);
            return Ok(before.is_some());
        }

        let mut properties = match (update.kind, self.vms.remove(id)) {
            (UpdateKind::Modify, Some(entry)) => entry.properties,
            (kind, _) => {
                if kind == UpdateKind::Modify {
                    // Servers send `modify` only after `enter`: keep what it says anyway.
                    debug!(vm = %id, "modify of a vm never entered");
                }
                VmProperties::default()
            }
        };
        let id = update.obj.value.clone();
        change_properties(&mut properties, &id, update)?;

        let vm = properties.clone().into_virtual_machine(id.clone());
        let changed = before != vm;
        self.vms.insert(id, Entry { properties, vm });
        Ok(changed)
    }
}

/// Applies each change, then forgets the properties that could not be read: their old
/// value is no longer known to hold. A value that does not parse is an error naming the
/// feed.
fn change_properties(
    properties: &mut VmProperties,
    id: &str,
    update: ObjectUpdate,
) -> Result<(), VsphereError> {
    for change in update.changes {
        match value_after(change.op, change.val) {
            Some(val) => properties
                .set(&change.name, &val)
                .map_err(|invalid| invalid.of(id, "WaitForUpdatesEx"))?,
            None => properties.unset(&change.name),
        }
    }

    for missing in &update.missing {
        properties.unset(&missing.path);
    }
    Ok(())
}

/// The value a property has after a change of `op`; `None` for unset. The paths followed
/// are scalars, so `add` (of an array element) is read as an assignment should it come.
fn value_after(op: ChangeOp, val: Option<String>) -> Option<String> {
    match op {
        ChangeOp::Assign | ChangeOp::Add => val,
        ChangeOp::Remove | ChangeOp::IndirectRemove => None,
    }
}
