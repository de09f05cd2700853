//! Who a process is, as its claims and leases name it (`host/pid/start/n`), and whether a
//! claimant named that way is a process of this host that has stopped, so what it held can
//! be taken over at once instead of waiting for its lease to lapse.

use crate::domain::Timestamp;

/// The instances alive in this process (tests run several in one process).
static LIVE: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// `host/pid/start-millis/n` of a new instance (an engine, a lease holder) in this process,
/// registered as alive.
pub fn new_instance(now: Timestamp) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let id = format!(
        "{}/{}/{}/{n}",
        host_name(),
        std::process::id(),
        now.as_millis()
    );
    LIVE.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(id.clone());
    id
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}

/// Whether `claimant` (`host/pid/start`) is a warroom process on this host that no longer
/// runs: its claims can be ended at once. Claims of other hosts, and of any process that may
/// still run, wait for their lease.
pub fn is_dead_here(claimant: &str, me: &str) -> bool {
    let mut parts = claimant.split('/');
    let (Some(host), Some(pid), Some(_started)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if host.is_empty() || host != host_name() || claimant == me {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    if pid == std::process::id() {
        // Our pid: an instance of this process, or an earlier process that had our pid.
        return !LIVE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(claimant);
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        // Running, and (as far as its command line tells) a warroom: wait for the lease.
        Ok(cmdline) => !String::from_utf8_lossy(&cmdline).contains("warroom"),
        Err(_) => true,
    }
}
