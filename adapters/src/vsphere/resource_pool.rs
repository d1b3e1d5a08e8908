//! Finds the Resource Pool to report, and reads its `runtime` into the domain's
//! `ResourcePoolRuntime`.

use domain::{ResourcePoolRuntime, ResourceUsage};

use super::datacenter::Layout;
use super::error::{SoapFault, VsphereError};
use super::moref::Moref;
use super::properties::{ObjectContent, ObjectSpec, PropertySpec};
use super::vim::Vim;
use super::xml::Element;

const RUNTIME: PropertySpec = PropertySpec {
    kind: "ResourcePool",
    paths: &["runtime"],
};

/// The name vSphere gives the root pool of every compute resource.
const ROOT_POOL_NAME: &str = "Resources";

/// The pool at an inventory path given by the operator.
pub(crate) async fn find_pool(vim: &Vim<'_>, path: &str) -> Result<Moref, VsphereError> {
    let found = vim.find_by_inventory_path(path).await?;

    let not_found = || VsphereError::NotFound {
        what: "resource pool",
        path: path.to_owned(),
    };
    let pool = found.ok_or_else(not_found)?;

    // A vApp is a kind of Resource Pool and has the same runtime.
    if !matches!(pool.kind.as_str(), "ResourcePool" | "VirtualApp") {
        let detail = format!("{path} is a {}, not a resource pool", pool.kind);
        return Err(VsphereError::Config(detail));
    }
    Ok(pool)
}

/// govc's default pool: the single pool named `Resources` directly under a compute
/// resource of a datacenter's host folder. `datacenter_path` names the configured
/// datacenter in the candidates' paths; otherwise each datacenter's name does.
pub(crate) fn default_pool(
    layout: &Layout,
    datacenter_path: Option<&str>,
) -> Result<Moref, VsphereError> {
    let mut candidates = root_pools(layout, datacenter_path);

    match candidates.len() {
        0 => Err(VsphereError::NoDefaultPool),
        1 => Ok(candidates.remove(0).1),
        _ => Err(VsphereError::AmbiguousDefaultPool {
            candidates: candidates.into_iter().map(|(path, _)| path).collect(),
        }),
    }
}

fn root_pools(layout: &Layout, datacenter_path: Option<&str>) -> Vec<(String, Moref)> {
    let mut candidates = Vec::new();
    for datacenter in &layout.datacenters {
        let prefix = match datacenter_path {
            Some(path) => path.to_owned(),
            None => format!("/{}", datacenter.name),
        };

        for compute in &layout.compute_resources {
            let in_host_folder =
                compute.parent.is_some() && compute.parent == datacenter.host_folder;
            let Some(pool) = compute.root_pool.as_ref().filter(|_| in_host_folder) else {
                continue;
            };
            if layout.pool_names.get(pool).map(String::as_str) == Some(ROOT_POOL_NAME) {
                let path = format!("{prefix}/host/{}/{ROOT_POOL_NAME}", compute.name);
                candidates.push((path, pool.clone()));
            }
        }
    }
    candidates
}

/// Reads `runtime` of `pool`.
pub(crate) async fn read_runtime(
    vim: &Vim<'_>,
    pool: &Moref,
) -> Result<ResourcePoolRuntime, VsphereError> {
    let object = ObjectSpec {
        obj: pool,
        skip: false,
        select: &[],
    };

    let result = vim.retrieve_properties(&[RUNTIME], object, None).await?;

    let content = result.objects.iter().find(|object| &object.obj == pool);
    let content = content.ok_or_else(|| unexpected(format!("nothing read of {pool}")))?;
    runtime_from(content)
}

/// `ResourcePoolRuntimeInfo`: `cpu` in MHz and `memory` in bytes.
pub(crate) fn runtime_from(object: &ObjectContent) -> Result<ResourcePoolRuntime, VsphereError> {
    let Some(runtime) = object.property("runtime") else {
        return Err(unreadable_runtime(object));
    };

    Ok(ResourcePoolRuntime {
        cpu_mhz: usage(runtime, "cpu")?,
        memory_bytes: usage(runtime, "memory")?,
    })
}

/// A pool we may not read says why in `missingSet` (NoPermission...): that fault is the
/// error's reason.
fn unreadable_runtime(object: &ObjectContent) -> VsphereError {
    match object.missing.first() {
        Some(missing) => {
            let message = format!("runtime of {} not readable", object.obj);
            VsphereError::Fault(SoapFault::new(missing.fault.clone(), message))
        }
        None => unexpected(format!("no runtime for {}", object.obj)),
    }
}

/// `ResourcePoolResourceUsage`.
fn usage(runtime: &Element, resource: &str) -> Result<ResourceUsage, VsphereError> {
    let usage = runtime
        .child(resource)
        .ok_or_else(|| unexpected(format!("no runtime.{resource}")))?;
    let field = |name: &str| {
        let text = usage.child_text(name).unwrap_or_default().trim();
        text.parse::<i64>()
            .map_err(|_| unexpected(format!("runtime.{resource}.{name} is {text:?}")))
    };

    Ok(ResourceUsage {
        max: field("maxUsage")?,
        usage: field("overallUsage")?,
        unreserved: field("unreservedForVm")?,
    })
}

fn unexpected(detail: String) -> VsphereError {
    VsphereError::unexpected("RetrievePropertiesEx", detail)
}
