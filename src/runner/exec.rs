//! Running an invocation: no shell, a cleared environment, stdin closed, no inherited
//! descriptors, its own process group; output merged in arrival order, redacted, streamed,
//! capped and hashed; a timeout, a cancel or a shutdown stops every process of the run
//! (SIGTERM, then SIGKILL), and so does a run that leaves processes behind.
//!
//! A run goes through named phases ([`Runner::run`]): resolve its secrets, take its lock,
//! spawn, watch until the process exits, stop what it left, drain the pipe, report.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use regex::Regex;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use crate::config::{CommandsConfig, Environment};
use crate::domain::format_duration;

use super::bind::Invocation;
use super::catalog::EnvValue;
use super::confine::{self, TRACK_INTERVAL, Tracker};
use super::lock::{LockGuard, LockTable};
use super::redact::{Redactor, StreamRedactor};
use super::sink::{OutputFile, OutputSink};

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

/// How long a shutdown waits, after interrupting the runs still going, for them to end: the
/// kill grace plus the output drain, and a little for their processes to be reaped.
const INTERRUPT_MARGIN: Duration = Duration::from_secs(1);

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
    /// At shutdown, how long running commands may go on before they are interrupted.
    pub shutdown_grace: Duration,
}

impl RunnerSettings {
    pub fn from_config(config: &CommandsConfig) -> RunnerSettings {
        RunnerSettings {
            redact: config.redact.clone(),
            output_cap_bytes: config.output_cap_bytes,
            output_file_max_bytes: config.output_file_max_bytes,
            kill_grace: config.kill_grace,
            shutdown_grace: config.shutdown_grace,
        }
    }
}

/// Runs invocations. One per warroom process: its lock table is what serializes runs with
/// the same lock key, and its shutdown ([`Runner::shutdown`]) what ends them all.
#[derive(Debug)]
pub struct Runner {
    settings: RunnerSettings,
    /// warroom's own environment, where `{ from_env = "..." }` secrets are read at run time.
    env: Environment,
    locks: LockTable,
    /// Whether runs may start, and when to interrupt the running ones.
    phase: watch::Sender<Phase>,
    /// How many runs are between their start and their end (waiting for a lock included).
    active: watch::Sender<usize>,
}

/// Where the runner is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Running,
    /// Shutting down: nothing new starts; running commands may finish.
    Draining,
    /// The shutdown grace is over: running commands are stopped.
    Interrupting,
}

/// What [`Runner::shutdown`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunnerShutdown {
    /// Runs going when the shutdown began.
    pub running: usize,
    /// Of those, how many had to be interrupted because the grace ran out.
    pub interrupted: usize,
    /// Runs still not ended when the shutdown gave up waiting (0 unless a process could
    /// not be killed).
    pub left: usize,
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
    /// The run's processes are being stopped.
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
    /// warroom is shutting down and the shutdown grace ran out.
    Interrupted,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    pub pid: u32,
    pub exit: Exit,
    pub timed_out: bool,
    pub cancelled: bool,
    /// Stopped because warroom shut down.
    pub interrupted: bool,
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
        self.exit == Exit::Code(0) && !self.timed_out && !self.cancelled && !self.interrupted
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
        } else if self.interrupted {
            format!("interrupted by warroom's shutdown after {after}; {ended}")
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
        "warroom is shutting down, so `{command}` was not started; nothing ran: request it again once warroom is back"
    )]
    ShuttingDown { command: String },
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

/// Waits until `phase` reaches `at_least` (never, if the runner is gone).
async fn reached(phase: &mut watch::Receiver<Phase>, at_least: Phase) {
    let rank = |phase: Phase| match phase {
        Phase::Running => 0,
        Phase::Draining => 1,
        Phase::Interrupting => 2,
    };
    if phase
        .wait_for(|now| rank(*now) >= rank(at_least))
        .await
        .is_err()
    {
        std::future::pending::<()>().await;
    }
}

/// Counts a run as active while it lives.
struct ActiveRun<'a>(&'a watch::Sender<usize>);

impl Drop for ActiveRun<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|count| *count -= 1);
    }
}

impl Runner {
    /// `env` is warroom's own environment, from which secrets are taken at run time
    /// (`Environment::from_process()` in production). Makes warroom adopt the orphans of
    /// its runs (a child subreaper) and marks inherited descriptors close-on-exec.
    pub fn new(settings: RunnerSettings, env: Environment) -> Runner {
        if let Some(problem) = confine::become_subreaper() {
            tracing::warn!("{problem}");
        }
        confine::close_inherited_descriptors();
        Runner {
            settings,
            env,
            locks: LockTable::default(),
            phase: watch::Sender::new(Phase::Running),
            active: watch::Sender::new(0),
        }
    }

    pub fn settings(&self) -> &RunnerSettings {
        &self.settings
    }

    /// Whether a run holds the lock `key` now (to say "busy" before queueing a request).
    pub fn is_locked(&self, key: &str) -> bool {
        self.locks.is_held(key)
    }

    /// Whether [`Runner::shutdown`] has begun: no run starts any more.
    pub fn is_shutting_down(&self) -> bool {
        *self.phase.borrow() != Phase::Running
    }

    /// The redaction for text people typed for a command with variables `env`: the
    /// configured patterns and the values of its secret variables (those that are set).
    pub fn argument_redactor(&self, env: &[(String, EnvValue)]) -> Redactor {
        let secrets = env.iter().filter_map(|(_, value)| match value {
            EnvValue::FromEnv(variable) => self.env.get(variable).map(str::to_owned),
            EnvValue::Literal(_) => None,
        });
        Redactor::new(&self.settings.redact, secrets)
    }

    /// Ends every run of this runner, for a shutdown: from now on nothing starts (a run
    /// waiting for its lock gives up); running commands get `shutdown_grace` to finish;
    /// then their processes are stopped (SIGTERM, SIGKILL after `kill_grace`) and their
    /// outcomes say `interrupted`. Returns once every run has ended (or, should a process
    /// resist SIGKILL, after the grace, the kill grace and a margin). Calling it again
    /// waits again.
    pub async fn shutdown(&self) -> RunnerShutdown {
        self.phase.send_if_modified(|phase| {
            let changed = *phase == Phase::Running;
            if changed {
                *phase = Phase::Draining;
            }
            changed
        });
        let mut active = self.active.subscribe();
        let running = *active.borrow();
        let ended = |active: &mut watch::Receiver<usize>, within: Duration| {
            let mut active = active.clone();
            async move {
                tokio::time::timeout(within, active.wait_for(|count| *count == 0))
                    .await
                    .is_ok()
            }
        };
        if ended(&mut active, self.settings.shutdown_grace).await {
            return RunnerShutdown {
                running,
                interrupted: 0,
                left: 0,
            };
        }
        let interrupted = *active.borrow();
        self.phase.send_replace(Phase::Interrupting);
        let bound = self.settings.kill_grace + OUTPUT_DRAIN_LIMIT + INTERRUPT_MARGIN;
        ended(&mut active, bound).await;
        let left = *active.borrow();
        RunnerShutdown {
            running,
            interrupted,
            left,
        }
    }

    /// Runs `invocation` to its end and reports how it went; `progress` hears about it as it
    /// happens. Waits first for the invocation's lock (at most its timeout). Exit codes,
    /// signals, timeouts, cancels and shutdowns are outcomes, not errors: an error means the
    /// run did not start (or, for `Wait`, was lost track of).
    pub async fn run(
        &self,
        invocation: &Invocation,
        options: RunOptions,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<RunOutcome, RunError> {
        let _active = self.enter(invocation)?;
        let (env, redactor) = self.resolve_env(invocation)?;
        let mut cancel = options.cancel;
        let asked_for_lock = Instant::now();
        let _lock = self.take_lock(invocation, &mut cancel, progress).await?;
        let lock_waited = asked_for_lock.elapsed();
        if self.is_shutting_down() {
            return Err(RunError::ShuttingDown {
                command: invocation.command().to_owned(),
            });
        }
        let file = self
            .open_output_file(options.output_file.as_deref())
            .await?;
        let sink = OutputSink::new(
            StreamRedactor::new(redactor),
            self.settings.output_cap_bytes,
            file,
        );
        let mut execution = self.spawn(invocation, env, sink, progress)?;
        (execution.progress)(Progress::Started {
            pid: execution.pid,
            lock_waited,
        });
        let deadline = execution.started + invocation.timeout();
        let status = execution
            .until_exit(deadline, &mut cancel, self.phase.subscribe())
            .await?;
        let duration = execution.started.elapsed();
        execution.stop_leftovers().await;
        execution.drain_output().await;
        Ok(execution.outcome(status, duration, lock_waited).await)
    }

    /// Counts the run as active, unless the runner is shutting down.
    fn enter(&self, invocation: &Invocation) -> Result<ActiveRun<'_>, RunError> {
        let mut entered = false;
        self.active.send_modify(|count| {
            if *self.phase.borrow() == Phase::Running {
                *count += 1;
                entered = true;
            }
        });
        if entered {
            Ok(ActiveRun(&self.active))
        } else {
            Err(RunError::ShuttingDown {
                command: invocation.command().to_owned(),
            })
        }
    }

    /// The child's variables with secrets read from warroom's environment, and the
    /// redaction that hides those secrets and the configured patterns.
    fn resolve_env(
        &self,
        invocation: &Invocation,
    ) -> Result<(Vec<(String, String)>, Redactor), RunError> {
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
        Ok((env, Redactor::new(&self.settings.redact, secrets)))
    }

    async fn open_output_file(&self, path: Option<&Path>) -> Result<Option<OutputFile>, RunError> {
        let Some(path) = path else {
            return Ok(None);
        };
        OutputFile::create(path, self.settings.output_file_max_bytes)
            .await
            .map(Some)
            .map_err(|source| RunError::OutputFile {
                path: path.to_owned(),
                source,
            })
    }

    /// Waits for the invocation's lock (at most its timeout), unless it has none.
    async fn take_lock(
        &self,
        invocation: &Invocation,
        cancel: &mut Option<Cancel>,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Option<LockGuard>, RunError> {
        let Some(key) = invocation.lock() else {
            return Ok(None);
        };
        let lock = self.locks.get(key);
        if let Ok(guard) = lock.clone().try_lock_owned() {
            return Ok(Some(guard));
        }
        progress(Progress::WaitingForLock {
            key: key.to_owned(),
        });
        let waiting = Instant::now();
        let mut phase = self.phase.subscribe();
        tokio::select! {
            guard = lock.lock_owned() => Ok(Some(guard)),
            () = tokio::time::sleep(invocation.timeout()) => Err(RunError::LockTimeout {
                command: invocation.command().to_owned(),
                key: key.to_owned(),
                waited: waiting.elapsed(),
            }),
            () = cancelled(cancel) => Err(RunError::CancelledBeforeStart {
                command: invocation.command().to_owned(),
                key: key.to_owned(),
            }),
            () = reached(&mut phase, Phase::Draining) => Err(RunError::ShuttingDown {
                command: invocation.command().to_owned(),
            }),
        }
    }

    /// Starts the process: no shell, only `env` and the fixed `PATH`, stdin closed, stdout
    /// and stderr into one pipe, a process group of its own, tracked from the start.
    fn spawn<'p>(
        &self,
        invocation: &Invocation,
        env: Vec<(String, String)>,
        sink: OutputSink,
        progress: &'p mut (dyn FnMut(Progress) + Send),
    ) -> Result<Execution<'p>, RunError> {
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
        let spawned = confine::spawn_registered(&mut command);
        // The command holds the parent's copies of the pipe's write end; without dropping
        // them the pipe would never report its end.
        drop(command);
        let child = spawned.map_err(|source| RunError::Spawn {
            program: invocation.program().to_owned(),
            source,
        })?;
        let pid = child.id().expect("a process just spawned has an id");
        // With process_group(0) the child leads a new group whose id is its pid.
        let group = GroupGuard {
            tracker: Tracker::new(pid, reader.as_raw_fd()),
            armed: true,
        };
        let pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))
            .map_err(RunError::Pipe)?;
        Ok(Execution {
            pid,
            child,
            group,
            pipe,
            pipe_open: true,
            buffer: vec![0u8; READ_CHUNK_BYTES],
            sink,
            started: Instant::now(),
            grace: self.settings.kill_grace,
            notes: Vec::new(),
            stopping: None,
            kill_at: None,
            killed: false,
            progress,
        })
    }
}

/// One run from its spawn to its outcome.
struct Execution<'p> {
    pid: u32,
    child: tokio::process::Child,
    group: GroupGuard,
    pipe: tokio::net::unix::pipe::Receiver,
    pipe_open: bool,
    buffer: Vec<u8>,
    sink: OutputSink,
    started: Instant,
    grace: Duration,
    notes: Vec<String>,
    /// Why the run is being stopped, once it is.
    stopping: Option<StopReason>,
    /// When SIGKILL follows the SIGTERM already sent.
    kill_at: Option<Instant>,
    killed: bool,
    progress: &'p mut (dyn FnMut(Progress) + Send),
}

impl Execution<'_> {
    /// Reads, watches and stops until the process itself exits.
    async fn until_exit(
        &mut self,
        deadline: Instant,
        cancel: &mut Option<Cancel>,
        mut phase: watch::Receiver<Phase>,
    ) -> Result<ExitStatus, RunError> {
        let mut track = tokio::time::interval(TRACK_INTERVAL);
        loop {
            let stoppable = self.stopping.is_none();
            tokio::select! {
                read = self.pipe.read(&mut self.buffer), if self.pipe_open => {
                    self.take(read).await;
                }
                waited = self.child.wait() => {
                    confine::forget_spawned(self.pid);
                    return match waited {
                        Ok(status) => Ok(status),
                        Err(source) => {
                            self.group.kill_now();
                            Err(RunError::Wait { pid: self.pid, source })
                        }
                    };
                }
                _ = track.tick() => {
                    self.group.tracker.refresh();
                }
                () = sleep_until(deadline), if stoppable => self.stop(StopReason::TimedOut),
                () = cancelled(cancel), if stoppable => self.stop(StopReason::Cancelled),
                () = reached(&mut phase, Phase::Interrupting), if stoppable => {
                    self.stop(StopReason::Interrupted);
                }
                () = sleep_until(self.kill_at.unwrap_or(deadline)), if self.kill_at.is_some() => {
                    self.kill();
                }
            }
        }
    }

    /// Nothing the run started may outlive it: stops what is left of its processes.
    async fn stop_leftovers(&mut self) {
        if self.killed || !self.group.tracker.refresh() {
            self.group.tracker.reap();
            self.group.armed = false;
            return;
        }
        if self.kill_at.is_none() {
            self.notes.push(
                "processes it started were still running after it exited; they were stopped"
                    .to_owned(),
            );
            let reason = self.stopping.unwrap_or(StopReason::Leftovers);
            self.terminate(reason);
        }
        let kill_at = self.kill_at.expect("the processes were sent SIGTERM");
        let mut poll = tokio::time::interval(GROUP_POLL_INTERVAL);
        loop {
            tokio::select! {
                read = self.pipe.read(&mut self.buffer), if self.pipe_open => {
                    self.take(read).await;
                }
                _ = poll.tick() => {
                    if !self.group.tracker.refresh() {
                        break;
                    }
                }
                () = sleep_until(kill_at) => {
                    self.kill();
                    break;
                }
            }
        }
        self.group.tracker.reap();
        self.group.armed = false;
    }

    /// The rest of the output, unless something that escaped the run holds the pipe.
    async fn drain_output(&mut self) {
        if !self.pipe_open {
            return;
        }
        let drain_until = Instant::now() + OUTPUT_DRAIN_LIMIT;
        while self.pipe_open {
            tokio::select! {
                read = self.pipe.read(&mut self.buffer) => self.take(read).await,
                () = sleep_until(drain_until) => {
                    self.notes.push(format!(
                        "stopped reading output {} after the run ended: a process that escaped the run still holds the output open",
                        format_duration(OUTPUT_DRAIN_LIMIT)
                    ));
                    return;
                }
            }
        }
    }

    async fn outcome(
        mut self,
        status: ExitStatus,
        duration: Duration,
        lock_waited: Duration,
    ) -> RunOutcome {
        let output = self
            .sink
            .finish(self.started, self.progress, &mut self.notes)
            .await;
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
        RunOutcome {
            pid: self.pid,
            exit,
            timed_out: self.stopping == Some(StopReason::TimedOut),
            cancelled: self.stopping == Some(StopReason::Cancelled),
            interrupted: self.stopping == Some(StopReason::Interrupted),
            duration,
            lock_waited,
            output,
            notes: self.notes,
        }
    }

    async fn take(&mut self, read: std::io::Result<usize>) {
        self.pipe_open = self
            .sink
            .take(
                read,
                &self.buffer,
                self.started,
                self.progress,
                &mut self.notes,
            )
            .await;
    }

    /// Starts stopping the run for `reason` (SIGTERM now, SIGKILL after the grace).
    fn stop(&mut self, reason: StopReason) {
        self.stopping = Some(reason);
        self.terminate(reason);
    }

    fn terminate(&mut self, reason: StopReason) {
        self.group.tracker.signal(Signal::SIGTERM);
        (self.progress)(Progress::Stopping {
            reason,
            signal: Signal::SIGTERM.as_str(),
            elapsed: self.started.elapsed(),
        });
        self.kill_at = Some(Instant::now() + self.grace);
    }

    fn kill(&mut self) {
        self.group.tracker.signal(Signal::SIGKILL);
        (self.progress)(Progress::Stopping {
            reason: self.stopping.unwrap_or(StopReason::Leftovers),
            signal: Signal::SIGKILL.as_str(),
            elapsed: self.started.elapsed(),
        });
        self.kill_at = None;
        self.killed = true;
    }
}

/// The run's processes; kills them if the run is dropped half-way (a task aborted), so no
/// process outlives a run that nobody watches any more.
struct GroupGuard {
    tracker: Tracker,
    armed: bool,
}

impl GroupGuard {
    fn kill_now(&mut self) {
        self.tracker.kill_known();
        self.armed = false;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            self.tracker.kill_known();
        }
    }
}
