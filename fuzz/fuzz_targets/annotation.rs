//! Any bytes, read as UTF-8 lossily, as CDS annotations: parsed alone, then as the
//! annotations of an inventory (one VM per record, records split at U+001E) whose snapshot
//! must keep the domain's sums.

#![no_main]

use domain::{CdsAnnotation, Inventory, Limits, PowerState, Snapshot, VirtualMachine};
use libfuzzer_sys::fuzz_target;

/// The ASCII record separator: rare in annotations, so the fuzzer meets it only on purpose.
const RECORD_SEPARATOR: char = '\u{1e}';

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    let parsed = CdsAnnotation::parse(&text);
    assert_eq!(
        matches!(parsed, Ok(None)),
        text.trim().is_empty(),
        "only a blank annotation is no annotation"
    );
    if let Err(error) = &parsed {
        std::hint::black_box(error.to_string());
    }

    check_snapshot(&text);
});

fn check_snapshot(text: &str) {
    let records: Vec<&str> = text.split(RECORD_SEPARATOR).collect();
    let hatchery = records
        .iter()
        .find_map(|record| CdsAnnotation::parse(record).ok().flatten())
        .map(|annotation| annotation.hatchery_name)
        .unwrap_or_default();
    let vms: Vec<VirtualMachine> = records.iter().enumerate().map(vm).collect();

    let snapshot = Snapshot::compute(
        &Inventory::new(vms.clone()),
        &hatchery,
        Limits::default(),
        None,
    );

    let n = vms.len() as u64;
    assert_eq!(snapshot.pool.vm_count, n);
    assert_eq!(
        snapshot.pool.total.vcpus,
        vms.iter().map(|vm| u64::from(vm.vcpus)).sum::<u64>()
    );
    let unparsable = vms
        .iter()
        .filter_map(|vm| vm.annotation.as_deref())
        .filter(|raw| CdsAnnotation::parse(raw).is_err())
        .count() as u64;
    assert_eq!(snapshot.unparsable_annotations, unparsable);

    let hatchery_vms = &snapshot.hatchery;
    assert!(hatchery_vms.vm_count + hatchery_vms.template_count + unparsable <= n);
    assert!(hatchery_vms.provisioned_vm_count <= hatchery_vms.vm_count);
    let workers_vcpus: u64 = snapshot.workers.iter().map(|w| w.usage.vcpus).sum();
    let workers_memory: u64 = snapshot.workers.iter().map(|w| w.usage.memory_mb).sum();
    assert_eq!(workers_vcpus, hatchery_vms.allocated.vcpus);
    assert_eq!(workers_memory, hatchery_vms.allocated.memory_mb);
    assert!(
        snapshot
            .workers
            .windows(2)
            .all(|w| w[0].labels < w[1].labels),
        "workers sorted, one entry per label set"
    );
}

/// A VM of varied shape around one record; names repeat so that series collide.
fn vm((index, record): (usize, &&str)) -> VirtualMachine {
    let prefix = if index % 2 == 1 {
        "provision"
    } else {
        "worker"
    };
    VirtualMachine {
        id: format!("vm-{index}"),
        name: format!("{prefix}-{}", index % 4),
        vcpus: (index % 64) as u32,
        memory_mb: (index as u64) * 1024,
        annotation: (index % 5 != 4).then(|| (*record).to_owned()),
        power_state: if index % 3 == 0 {
            PowerState::PoweredOn
        } else {
            PowerState::PoweredOff
        },
        template: index % 7 == 6,
    }
}
