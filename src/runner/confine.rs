//! Keeping every process of a run in hand, so that none outlives it.
//!
//! A run's process group is not enough: a process can leave it (`setsid`), and once its
//! parent exits it would be adopted by PID 1 and be out of reach. So:
//!
//! - warroom makes itself a *child subreaper* (`PR_SET_CHILD_SUBREAPER`): an orphaned
//!   descendant is adopted by warroom instead, and stays findable as its child;
//! - each run tracks its processes ([`Tracker`]) by reading `/proc` while it runs: every
//!   descendant of its first process, everything in its process group, and every process
//!   warroom adopted that holds the run's output pipe or left warroom's session since the
//!   run started; a stop signals the group *and* every tracked process;
//! - adopted processes of a run that exit are reaped here (tokio reaps only the children it
//!   spawned, which are never touched here: see [`spawn_registered`]);
//! - descriptors warroom inherited without close-on-exec are marked close-on-exec before
//!   each spawn, so a command gets only stdin, stdout and stderr.
//!
//! What stays out of reach: a process that leaves the session and closes the output pipe
//! and whose parent exits between two looks (`TRACK_INTERVAL`) while another run that
//! started later is running too; it is then attributed to that run and stopped with it.
//! Where the kernel has no subreaper (not Linux), only the group and the tree are tracked.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{Pid, getpid, getsid};

/// How often a running run looks for new processes of its own. Often enough that a
/// double fork rarely slips between two looks (and the output pipe or the session still
/// give such a process away), rarely enough that reading `/proc` costs little.
pub(crate) const TRACK_INTERVAL: Duration = Duration::from_millis(50);

/// The direct children runners spawned in this process and have not reaped yet. Tokio
/// waits for these; reaping one here would steal its exit status.
static SPAWNED: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Makes warroom adopt orphaned descendants, once per process; says why not if it cannot.
pub(crate) fn become_subreaper() -> Option<String> {
    static DONE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        #[cfg(target_os = "linux")]
        {
            nix::sys::prctl::set_child_subreaper(true)
                .err()
                .map(|error| format!("cannot become a child subreaper ({error}): a process that leaves its run's process group and loses its parent escapes the runner"))
        }
        #[cfg(not(target_os = "linux"))]
        {
            Some("no child subreaper on this system: a process that leaves its run's process group and loses its parent escapes the runner".to_owned())
        }
    })
    .clone()
}

/// Marks every descriptor from 3 up close-on-exec. warroom opens its own with
/// close-on-exec already; this catches those it inherited (from a shell, a supervisor) and
/// any a library opened without it, so they never reach a command.
pub(crate) fn close_inherited_descriptors() {
    close_fds::set_fds_cloexec(3, &[]);
}

fn spawned() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    SPAWNED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Spawns `command`, registering the child before any tracker can see it as adopted.
pub(crate) fn spawn_registered(
    command: &mut tokio::process::Command,
) -> std::io::Result<tokio::process::Child> {
    let mut registry = spawned();
    close_inherited_descriptors();
    let child = command.spawn()?;
    if let Some(pid) = child.id() {
        registry.insert(pid as i32);
    }
    Ok(child)
}

/// The child `pid` was reaped by tokio; it is no longer one of ours.
pub(crate) fn forget_spawned(pid: u32) {
    spawned().remove(&(pid as i32));
}

/// One process as `/proc/<pid>/stat` shows it.
#[derive(Clone, Copy, Debug)]
struct Proc {
    pid: i32,
    ppid: i32,
    pgrp: i32,
    session: i32,
    /// Clock ticks after boot; with the pid, it names one process (pids are reused).
    start: u64,
    zombie: bool,
}

fn read_proc(pid: &str) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Proc {
        pid: pid.parse().ok()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
        zombie: matches!(fields.first(), Some(&("Z" | "X"))),
    })
}

/// Every process `/proc` shows; `None` when `/proc` cannot be read.
fn snapshot() -> Option<Vec<Proc>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        // Gone since the listing, or not ours to read: either way not one to track.
        if let Some(proc) = read_proc(pid) {
            found.push(proc);
        }
    }
    Some(found)
}

/// Whether process `pid` holds a descriptor on `pipe` (as `/proc/*/fd` names it).
fn holds(pid: i32, pipe: &str) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == pipe))
}

/// The processes of one run.
#[derive(Debug)]
pub(crate) struct Tracker {
    /// The run's first process, which leads its process group.
    root: Pid,
    root_start: u64,
    /// The output pipe as `/proc/*/fd` links name it (`pipe:[inode]`).
    pipe: Option<String>,
    me: i32,
    my_session: i32,
    /// Every process found to be the run's, by pid, with its start time.
    known: BTreeMap<i32, u64>,
}

impl Tracker {
    /// Starts tracking the run whose first process is `root` and whose output pipe's read
    /// end is descriptor `pipe_fd` of warroom.
    pub(crate) fn new(root: u32, pipe_fd: i32) -> Tracker {
        let pipe = std::fs::read_link(format!("/proc/self/fd/{pipe_fd}"))
            .ok()
            .map(|target| target.to_string_lossy().into_owned());
        let root_start = read_proc(&root.to_string()).map_or(0, |proc| proc.start);
        let mut tracker = Tracker {
            root: Pid::from_raw(root as i32),
            root_start,
            pipe,
            me: getpid().as_raw(),
            my_session: getsid(None).map_or(0, Pid::as_raw),
            known: BTreeMap::new(),
        };
        tracker.known.insert(root as i32, root_start);
        tracker
    }

    /// Looks at `/proc` again: forgets tracked processes that are gone, adds new
    /// descendants and adopted processes of the run, and reaps those of them that exited
    /// after warroom adopted them. Returns whether any process of the run is alive (`true`
    /// when `/proc` cannot be read: better to wait the grace than to miss one).
    pub(crate) fn refresh(&mut self) -> bool {
        let Some(procs) = snapshot() else {
            return !matches!(killpg(self.root, None), Err(Errno::ESRCH));
        };
        let by_pid: BTreeMap<i32, &Proc> = procs.iter().map(|proc| (proc.pid, proc)).collect();
        self.known
            .retain(|pid, start| by_pid.get(pid).is_some_and(|proc| proc.start == *start));
        let registered = spawned().clone();
        // Descendants, to any depth: repeat until a pass adds nothing.
        loop {
            let mut added = false;
            for proc in &procs {
                if self.known.contains_key(&proc.pid) {
                    continue;
                }
                let parent_is_ours = self.known.contains_key(&proc.ppid);
                let in_group = proc.pgrp == self.root.as_raw();
                let adopted = proc.ppid == self.me
                    && !registered.contains(&proc.pid)
                    && proc.start >= self.root_start
                    && (proc.session != self.my_session
                        || self
                            .pipe
                            .as_deref()
                            .is_some_and(|pipe| holds(proc.pid, pipe)));
                if parent_is_ours || in_group || adopted {
                    self.known.insert(proc.pid, proc.start);
                    added = true;
                }
            }
            if !added {
                break;
            }
        }
        let mut alive = false;
        for proc in &procs {
            let ours = self.known.contains_key(&proc.pid) || proc.pgrp == self.root.as_raw();
            if !ours {
                continue;
            }
            if !proc.zombie {
                alive = true;
            } else if proc.ppid == self.me && !registered.contains(&proc.pid) {
                // Adopted by warroom and exited: nobody else will reap it.
                let _ = waitpid(Pid::from_raw(proc.pid), Some(WaitPidFlag::WNOHANG));
                self.known.remove(&proc.pid);
            }
        }
        alive
    }

    /// Sends `signal` to the run's process group and to every tracked process.
    pub(crate) fn signal(&mut self, signal: Signal) {
        self.refresh();
        let _ = killpg(self.root, signal);
        for pid in self.known.keys() {
            if *pid != self.root.as_raw() {
                let _ = kill(Pid::from_raw(*pid), signal);
            }
        }
    }

    /// SIGKILL to everything of the run, without looking at `/proc` first (for `Drop`,
    /// where speed matters more than finding newcomers).
    pub(crate) fn kill_known(&self) {
        let _ = killpg(self.root, Signal::SIGKILL);
        for pid in self.known.keys() {
            if *pid != self.root.as_raw() {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
        }
    }

    /// Reaps what was adopted and has exited, after the run's processes are gone.
    pub(crate) fn reap(&mut self) {
        self.refresh();
    }
}
