//! The shape of the datacenters, read in one PropertyCollector call: their VM and host
//! folders, the compute resources directly in the host folders, and their root pools.

use std::collections::HashMap;

use super::error::VsphereError;
use super::moref::Moref;
use super::properties::{ObjectContent, ObjectSpec, PropertySpec, TraversalSpec};
use super::vim::Vim;

/// Datacenter → host folder → its direct children → their root Resource Pool. Property
/// specs and traversals on `ComputeResource` also apply to `ClusterComputeResource`.
const HOST_FOLDER_TO_ROOT_POOLS: TraversalSpec = TraversalSpec {
    kind: "Datacenter",
    path: "hostFolder",
    skip: true,
    then: &[TraversalSpec {
        kind: "Folder",
        path: "childEntity",
        skip: false,
        then: &[TraversalSpec {
            kind: "ComputeResource",
            path: "resourcePool",
            skip: false,
            then: &[],
        }],
    }],
};

/// The root folder's direct children, of which the datacenters are followed.
const ROOT_TO_DATACENTERS: TraversalSpec = TraversalSpec {
    kind: "Folder",
    path: "childEntity",
    skip: false,
    then: &[HOST_FOLDER_TO_ROOT_POOLS],
};

const LAYOUT_PROPERTIES: &[PropertySpec] = &[
    PropertySpec {
        kind: "Datacenter",
        paths: &["name", "vmFolder", "hostFolder"],
    },
    PropertySpec {
        kind: "ComputeResource",
        paths: &["name", "parent", "resourcePool"],
    },
    PropertySpec {
        kind: "ResourcePool",
        paths: &["name"],
    },
];

/// Where the layout is read from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LayoutRoot<'a> {
    /// One datacenter, found by its inventory path.
    Datacenter(&'a Moref),
    /// Every datacenter directly in the root folder, as govc's default datacenter.
    RootFolder(&'a Moref),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Datacenter {
    pub name: String,
    pub vm_folder: Option<Moref>,
    pub host_folder: Option<Moref>,
}

/// A `ComputeResource` or `ClusterComputeResource` of a host folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ComputeResource {
    pub name: String,
    pub parent: Option<Moref>,
    pub root_pool: Option<Moref>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    pub datacenters: Vec<Datacenter>,
    pub compute_resources: Vec<ComputeResource>,
    pub pool_names: HashMap<Moref, String>,
}

pub(crate) async fn read_layout(
    vim: &Vim<'_>,
    root: LayoutRoot<'_>,
) -> Result<Layout, VsphereError> {
    let object = match root {
        LayoutRoot::Datacenter(datacenter) => ObjectSpec {
            obj: datacenter,
            skip: false,
            select: &[HOST_FOLDER_TO_ROOT_POOLS],
        },
        LayoutRoot::RootFolder(root_folder) => ObjectSpec {
            obj: root_folder,
            skip: true,
            select: &[ROOT_TO_DATACENTERS],
        },
    };

    let result = vim
        .retrieve_properties(LAYOUT_PROPERTIES, object, None)
        .await?;

    Ok(layout_from(&result.objects))
}

/// Objects are told apart by their type; folders and hosts met on the way are ignored.
pub(crate) fn layout_from(objects: &[ObjectContent]) -> Layout {
    let mut layout = Layout::default();
    for object in objects {
        let name = object.text("name").unwrap_or_default().to_owned();
        let moref = |path: &str| object.property(path).and_then(|val| val.moref());
        match object.obj.kind.as_str() {
            "Datacenter" => layout.datacenters.push(Datacenter {
                name,
                vm_folder: moref("vmFolder"),
                host_folder: moref("hostFolder"),
            }),
            "ComputeResource" | "ClusterComputeResource" => {
                layout.compute_resources.push(ComputeResource {
                    name,
                    parent: moref("parent"),
                    root_pool: moref("resourcePool"),
                });
            }
            "ResourcePool" => {
                layout.pool_names.insert(object.obj.clone(), name);
            }
            _ => {}
        }
    }
    layout
}
