//! The followed inventory: each VM's properties by managed object id, kept current by
//! applying the change feed's updates. Pure: an `UpdateSet` in, the map changed.

use std::borrow::Cow;
use std::collections::HashMap;

use domain::{Inventory, VirtualMachine};
use tracing::debug;

use super::error::VsphereError;
use super::inventory::VmProperties;
use super::moref::Moref;
use super::properties::MissingProperty;
use super::updates::{ChangeOp, ObjectUpdate, PropertyChange, UpdateKind, UpdateSet};

/// Every VM the feed has reported and not seen leave: its properties as reported, read
/// by the same code as a full read's. Its VM is made of them when the inventory is asked
/// for, so that the mirror holds each name and annotation once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Mirror {
    vms: HashMap<String, VmProperties>,
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
        update: ObjectUpdate<'_>,
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
            .iter()
            .filter_map(|(id, properties)| properties.clone().into_virtual_machine(id.clone()))
            .collect();
        vms.sort_by(|a, b| a.id.cmp(&b.id));
        Inventory::new(vms)
    }

    pub fn len(&self) -> usize {
        self.vms.len()
    }

    /// Says whether the VM changed as reported: properties unreported before and
    /// reported empty now count as a change, at worst one publication too many.
    fn apply_object(&mut self, update: ObjectUpdate<'_>) -> Result<bool, VsphereError> {
        let ObjectUpdate {
            kind,
            obj,
            changes,
            missing,
        } = update;
        let id = obj.value;
        let before = self.vms.remove(&id);
        if kind == UpdateKind::Leave {
            return Ok(before.is_some_and(|properties| !properties.is_unknown()));
        }

        // Only a modify needs the properties before, kept to compare: an enter, as each
        // VM of a full read is, starts afresh.
        let mut properties = match (kind, &before) {
            (UpdateKind::Modify, Some(properties)) => properties.clone(),
            (kind, _) => {
                if kind == UpdateKind::Modify {
                    // Servers send `modify` only after `enter`: keep what it says anyway.
                    debug!(vm = %id, "modify of a vm never entered");
                }
                VmProperties::default()
            }
        };
        change_properties(&mut properties, &id, changes, &missing)?;
        properties.log_gaps(&id);

        let known = |properties: &&VmProperties| !properties.is_unknown();
        let changed = before.as_ref().filter(known) != Some(&properties).filter(known);
        self.vms.insert(id, properties);
        Ok(changed)
    }
}

/// Applies each change, then forgets the properties that could not be read: their old
/// value is no longer known to hold. A value that does not parse is an error naming the
/// feed.
fn change_properties(
    properties: &mut VmProperties,
    id: &str,
    changes: Vec<PropertyChange<'_>>,
    missing: &[MissingProperty],
) -> Result<(), VsphereError> {
    for change in changes {
        match value_after(change.op, change.val) {
            Some(val) => properties
                .set(&change.name, &val)
                .map_err(|invalid| invalid.of(id, "WaitForUpdatesEx"))?,
            None => properties.unset(&change.name),
        }
    }

    for missing in missing {
        properties.unset(&missing.path);
    }
    Ok(())
}

/// The value a property has after a change of `op`; `None` for unset. The paths followed
/// are scalars, so `add` (of an array element) is read as an assignment should it come.
fn value_after(op: ChangeOp, val: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    match op {
        ChangeOp::Assign | ChangeOp::Add => val,
        ChangeOp::Remove | ChangeOp::IndirectRemove => None,
    }
}
