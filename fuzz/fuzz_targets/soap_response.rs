//! Any HTTP body through the vSphere answer parsers, as the adapter reads a 200 answer:
//! the envelope, the fault, the service content, a page of VMs, the Resource Pool runtime,
//! the datacenter layout and the change feed's update set. Each must return, whatever the
//! bytes; the VMs read are then run through the domain, as a collection does.

#![no_main]

use adapters::vsphere::{VsphereError, fuzzing};
use domain::{Inventory, Limits, ResourcePoolRuntime, Snapshot, VirtualMachine};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = fuzzing::envelope(body).map_err(|error| describe(&error));
    let _ = fuzzing::service_content(body).map_err(|error| describe(&error));
    let _ = fuzzing::default_resource_pool(body).map_err(|error| describe(&error));

    let runtime = match fuzzing::resource_pool_runtimes(body) {
        Ok(runtimes) => runtimes.first().copied(),
        Err(error) => {
            describe(&error);
            None
        }
    };

    match fuzzing::virtual_machines(body) {
        Ok(vms) => compute(vms, runtime),
        Err(error) => describe(&error),
    }

    match fuzzing::update_set(body) {
        Ok(Some(vms)) => compute(vms, runtime),
        Ok(None) => {}
        Err(error) => describe(&error),
    }
});

fn compute(vms: Vec<VirtualMachine>, runtime: Option<ResourcePoolRuntime>) {
    let count = vms.len() as u64;
    let snapshot = Snapshot::compute(&Inventory::new(vms), "h", Limits::default(), runtime);
    assert_eq!(snapshot.pool.vm_count, count);
}

/// What the exporter does with an error: its reason for a label, the chain for a log line.
fn describe(error: &VsphereError) {
    let mut text = format!("{}: {error}", error.reason());
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    std::hint::black_box(text);
}
