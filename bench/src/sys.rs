//! The two system calls std does not offer: wait4(2), for a child's own CPU time and peak
//! memory, and kill(2), to ask a child to stop with SIGTERM.

use std::io;
use std::time::Duration;

/// What the kernel says of a child that ended.
#[derive(Debug, Clone, Copy)]
pub struct ChildUsage {
    /// The exit code, or `None` when a signal ended it.
    pub exit_code: Option<i32>,
    pub user: Duration,
    pub system: Duration,
    /// `ru_maxrss`: the largest resident set the child had, in bytes.
    pub max_rss_bytes: u64,
}

impl ChildUsage {
    pub fn cpu(&self) -> Duration {
        self.user + self.system
    }
}

/// Waits for the child `pid` and returns its own resource usage. The child is reaped:
/// its `std::process::Child` must not be waited for afterwards.
///
/// getrusage(RUSAGE_CHILDREN) would mix in every child reaped before (the Go build of
/// the launcher, cargo), and /proc loses the peak memory once the process has exited.
#[allow(unsafe_code, reason = "wait4 has no safe wrapper in std")]
pub fn wait_with_usage(pid: u32) -> io::Result<ChildUsage> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data, for which all zeroes is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are to live, writable locals of the right types.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == -1 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }

        let exit_code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        return Ok(ChildUsage {
            exit_code,
            user: timeval(usage.ru_utime),
            system: timeval(usage.ru_stime),
            // Linux counts ru_maxrss in kibibytes.
            max_rss_bytes: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
        });
    }
}

/// Sends SIGTERM to `pid`.
#[allow(unsafe_code, reason = "kill has no safe wrapper in std")]
pub fn terminate(pid: u32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: kill takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(pid, libc::SIGTERM) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn timeval(t: libc::timeval) -> Duration {
    let seconds = u64::try_from(t.tv_sec).unwrap_or(0);
    let micros = u64::try_from(t.tv_usec).unwrap_or(0);
    Duration::from_secs(seconds) + Duration::from_micros(micros)
}
