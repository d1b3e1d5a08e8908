//! The simulated world: its VMs, how they are made, and how they change between reads.

use domain::{Inventory, PowerState, ResourcePoolRuntime, ResourceUsage, VirtualMachine};
use serde_json::json;

use super::{OTHER_HATCHERY, SimulatorConfig};

const WORKER_MODELS: [&str; 3] = [
    "shared.infra/debian12",
    "shared.infra/ubuntu24",
    "shared.infra/windows2022",
];
const FLAVORS: [&str; 3] = ["", "b2-7", "c2-15"];
const MEMORY_SIZES_MB: [u64; 5] = [512, 1024, 2048, 4096, 8192];

/// Annotations a human or another tool may leave, which the exporter must count as broken.
const BROKEN_ANNOTATIONS: [&str; 5] = [
    "database server, ask ops before deleting",
    r#"{"hatchery_name":"truncated"#,
    r#"["not", "an", "object"]"#,
    r#"{"hatchery_name":42}"#,
    r#"{"hatchery_name":"HATCHERY","model":"true"}"#,
];

/// What a VM of the simulated inventory is, which decides its name and annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Worker,
    Provisioned,
    Template,
    OtherHatchery,
    Broken,
    Plain,
}

impl Role {
    fn is_worker(self) -> bool {
        matches!(self, Role::Worker | Role::Provisioned)
    }
}

/// Parts per hundred of each role in a new inventory; plain VMs take the rest.
const MIX: [(Role, usize); 5] = [
    (Role::Worker, 40),
    (Role::Provisioned, 8),
    (Role::Template, 4),
    (Role::OtherHatchery, 15),
    (Role::Broken, 8),
];

/// CPU MHz and memory bytes the simulated pool may use: three hosts' worth.
const POOL_CPU_MAX_MHZ: i64 = 3 * 2 * 2_300;
const POOL_MEMORY_MAX_BYTES: i64 = 3 * 64 * 1024 * 1024 * 1024;

#[derive(Debug)]
pub(super) struct World {
    rng: fastrand::Rng,
    hatchery_name: String,
    /// Each VM with the role it was made for, so churn can pick this hatchery's workers.
    vms: Vec<(Role, VirtualMachine)>,
    next_id: u64,
    inventory_reads: u64,
    pool: ResourcePoolRuntime,
}

impl World {
    pub(super) fn new(config: &SimulatorConfig) -> Self {
        let mut world = World {
            rng: fastrand::Rng::with_seed(config.seed),
            hatchery_name: config.hatchery_name.clone(),
            vms: Vec::with_capacity(config.vms),
            next_id: 1,
            inventory_reads: 0,
            pool: initial_pool(),
        };

        for role in roles(config.vms) {
            world.spawn(role);
        }
        world
    }

    /// The first read sees the world as made; every later one sees it one step on.
    pub(super) fn next_inventory(&mut self) -> Inventory {
        if self.inventory_reads > 0 {
            self.churn();
        }
        self.inventory_reads += 1;

        Inventory::new(self.vms.iter().map(|(_, vm)| vm.clone()).collect())
    }

    pub(super) fn next_resource_pool_runtime(&mut self) -> ResourcePoolRuntime {
        let runtime = self.pool;
        drift(&mut self.rng, &mut self.pool.cpu_mhz);
        drift(&mut self.rng, &mut self.pool.memory_bytes);
        runtime
    }

    /// Jobs end and their workers are destroyed; new jobs get new workers.
    fn churn(&mut self) {
        let workers = self.vms.iter().filter(|(role, _)| role.is_worker()).count();
        let most = (workers / 10).max(1);

        for _ in 0..self.rng.usize(0..=most) {
            self.destroy_a_worker();
        }
        for _ in 0..self.rng.usize(0..=most) {
            let role = if self.rng.u8(0..5) == 0 {
                Role::Provisioned
            } else {
                Role::Worker
            };
            self.spawn(role);
        }
    }

    fn destroy_a_worker(&mut self) {
        let workers: Vec<usize> = (0..self.vms.len())
            .filter(|&i| self.vms[i].0.is_worker())
            .collect();
        if let Some(&index) = self.rng.choice(workers.iter()) {
            self.vms.swap_remove(index);
        }
    }

    fn spawn(&mut self, role: Role) {
        let id = self.next_id;
        self.next_id += 1;
        let model = *self
            .rng
            .choice(&WORKER_MODELS)
            .expect("models are not empty");
        let short_model = model.rsplit('/').next().unwrap_or(model);

        let (name, annotation) = match role {
            Role::Worker => (
                format!("{short_model}-{id:06}"),
                self.annotation(role, model),
            ),
            Role::Provisioned => (
                format!("provision-{short_model}-{id:06}"),
                self.annotation(role, model),
            ),
            Role::Template => (
                format!("{short_model}-template-{id}"),
                self.annotation(role, model),
            ),
            Role::OtherHatchery => (
                format!("{short_model}-{id:06}"),
                self.annotation(role, model),
            ),
            Role::Broken => (format!("legacy-{id}"), Some(self.broken_annotation())),
            Role::Plain => (format!("DC0_C0_RP0_VM{id}"), None),
        };

        let vm = VirtualMachine {
            id: format!("vm-{}", 1000 + id),
            name,
            vcpus: self.rng.u32(1..=16),
            memory_mb: *self
                .rng
                .choice(&MEMORY_SIZES_MB)
                .expect("sizes are not empty"),
            annotation,
            power_state: if role == Role::Template {
                PowerState::PoweredOff
            } else {
                PowerState::PoweredOn
            },
            template: false,
        };
        self.vms.push((role, vm));
    }

    /// An annotation as the CDS hatchery writes it.
    fn annotation(&mut self, role: Role, model: &str) -> Option<String> {
        let hatchery = if role == Role::OtherHatchery {
            OTHER_HATCHERY
        } else {
            self.hatchery_name.as_str()
        };
        let flavor = *self.rng.choice(&FLAVORS).expect("flavors are not empty");
        let mut annotation = json!({
            "hatchery_name": hatchery,
            "worker_name": "",
            "register_only": false,
            "provisioning": role == Role::Provisioned,
            "worker_model_path": model,
            "worker_model_last_modified": "1764547200",
            "model": role == Role::Template,
            "created": "2026-12-01T08:00:00Z",
            "job_id": self.rng.u32(1..100_000).to_string(),
            "ip_address": "",
        });
        if !flavor.is_empty() {
            annotation["flavor"] = json!(flavor);
        }

        Some(annotation.to_string())
    }

    fn broken_annotation(&mut self) -> String {
        let broken = *self.rng.choice(&BROKEN_ANNOTATIONS).expect("not empty");
        broken.replace("HATCHERY", &self.hatchery_name)
    }
}

/// The roles of a new inventory of `size` VMs, in the proportions of [`MIX`].
fn roles(size: usize) -> Vec<Role> {
    let mut roles = Vec::with_capacity(size);
    for (role, parts) in MIX {
        let count = (size * parts).div_ceil(100);
        roles.extend(std::iter::repeat_n(role, count));
    }
    roles.truncate(size);
    roles.resize(size, Role::Plain);
    roles
}

fn initial_pool() -> ResourcePoolRuntime {
    ResourcePoolRuntime {
        cpu_mhz: usage_of(POOL_CPU_MAX_MHZ, 40, 75),
        memory_bytes: usage_of(POOL_MEMORY_MAX_BYTES, 55, 70),
    }
}

fn usage_of(max: i64, used_percent: i64, unreserved_percent: i64) -> ResourceUsage {
    ResourceUsage {
        max,
        usage: max / 100 * used_percent,
        unreserved: max / 100 * unreserved_percent,
    }
}

/// Moves usage by up to 5% of the maximum, staying between 5% and 95%.
fn drift(rng: &mut fastrand::Rng, figures: &mut ResourceUsage) {
    let step = figures.max / 20;
    let delta = rng.i64(-step..=step);
    figures.usage = (figures.usage + delta).clamp(figures.max / 20, figures.max / 20 * 19);
}
