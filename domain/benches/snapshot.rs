//! `Snapshot::compute` over 100,000 generated VMs: `cargo bench -p cds-vsphere-domain`.
//!
//! The inventory mixes VMs as the govmomi launcher of the tests does (tests/vcsim): 40%
//! this hatchery's workers, 8% provisioned ones, 4% worker model templates, 15% another
//! hatchery's VMs, 8% broken annotations, the rest without annotation. The annotations are
//! written the way the CDS hatchery writes them, about 300 bytes each, so that parsing them
//! weighs what it weighs in production.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use domain::{Inventory, Limits, PowerState, Snapshot, VirtualMachine};

const VMS: usize = 100_000;
const HATCHERY: &str = "hatchery-vsphere";
const MODELS: [&str; 3] = [
    "shared.infra/debian12",
    "shared.infra/ubuntu22",
    "shared.infra/rocky9",
];
const FLAVORS: [&str; 3] = ["", "b2-7", "c2-15"];

/// What a generated VM is made to look like.
#[derive(Clone, Copy)]
enum Role {
    Worker,
    Provisioned,
    Template,
    OtherHatchery,
    Broken,
    Plain,
}

/// The role of the VM drawn `draw` out of 100.
fn role(draw: u64) -> Role {
    match draw {
        0..40 => Role::Worker,
        40..48 => Role::Provisioned,
        48..52 => Role::Template,
        52..67 => Role::OtherHatchery,
        67..75 => Role::Broken,
        _ => Role::Plain,
    }
}

/// splitmix64: a fixed sequence, so that every run measures the same inventory.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn cds_annotation(draws: &mut Draws, hatchery: &str, worker: &str, model: bool) -> String {
    format!(
        concat!(
            r#"{{"hatchery_name":"{}","worker_name":"{}","register_only":false,"#,
            r#""provisioning":false,"worker_model_path":"{}","#,
            r#""worker_model_last_modified":"1767225600","model":{},"#,
            r#""created":"2026-01-05T10:{:02}:00Z","job_id":"{}","ip_address":"","flavor":"{}"}}"#
        ),
        hatchery,
        worker,
        draws.pick(&MODELS),
        model,
        draws.below(60),
        1000 + draws.below(900_000),
        draws.pick(&FLAVORS),
    )
}

fn generate(count: usize) -> Inventory {
    let mut draws = Draws(1);
    let vms = (0..count)
        .map(|i| {
            let mut name = format!("vm-{i:06}");
            let annotation = match role(draws.below(100)) {
                Role::Worker => {
                    name = format!("worker-{i:06}");
                    Some(cds_annotation(&mut draws, HATCHERY, &name, false))
                }
                Role::Provisioned => {
                    name = format!("provision-worker-{i:06}");
                    Some(cds_annotation(&mut draws, HATCHERY, &name, false))
                }
                Role::Template => Some(cds_annotation(&mut draws, HATCHERY, "", true)),
                Role::OtherHatchery => {
                    Some(cds_annotation(&mut draws, "other-hatchery", &name, false))
                }
                Role::Broken => Some(r#"{"hatchery_name":"hatchery-vsphere","mod"#.to_owned()),
                Role::Plain => None,
            };
            VirtualMachine {
                id: format!("vm-{}", 100 + i),
                name,
                vcpus: 1 + draws.below(16) as u32,
                memory_mb: 512 << draws.below(5),
                annotation,
                power_state: PowerState::PoweredOn,
                template: false,
            }
        })
        .collect();
    Inventory::new(vms)
}

fn snapshot(c: &mut Criterion) {
    let inventory = generate(VMS);

    c.bench_function("snapshot_compute_100000_vms", |b| {
        b.iter(|| {
            Snapshot::compute(
                black_box(&inventory),
                black_box(HATCHERY),
                Limits::default(),
                None,
            )
        })
    });
}

criterion_group! {
    name = benches;
    // One computation takes tens of milliseconds: ten samples over a few seconds are
    // enough for a stable median and keep `cargo bench` short.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = snapshot
}
criterion_main!(benches);
