//! Approved recovery commands: the catalog in `commands/`, binding chat arguments to an exact
//! argv, and running it confined. Nothing here runs a shell, and no value typed by a person
//! ever becomes more (or less) than one argv element.
//!
//! The path of a request, and what each step guarantees:
//!
//! 1. [`Catalog::load`] (through a [`CatalogHandle`], which reloads) validates every file: an
//!    absolute program that is not a shell, launcher or interpreter-with-code, every
//!    placeholder declared, every parameter bounded, known roles, approval for destructive
//!    commands. Any problem refuses the whole catalog, with file and line.
//! 2. [`parse_args`] reads `key=value` text; quotes group words and nothing else is special.
//! 3. [`CommandSpec::bind`] checks every value against its parameter and fills the templates:
//!    the result, an [`Invocation`], is exactly what will run (approval cards show
//!    [`Invocation::command_line`]). A refused value means no invocation, so nothing runs.
//! 4. [`Runner::run`] runs it: cleared environment (the allowlist plus a fixed `PATH`), stdin
//!    closed, no inherited descriptors, its own process group, every process it starts
//!    tracked (warroom adopts orphans as a child subreaper), output redacted however the
//!    stream is cut before it is streamed ([`Progress`]), kept (capped head and tail) or
//!    written to a file; on timeout, cancel or shutdown every process of the run gets
//!    SIGTERM, then SIGKILL. Runs with equal lock keys take turns. [`Runner::shutdown`]
//!    stops starting runs, waits `shutdown_grace`, then interrupts the rest.
//!
//! What a request records, and so shows anywhere, is redacted ([`Runner::argument_redactor`]);
//! what starts must have the [`Invocation::fingerprint`] that was requested and approved.
//!
//! Who may request, who must approve, and recording runs on the timeline belong to the run
//! state machine that uses this module; this module answers "may this role" questions
//! ([`CommandSpec::may_run`], [`CommandSpec::may_approve`]) but keeps no state about runs.

mod bind;
mod catalog;
mod check;
mod confine;
mod exec;
mod lock;
mod output;
mod redact;
mod rules;
mod sink;
mod template;

pub use bind::{
    ArgProblem, BindError, Invocation, MAX_ARGS_TEXT_BYTES, MAX_VALUE_BYTES, command_line,
    parse_args,
};
pub use catalog::{
    Approval, Catalog, CatalogError, CatalogHandle, CommandSpec, EnvValue, MAX_APPROVAL_EXPIRY,
    MAX_APPROVERS, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_TIMEOUT, Param, ParamKind, Pattern,
    ReloadReport, Risk,
};
pub use exec::{
    Cancel, Canceller, CapturedOutput, Exit, OUTPUT_DRAIN_LIMIT, Progress, RunError, RunOptions,
    RunOutcome, Runner, RunnerSettings, RunnerShutdown, SAFE_PATH, StopReason, cancel_pair,
};
pub use output::MAX_LINE_BYTES;
pub use redact::{REDACT_OVERLAP_BYTES, REDACTED, Redactor};
pub use rules::{
    COMMAND_LAUNCHERS, COMMAND_RUNNING_OPTIONS, INTERPRETER_CODE_OPTIONS, SCRIPT_INTERPRETERS,
    SCRIPT_OPERAND_PROGRAMS, SHELLS,
};
pub use template::{MAX_PARAM_NAME_CHARS, Piece, Template};
