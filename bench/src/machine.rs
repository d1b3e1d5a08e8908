//! The machine the figures were measured on: CPUs, memory, load.

use std::fmt;

#[derive(Debug, Clone)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_total: String,
    pub memory_available: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model: field(&cpuinfo, "model name")
                .unwrap_or("unknown")
                .to_owned(),
            memory_total: kibibytes(field(&meminfo, "MemTotal")),
            memory_available: kibibytes(field(&meminfo, "MemAvailable")),
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} CPUs ({}), memory {} total, {} available",
            self.cpus, self.cpu_model, self.memory_total, self.memory_available
        )
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The value after `name:` on the first line that starts with it.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find(|line| line.starts_with(name))
        .and_then(|line| line.split_once(':'))
        .map(|(_, value)| value.trim())
}

/// `24576000 kB` as `23.4 GiB`.
fn kibibytes(value: Option<&str>) -> String {
    value
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or_else(
            || "unknown".to_owned(),
            |kib| format!("{:.1} GiB", kib / (1024.0 * 1024.0)),
        )
}

/// The CPU time of the whole machine so far, from /proc/stat: all of it, and the part the
/// hypervisor gave to other guests (steal), in clock ticks.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    total: u64,
    steal: u64,
    idle: u64,
}

impl CpuTimes {
    pub fn read() -> CpuTimes {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        let at = |i: usize| ticks.get(i).copied().unwrap_or(0);
        CpuTimes {
            total: ticks.iter().sum(),
            // user nice system idle iowait irq softirq steal ...
            idle: at(3) + at(4),
            steal: at(7),
        }
    }

    /// `busy 63%, steal 2%` of the machine's CPU time since `earlier`.
    pub fn since(self, earlier: CpuTimes) -> String {
        let total = self.total.saturating_sub(earlier.total).max(1) as f64;
        let idle = self.idle.saturating_sub(earlier.idle) as f64;
        let steal = self.steal.saturating_sub(earlier.steal) as f64;
        format!(
            "busy {:.0}%, stolen by the hypervisor {:.1}%",
            100.0 * (total - idle - steal) / total,
            100.0 * steal / total
        )
    }
}
