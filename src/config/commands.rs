//! `[commands]`: where the approved command catalog lives and the limits every run obeys
//! (redaction patterns, output caps, the kill grace, where full outputs go).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::load::Loader;

#[derive(Clone, Debug)]
pub struct CommandsConfig {
    /// The catalog folder, one TOML file per command, resolved against the config's folder.
    pub dir: PathBuf,
    /// Replaced by `[redacted]` in command output before it leaves the runner (streamed,
    /// kept or attached). A pattern with a group named `secret` replaces only that group, so
    /// `password=[redacted]` still says what was hidden.
    pub redact: Vec<regex::Regex>,
    /// Output kept with a run and shown in Discord: the first and the last half of this many
    /// bytes, with the cut said between them. The whole output goes to a file in `output_dir`.
    pub output_cap_bytes: usize,
    /// The largest full-output file written per run, so a runaway command cannot fill the disk.
    pub output_file_max_bytes: u64,
    /// Between SIGTERM and SIGKILL to a run's process group on timeout or cancellation.
    pub kill_grace: Duration,
    /// At shutdown, how long running commands may go on before they are interrupted.
    pub shutdown_grace: Duration,
    /// Where the full (redacted) output of each run is written, resolved against the config's
    /// folder.
    pub output_dir: PathBuf,
}

/// The smallest `output_cap_bytes`: below this a capped output cannot show a useful head
/// and tail (a few lines each) around the note that says what was cut.
pub const MIN_OUTPUT_CAP_BYTES: usize = 1_024;

/// The redaction patterns used when `[commands] redact` is not set; the shipped file lists
/// the same. Each is written to catch a secret where it is labelled as one, not text that
/// merely looks random, so ordinary status output passes through unchanged.
pub const DEFAULT_REDACT_PATTERNS: [&str; 7] = [
    // `password=...`, `token: ...`, `"api_key": "..."`, `aws_secret_access_key = ...`
    r#"(?i)(?:password|passwd|secret|token|api[_-]?key|access[_-]?key)["']?\s*[=:]\s*["']?(?P<secret>[^\s"',;&]+)"#,
    // HTTP bearer credentials
    r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9._~+/=-]{8,})",
    // a password inside a URL: scheme://user:PASSWORD@host
    r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]+:(?P<secret>[^/\s@]+)@",
    // AWS access key ids
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    // GitHub tokens
    r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    // Slack tokens
    r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
    // Discord bot tokens
    r"\b[MN][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,}",
];

#[derive(Deserialize)]
#[serde(default)]
struct RawCommands {
    dir: String,
    redact: Vec<String>,
    output_cap_bytes: usize,
    output_file_max_bytes: u64,
    kill_grace: String,
    shutdown_grace: String,
    output_dir: String,
}

impl Default for RawCommands {
    fn default() -> RawCommands {
        RawCommands {
            dir: "commands".to_owned(),
            redact: DEFAULT_REDACT_PATTERNS.map(str::to_owned).to_vec(),
            output_cap_bytes: 65_536,
            output_file_max_bytes: 67_108_864,
            kill_grace: "5s".to_owned(),
            shutdown_grace: "20s".to_owned(),
            output_dir: "command-output".to_owned(),
        }
    }
}

impl Loader {
    pub(super) fn build_commands(&mut self, raw: Option<toml::Value>) -> CommandsConfig {
        let raw: RawCommands = self.section("commands", raw);
        let path = |key: &str| vec!["commands".to_owned(), key.to_owned()];
        let base = self.dir().to_owned();
        let mut redact = Vec::new();
        for (index, pattern) in raw.redact.iter().enumerate() {
            match regex::Regex::new(pattern) {
                Ok(regex) if regex.is_match("") => self.problem(
                    &path("redact"),
                    format!(
                        "pattern {} matches the empty string, so it would redact nothing useful and everything around it; make it require at least one character",
                        index + 1
                    ),
                ),
                Ok(regex) => redact.push(regex),
                Err(error) => self.problem(
                    &path("redact"),
                    format!(
                        "pattern {} is not a valid regular expression: {}",
                        index + 1,
                        error.to_string().lines().last().unwrap_or_default()
                    ),
                ),
            }
        }
        if raw.output_cap_bytes < MIN_OUTPUT_CAP_BYTES {
            self.problem(
                &path("output_cap_bytes"),
                format!(
                    "must be at least {MIN_OUTPUT_CAP_BYTES}, so the head and tail of an output still say something"
                ),
            );
        }
        if raw.output_file_max_bytes < raw.output_cap_bytes as u64 {
            self.problem(
                &path("output_file_max_bytes"),
                "must be at least output_cap_bytes: the full-output file keeps more than the run record, not less",
            );
        }
        let kill_grace = self.duration(&path("kill_grace"), &raw.kill_grace, false);
        let shutdown_grace = self.duration(&path("shutdown_grace"), &raw.shutdown_grace, true);
        let resolve = |dir: &str| {
            let dir = Path::new(dir);
            if dir.is_absolute() {
                dir.to_owned()
            } else {
                base.join(dir)
            }
        };
        if raw.dir.trim().is_empty() {
            self.problem(&path("dir"), "name the catalog folder, e.g. \"commands\"");
        }
        if raw.output_dir.trim().is_empty() {
            self.problem(
                &path("output_dir"),
                "name a folder for full command outputs, e.g. \"command-output\"",
            );
        }
        CommandsConfig {
            dir: resolve(&raw.dir),
            redact,
            output_cap_bytes: raw.output_cap_bytes.max(MIN_OUTPUT_CAP_BYTES),
            output_file_max_bytes: raw.output_file_max_bytes,
            kill_grace,
            shutdown_grace,
            output_dir: resolve(&raw.output_dir),
        }
    }
}
