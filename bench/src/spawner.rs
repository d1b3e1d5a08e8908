//! The bench binary run as a small spawner of the exporter, so that the exporter's peak
//! memory is its own.
//!
//! Linux carries a process's peak resident memory (`ru_maxrss`) across exec, and a child
//! spawned with vfork (as std does, through posix_spawn) or fork starts with the peak of
//! the address space it came from. Spawned straight from the benchmark, which holds
//! several full reads of 10,000 VMs, the exporter would report the benchmark's peak. So the
//! benchmark starts itself afresh (`__spawn COMMAND ARGS...`, a few MB), this small process
//! spawns the exporter, waits for it with wait4(2), and prints its usage as one line of JSON
//! on stderr. The exporter's stdout passes straight through.

use std::ffi::OsString;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::sys;

/// The first argument that asks for the spawner.
const SPAWN: &str = "__spawn";

/// What the spawner reports.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Usage {
    pub exit_code: Option<i32>,
    pub user_micros: u64,
    pub system_micros: u64,
    pub max_rss_bytes: u64,
}

/// The command to spawn, when this process was started as the spawner.
pub fn requested() -> Option<Vec<OsString>> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != SPAWN {
        return None;
    }
    Some(args.collect())
}

/// `command` run through the spawner: the bench binary with `__spawn` first.
pub fn wrap(command: &Command) -> anyhow::Result<Command> {
    let mut wrapped = Command::new(std::env::current_exe()?);
    wrapped
        .arg(SPAWN)
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(name, value),
            None => wrapped.env_remove(name),
        };
    }
    Ok(wrapped)
}

/// Spawns `command`, waits for it, prints its usage and exits.
pub fn run(command: Vec<OsString>) -> ! {
    let Some((program, args)) = command.split_first() else {
        eprintln!("usage: {SPAWN} COMMAND [ARGS...]");
        std::process::exit(2);
    };
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::null())
        .spawn();
    let usage = child.and_then(|child| sys::wait_with_usage(child.id()));
    match usage {
        Ok(usage) => {
            let usage = Usage {
                exit_code: usage.exit_code,
                user_micros: usage.user.as_micros() as u64,
                system_micros: usage.system.as_micros() as u64,
                max_rss_bytes: usage.max_rss_bytes,
            };
            eprintln!("{}", serde_json::to_string(&usage).unwrap_or_default());
            std::process::exit(0);
        }
        Err(error) => {
            eprintln!("cannot run {}: {error}", program.to_string_lossy());
            std::process::exit(1);
        }
    }
}
