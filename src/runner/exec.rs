//! Running an invocation: no shell, a cleared environment, stdin closed, its own process
//! group; output merged in arrival order, redacted, streamed, capped and hashed; a timeout or
//! a cancel stops the whole group (SIGTERM, then SIGKILL), and so does a run that leaves
//! processes behind.

use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use regex::Regex;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use crate::config::{CommandsConfig, Environment};
use crate::domain::format_duration;

use super::bind::Invocation;
use super::catalog::EnvValue;
use super::lock::{LockGuard, LockTable};
use super::output::{HeadTail, LineSplitter};
use super::redact::Redactor;

/// The only `PATH` a child gets. Programs are named by absolute path, but some start
/// helpers by name (`docker` its compose plugin, `pg_dump` nothing, `systemctl` a pager it
/// does not use without a terminal); these root-owned system folders are where such helpers
/// live, and warroom's own `PATH` (which may hold user-writable folders) is never passed on.
pub const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// After the run's processes are gone, how long to keep reading a pipe that is still open:
/// only a process that left the process group (with `setsid`) can hold it, and the run
/// should not wait for such a process to finish.
pub const OUTPUT_DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// How much is read from the output pipe at once: a few screens of text per wake-up, so a
/// chatty program costs few progress events, while a slow one still streams line by line.
const READ_CHUNK_BYTES: usize = 8_192;

/// How often to look whether a stopped process group is gone yet, between TERM and KILL:
/// often enough that a run ends within a blink of its last process, rarely enough that
/// reading `/proc` costs nothing noticeable.
const GROUP_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The runner's limits and redaction, normally from `[commands]`.
#[derive(Clone, Debug)]
pub struct RunnerSettings {
    /// Patterns replaced by `[redacted]` in output (a group named `secret` limits the
    /// replacement to that group).
    pub redact: Vec<Regex>,
    /// The kept output: the first and last half of this many bytes.
    pub output_cap_bytes: usize,
    /// The largest full-output file written per run.
    pub output_file_max_bytes: u64,
    /// Between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
}

impl RunnerSettings {
    pub fn from_config(config: &CommandsConfig) -> RunnerSettings {
        RunnerSettings {
            redact: config.redact.clone(),
            output_cap_bytes: config.output_cap_bytes,
            output_file_max_bytes: config.output_file_max_bytes,
            kill_grace: config.kill_grace,
        }
    }
}

/// Runs invocations. One per warroom process: its lock table is what serializes runs with
/// the same lock key.
#[derive(Debug)]
pub struct Runner {
    settings: RunnerSettings,
    /// warroom's own environment, where `{ from_env = "..." }` secrets are read at run time.
    env: Environment,
    locks: LockTable,
}

/// Per-run choices of the caller.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Write the whole redacted output here (up to `output_file_max_bytes`); the folder is
    /// created if needed and the file is readable by warroom's user only.
    pub output_file: Option<PathBuf>,
    /// Stops the run (or its wait for the lock) when cancelled.
    pub cancel: Option<Cancel>,
}

/// What happens during a run, as it happens, for streaming into a channel. Output is
/// already redacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Another run holds the lock; this one waits (at most its timeout).
    WaitingForLock { key: String },
    /// The process started.
    Started { pid: u32, lock_waited: Duration },
    /// New output: whole lines (or pieces of a very long line), redacted.
    Output {
        text: String,
        /// Since the process started.
        elapsed: Duration,
        /// All output so far, in bytes.
        total_bytes: u64,
    },
    /// The process group is being stopped.
    Stopping {
        reason: StopReason,
        signal: &'static str,
        elapsed: Duration,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    TimedOut,
    Cancelled,
    /// The command exited but processes it started were still running.
    Leftovers,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    pub pid: u32,
    pub exit: Exit,
    pub timed_out: bool,
    pub cancelled: bool,
    /// From the start of the process to its exit.
    pub duration: Duration,
    /// How long the run waited for its lock before starting.
    pub lock_waited: Duration,
    pub output: CapturedOutput,
    /// Anything unusual worth recording, in words (leftover processes stopped, the output
    /// file cut or failing, a pipe held open).
    pub notes: Vec<String>,
}

impl RunOutcome {
    /// Exited by itself with status 0.
    pub fn succeeded(&self) -> bool {
        self.exit == Exit::Code(0) && !self.timed_out && !self.cancelled
    }

    /// One line for the result message, e.g. `exit 0 after 1.2s` or
    /// `timed out after 30s; ended by SIGTERM`.
    pub fn summary(&self) -> String {
        let after = format_duration(self.duration);
        let ended = match &self.exit {
            Exit::Code(code) => format!("exit {code}"),
            Exit::Signal { name, .. } => format!("ended by {name}"),
        };
        if self.timed_out {
            format!("timed out after {after}; {ended}")
        } else if self.cancelled {
            format!("cancelled after {after}; {ended}")
        } else {
            format!("{ended} after {after}")
        }
    }
}

/// The exit status of the process itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    /// Terminated by a signal, e.g. 9 and `SIGKILL`.
    Signal {
        number: i32,
        name: String,
    },
}

/// The run's output, redacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedOutput {
    /// The kept output: all of it, or its head and tail with a line saying what was cut.
    pub text: String,
    /// The whole output's size, in bytes.
    pub total_bytes: u64,
    /// Bytes left out of `text`.
    pub cut_bytes: u64,
    /// SHA-256 (hex) of the whole output, equal to the file's when the file is complete.
    pub sha256: String,
    /// The full-output file, when one was asked for.
    pub file: Option<PathBuf>,
    /// Whether the file holds the whole output (false when it hit its limit or failed).
    pub file_complete: bool,
}

/// Why a run did not happen or was lost track of. Except for `Wait`, nothing was started.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "`{command}` needs the secret {variable} (for its {name}), which is not set in warroom's environment; set it where warroom is started and restart warroom"
    )]
    MissingSecret {
        command: String,
        name: String,
        variable: String,
    },
    #[error(
        "`{command}` waited {} for `{key}`, held by another run, and gave up; try again when that run has finished",
        format_duration(*waited)
    )]
    LockTimeout {
        command: String,
        key: String,
        waited: Duration,
    },
    #[error("`{command}` was cancelled while it waited for `{key}`; nothing ran")]
    CancelledBeforeStart { command: String, key: String },
    #[error(
        "cannot start {}: {source}; check that the program is installed there and that warroom's user may run it",
        program.display()
    )]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot create the output file {}: {source}; check [commands] output_dir and its permissions",
        path.display()
    )]
    OutputFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the output pipe: {0}; warroom may be out of file descriptors")]
    Pipe(std::io::Error),
    /// The process was started, but waiting for it failed; its group has been killed.
    #[error("lost track of process {pid}: {source}; its process group was killed")]
    Wait { pid: u32, source: std::io::Error },
}

/// Cancels a run from elsewhere (a Cancel button).
#[derive(Debug)]
pub struct Canceller(watch::Sender<bool>);

impl Canceller {
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }
}

/// Handed to a run in [`RunOptions`]; the run stops when its [`Canceller`] cancels.
#[derive(Clone, Debug)]
pub struct Cancel(watch::Receiver<bool>);

impl Cancel {
    /// Completes once cancelled; never, if the canceller is dropped without cancelling.
    pub async fn cancelled(&mut self) {
        loop {
            if *self.0.borrow_and_update() {
                return;
            }
            if self.0.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// A connected canceller and cancel.
pub fn cancel_pair() -> (Canceller, Cancel) {
    let (sender, receiver) = watch::channel(false);
    (Canceller(sender), Cancel(receiver))
}

async fn cancelled(cancel: &mut Option<Cancel>) {
    match cancel {
        Some(cancel) => cancel.cancelled().await,
        None => std::future::pending().await,
    }
}

impl Runner {
    /// `env` is warroom's own environment, from which secrets are taken at run time
    /// (`Environment::from_process()` in production).
    pub fn new(settings: RunnerSettings, env: Environment) -> Runner {
        Runner {
            settings,
            env,
            locks: LockTable::default(),
        }
    }

    pub fn settings(&self) -> &RunnerSettings {
        &self.settings
    }

    /// Whether a run holds the lock `key` now (to say "busy" before queueing a request).
    pub fn is_locked(&self, key: &str) -> bool {
        self.locks.is_held(key)
    }

    /// Runs `invocation` to its end and reports how it went; `progress` hears about it as it
    /// happens. Waits first for the invocation's lock (at most its timeout). Exit codes,
    /// signals, timeouts and cancels are outcomes, not errors: an error means the run did not
    /// start (or, for `Wait`, was lost track of).
    pub async fn run(
        &self,
        invocation: &Invocation,
        options: RunOptions,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<RunOutcome, RunError> {
        let mut env = Vec::new();
        let mut secrets = Vec::new();
        for (name, value) in invocation.env() {
            match value {
                EnvValue::Literal(text) => env.push((name.clone(), text.clone())),
                EnvValue::FromEnv(variable) => match self.env.get(variable) {
                    Some(secret) => {
                        secrets.push(secret.to_owned());
                        env.push((name.clone(), secret.to_owned()));
                    }
                    None => {
                        return Err(RunError::MissingSecret {
                            command: invocation.command().to_owned(),
                            name: name.clone(),
                            variable: variable.clone(),
                        });
                    }
                },
            }
        }
        let redactor = Redactor::new(&self.settings.redact, secrets);
        let mut cancel = options.cancel;

        let asked_for_lock = Instant::now();
        let _lock = match invocation.lock() {
            Some(key) => Some(self.acquire(key, invocation, &mut cancel, progress).await?),
            None => None,
        };
        let lock_waited = asked_for_lock.elapsed();

        let file = match &options.output_file {
            Some(path) => Some(
                OutputFile::create(path, self.settings.output_file_max_bytes)
                    .await
                    .map_err(|source| RunError::OutputFile {
                        path: path.clone(),
                        source,
                    })?,
            ),
            None => None,
        };
        let mut sink = OutputSink {
            splitter: LineSplitter::default(),
            redactor,
            kept: HeadTail::new(self.settings.output_cap_bytes),
            hasher: Sha256::new(),
            file,
        };

        // One pipe for both stdout and stderr: the child's writes arrive in the order it made
        // them, as a terminal would show them.
        let (reader, writer) = std::io::pipe().map_err(RunError::Pipe)?;
        let stderr_writer = writer.try_clone().map_err(RunError::Pipe)?;
        let mut command = tokio::process::Command::new(invocation.program());
        command
            .args(invocation.args())
            .env_clear()
            .env("PATH", SAFE_PATH)
            .envs(env)
            .current_dir(invocation.workdir())
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(stderr_writer)
            .process_group(0)
            .kill_on_drop(true);
        let spawned = command.spawn();
        // The command holds the parent's copies of the pipe's write end; without dropping
        // them the pipe would never report its end.
        drop(command);
        let mut child = spawned.map_err(|source| RunError::Spawn {
            program: invocation.program().to_owned(),
            source,
        })?;
        let pid = child.id().expect("a process just spawned has an id");
        // With process_group(0) the child leads a new group whose id is its pid.
        let mut group = GroupGuard {
            group: Pid::from_raw(pid as i32),
            armed: true,
        };
        let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))
            .map_err(RunError::Pipe)?;
        let started = Instant::now();
        progress(Progress::Started { pid, lock_waited });

        let grace = self.settings.kill_grace;
        let deadline = started + invocation.timeout();
        let mut notes = Vec::new();
        let mut stopping: Option<StopReason> = None;
        let mut kill_at: Option<Instant> = None;
        let mut killed = false;
        let mut pipe_open = true;
        let mut buffer = vec![0u8; READ_CHUNK_BYTES];

        // Until the process itself exits.
        let status = loop {
            tokio::select! {
                read = pipe.read(&mut buffer), if pipe_open => {
                    pipe_open = sink
                        .take(read, &buffer, started, progress, &mut notes)
                        .await;
                }
                waited = child.wait() => match waited {
                    Ok(status) => break status,
                    Err(source) => {
                        group.kill_now();
                        return Err(RunError::Wait { pid, source });
                    }
                },
                () = sleep_until(deadline), if stopping.is_none() => {
                    stopping = Some(StopReason::TimedOut);
                    kill_at = Some(group.terminate(StopReason::TimedOut, grace, started, progress));
                }
                () = cancelled(&mut cancel), if stopping.is_none() => {
                    stopping = Some(StopReason::Cancelled);
                    kill_at = Some(group.terminate(StopReason::Cancelled, grace, started, progress));
                }
                () = sleep_until(kill_at.unwrap_or(deadline)), if kill_at.is_some() => {
                    group.kill(stopping.unwrap_or(StopReason::TimedOut), started, progress);
                    kill_at = None;
                    killed = true;
                }
            }
        };
        let duration = started.elapsed();

        // Nothing the run started may outlive it: stop what is left of its group.
        if !killed && group.alive() {
            let kill_at = match kill_at {
                Some(kill_at) => kill_at,
                None => {
                    notes.push(
                        "processes it started were still running after it exited; they were stopped"
                            .to_owned(),
                    );
                    group.terminate(StopReason::Leftovers, grace, started, progress)
                }
            };
            let mut poll = tokio::time::interval(GROUP_POLL_INTERVAL);
            loop {
                tokio::select! {
                    read = pipe.read(&mut buffer), if pipe_open => {
                        pipe_open = sink
                            .take(read, &buffer, started, progress, &mut notes)
                            .await;
                    }
                    _ = poll.tick() => {
                        if !group.alive() {
                            break;
                        }
                    }
                    () = sleep_until(kill_at) => {
                        group.kill(stopping.unwrap_or(StopReason::Leftovers), started, progress);
                        break;
                    }
                }
            }
        }
        group.armed = false;

        // The rest of the output, unless something that left the group holds the pipe.
        if pipe_open {
            let drain_until = Instant::now() + OUTPUT_DRAIN_LIMIT;
            loop {
                tokio::select! {
                    read = pipe.read(&mut buffer) => {
                        if !sink.take(read, &buffer, started, progress, &mut notes).await {
                            break;
                        }
                    }
                    () = sleep_until(drain_until) => {
                        notes.push(format!(
                            "stopped reading output {} after the run ended: a process that left its process group still holds the output open",
                            format_duration(OUTPUT_DRAIN_LIMIT)
                        ));
                        break;
                    }
                }
            }
        }
        let output = sink.finish(started, progress, &mut notes).await;

        let exit = match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(number)) => Exit::Signal {
                number,
                name: Signal::try_from(number)
                    .map(|signal| signal.as_str().to_owned())
                    .unwrap_or_else(|_| format!("signal {number}")),
            },
            (None, None) => Exit::Code(-1),
        };
        Ok(RunOutcome {
            pid,
            exit,
            timed_out: stopping == Some(StopReason::TimedOut),
            cancelled: stopping == Some(StopReason::Cancelled),
            duration,
            lock_waited,
            output,
            notes,
        })
    }

    async fn acquire(
        &self,
        key: &str,
        invocation: &Invocation,
        cancel: &mut Option<Cancel>,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<LockGuard, RunError> {
        let lock = self.locks.get(key);
        if let Ok(guard) = lock.clone().try_lock_owned() {
            return Ok(guard);
        }
        progress(Progress::WaitingForLock {
            key: key.to_owned(),
        });
        let waiting = Instant::now();
        tokio::select! {
            guard = lock.lock_owned() => Ok(guard),
            () = tokio::time::sleep(invocation.timeout()) => Err(RunError::LockTimeout {
                command: invocation.command().to_owned(),
                key: key.to_owned(),
                waited: waiting.elapsed(),
            }),
            () = cancelled(cancel) => Err(RunError::CancelledBeforeStart {
                command: invocation.command().to_owned(),
                key: key.to_owned(),
            }),
        }
    }
}

/// The run's process group; kills it if the run is dropped half-way (a task aborted), so no
/// process outlives a run that nobody watches any more.
struct GroupGuard {
    group: Pid,
    armed: bool,
}

impl GroupGuard {
    /// Whether any live process of the group is left (one we may not signal counts).
    /// Zombies do not count: they run nothing and hold nothing, and where PID 1 does not
    /// reap orphans (some containers) they would otherwise make every stop wait the grace.
    fn alive(&self) -> bool {
        if matches!(killpg(self.group, None), Err(Errno::ESRCH)) {
            return false;
        }
        live_member_in_proc(self.group.as_raw()).unwrap_or(true)
    }

    /// Sends SIGTERM to the group; returns when SIGKILL is due.
    fn terminate(
        &self,
        reason: StopReason,
        grace: Duration,
        started: Instant,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Instant {
        let _ = killpg(self.group, Signal::SIGTERM);
        progress(Progress::Stopping {
            reason,
            signal: Signal::SIGTERM.as_str(),
            elapsed: started.elapsed(),
        });
        Instant::now() + grace
    }

    fn kill(
        &self,
        reason: StopReason,
        started: Instant,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) {
        let _ = killpg(self.group, Signal::SIGKILL);
        progress(Progress::Stopping {
            reason,
            signal: Signal::SIGKILL.as_str(),
            elapsed: started.elapsed(),
        });
    }

    fn kill_now(&mut self) {
        let _ = killpg(self.group, Signal::SIGKILL);
        self.armed = false;
    }
}

/// Whether `/proc` shows a process of group `group` that is not a zombie; `None` when
/// `/proc` cannot be read.
fn live_member_in_proc(group: i32) -> Option<bool> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue; // gone since the listing
        };
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|pgrp| pgrp.parse::<i32>().ok());
        if pgrp == Some(group) && !matches!(state, Some("Z" | "X")) {
            return Some(true);
        }
    }
    Some(false)
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = killpg(self.group, Signal::SIGKILL);
        }
    }
}

/// Where output goes: lines, redaction, the kept head and tail, the hash, the file, progress.
struct OutputSink {
    splitter: LineSplitter,
    redactor: Redactor,
    kept: HeadTail,
    hasher: Sha256,
    file: Option<OutputFile>,
}

impl OutputSink {
    /// Handles one read from the pipe; returns whether the pipe is still open.
    async fn take(
        &mut self,
        read: std::io::Result<usize>,
        buffer: &[u8],
        started: Instant,
        progress: &mut (dyn FnMut(Progress) + Send),
        notes: &mut Vec<String>,
    ) -> bool {
        match read {
            Ok(0) => false,
            Ok(count) => {
                let lines = self.splitter.push(&buffer[..count]);
                self.emit(lines, started, progress).await;
                true
            }
            Err(error) => {
                notes.push(format!("reading the output failed: {error}"));
                false
            }
        }
    }

    async fn emit(
        &mut self,
        lines: Vec<String>,
        started: Instant,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) {
        if lines.is_empty() {
            return;
        }
        let mut text = String::new();
        for line in &lines {
            text.push_str(&self.redactor.redact(line));
        }
        self.kept.push(&text);
        self.hasher.update(text.as_bytes());
        if let Some(file) = &mut self.file {
            file.write(&text).await;
        }
        progress(Progress::Output {
            text,
            elapsed: started.elapsed(),
            total_bytes: self.kept.total(),
        });
    }

    async fn finish(
        mut self,
        started: Instant,
        progress: &mut (dyn FnMut(Progress) + Send),
        notes: &mut Vec<String>,
    ) -> CapturedOutput {
        if let Some(rest) = self.splitter.finish() {
            self.emit(vec![rest], started, progress).await;
        }
        let total_bytes = self.kept.total();
        let (text, cut_bytes) = self.kept.finish();
        let (file, file_complete) = match self.file {
            Some(file) => {
                let path = file.path.clone();
                let complete = file.finish(notes).await;
                (Some(path), complete)
            }
            None => (None, false),
        };
        CapturedOutput {
            text,
            total_bytes,
            cut_bytes,
            sha256: hex::encode(self.hasher.finalize()),
            file,
            file_complete,
        }
    }
}

/// The full-output file of one run.
struct OutputFile {
    path: PathBuf,
    writer: tokio::io::BufWriter<tokio::fs::File>,
    written: u64,
    max: u64,
    /// Set when the file stops growing: it reached `max` or writing failed.
    stopped: Option<String>,
}

impl OutputFile {
    async fn create(path: &Path, max: u64) -> std::io::Result<OutputFile> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            tokio::fs::create_dir_all(parent).await?;
        }
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            // Redacted output may still say more than everyone should read.
            .mode(0o600)
            .open(path)
            .await?;
        Ok(OutputFile {
            path: path.to_owned(),
            writer: tokio::io::BufWriter::new(file),
            written: 0,
            max,
            stopped: None,
        })
    }

    async fn write(&mut self, text: &str) {
        if self.stopped.is_some() {
            return;
        }
        let room = self.max - self.written;
        if text.len() as u64 > room {
            // Keep whole lines up to the limit, then say the file ends there.
            // Bytes, not a str slice: the limit may fall inside a character.
            let fits = &text.as_bytes()[..room as usize];
            let cut = fits
                .iter()
                .rposition(|byte| *byte == b'\n')
                .map_or(0, |at| at + 1);
            let note = format!(
                "[… the output goes on; this file keeps at most {} bytes …]\n",
                self.max
            );
            let _ = self.writer.write_all(&text.as_bytes()[..cut]).await;
            let _ = self.writer.write_all(note.as_bytes()).await;
            self.stopped = Some(format!(
                "the output file {} stopped at its limit of {} bytes ([commands] output_file_max_bytes)",
                self.path.display(),
                self.max
            ));
            return;
        }
        match self.writer.write_all(text.as_bytes()).await {
            Ok(()) => self.written += text.len() as u64,
            Err(error) => {
                self.stopped = Some(format!(
                    "writing the output file {} failed: {error}",
                    self.path.display()
                ));
            }
        }
    }

    /// Flushes; returns whether the file holds the whole output.
    async fn finish(mut self, notes: &mut Vec<String>) -> bool {
        if let Err(error) = self.writer.flush().await
            && self.stopped.is_none()
        {
            self.stopped = Some(format!(
                "writing the output file {} failed: {error}",
                self.path.display()
            ));
        }
        match self.stopped {
            Some(note) => {
                notes.push(note);
                false
            }
            None => true,
        }
    }
}
