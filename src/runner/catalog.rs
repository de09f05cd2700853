//! The approved command catalog: one TOML file per command in `commands/`, loaded and
//! validated as a whole (every problem with file and line), and reloadable without a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::config::Problem;

use super::check::load_file;
use super::template::Template;

/// Command names are typed in chat and offered as Discord autocomplete values; longer than
/// this stops being a name.
pub const MAX_NAME_CHARS: usize = 64;

/// Discord autocomplete choices (where `/run` shows descriptions) hold at most 100 characters.
pub const MAX_DESCRIPTION_CHARS: usize = 100;

/// The longest `timeout` a command may have. Longer than a shift: a job that long is a
/// scheduled job, not something to start from chat and watch.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(6 * 3_600);

/// The longest an approval may stay valid. After a day the situation it was given for has
/// changed; ask again.
pub const MAX_APPROVAL_EXPIRY: Duration = Duration::from_secs(24 * 3_600);

/// More approvers than this is more people than an incident has awake.
pub const MAX_APPROVERS: u32 = 5;

/// How much a command can change. `destructive` ones must require approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Risk {
    /// Only looks (status, listings, checks).
    ReadOnly,
    /// Changes something that can be changed back (a restart, a new dump file).
    Mutating,
    /// Can lose data or is hard to undo (a restore over a live database).
    Destructive,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::ReadOnly => "read_only",
            Risk::Mutating => "mutating",
            Risk::Destructive => "destructive",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Risk> {
        match text {
            "read_only" => Some(Risk::ReadOnly),
            "mutating" => Some(Risk::Mutating),
            "destructive" => Some(Risk::Destructive),
            _ => None,
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who must approve a run before it starts (SPEC §5). The approver is someone other than
/// the requester; checking that is the run state machine's job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    /// How many different people must approve.
    pub approvers: u32,
    /// An approver must hold one of these bot roles.
    pub roles: Vec<String>,
    /// An approval older than this no longer counts.
    pub expires: Duration,
}

/// A variable the child gets: a literal, or a secret taken from warroom's own environment
/// when the run starts (its value is then redacted from the output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvValue {
    Literal(String),
    /// The name of the variable in warroom's environment that holds the value.
    FromEnv(String),
}

/// What values a parameter accepts. Every kind also refuses empty values, control and
/// invisible formatting characters, values over `MAX_VALUE_BYTES`, and a leading `-` unless
/// the parameter allows it.
#[derive(Clone, Debug)]
pub enum ParamKind {
    /// One of a fixed list, exactly as written.
    Enum { values: Vec<String> },
    /// Text matching an anchored regular expression (matched against the whole value).
    String { pattern: Pattern },
    /// A whole number in `min..=max`, passed in canonical decimal form (`007` becomes `7`).
    Int { min: i64, max: i64 },
    /// A duration written like `90s` or `15m`, in `min..=max`, passed as whole seconds
    /// (`15m` becomes `900`), so templates can add the unit the program wants.
    Duration { min: Duration, max: Duration },
}

impl ParamKind {
    pub fn name(&self) -> &'static str {
        match self {
            ParamKind::Enum { .. } => "enum",
            ParamKind::String { .. } => "string",
            ParamKind::Int { .. } => "int",
            ParamKind::Duration { .. } => "duration",
        }
    }

    /// What is accepted, in a few words, for help texts and error messages.
    pub fn describe(&self) -> String {
        match self {
            ParamKind::Enum { values } => format!("one of {}", values.join(", ")),
            ParamKind::String { pattern } => format!("text matching {}", pattern.as_str()),
            ParamKind::Int { min, max } => format!("a whole number from {min} to {max}"),
            ParamKind::Duration { min, max } => format!(
                "a duration from {} to {}",
                humantime::format_duration(*min),
                humantime::format_duration(*max)
            ),
        }
    }
}

/// A validated, anchored regular expression, matched against the whole value.
#[derive(Clone)]
pub struct Pattern {
    pub(crate) source: String,
    /// The source wrapped in `\A(?:...)\z`, so an alternation such as `^a$|^b$` cannot
    /// accept a value that only contains a match.
    pub(crate) whole: regex::Regex,
}

impl Pattern {
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, value: &str) -> bool {
        self.whole.is_match(value)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

/// One declared parameter, `[params.NAME]`.
#[derive(Clone, Debug)]
pub struct Param {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) kind: ParamKind,
    /// Used when the caller does not give this parameter; `None` makes it required.
    pub(crate) default: Option<String>,
    /// Lets values start with `-`. Off by default because a program may read such a value
    /// as an option (`--output=/etc/passwd`) rather than as the argument it was meant to be.
    pub(crate) allow_leading_dash: bool,
}

impl Param {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn kind(&self) -> &ParamKind {
        &self.kind
    }

    pub fn default(&self) -> Option<&str> {
        self.default.as_deref()
    }

    pub fn allows_leading_dash(&self) -> bool {
        self.allow_leading_dash
    }
}

/// One approved command, validated. Only [`Catalog::load`] makes these, so holding one means
/// every catalog rule holds.
#[derive(Clone, Debug)]
pub struct CommandSpec {
    pub(crate) file: PathBuf,
    /// The file's text, to tell on reload whether the command changed.
    pub(crate) source: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<Template>,
    pub(crate) dry_run_args: Option<Vec<Template>>,
    pub(crate) allowed_roles: Vec<String>,
    pub(crate) risk: Risk,
    pub(crate) approval: Option<Approval>,
    pub(crate) timeout: Duration,
    pub(crate) lock: Option<Template>,
    pub(crate) env: Vec<(String, EnvValue)>,
    pub(crate) requires_incident: bool,
    pub(crate) workdir: PathBuf,
    pub(crate) params: Vec<Param>,
}

impl CommandSpec {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// The catalog file it came from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn args(&self) -> &[Template] {
        &self.args
    }

    /// The arguments of a dry run, when the command has one.
    pub fn dry_run_args(&self) -> Option<&[Template]> {
        self.dry_run_args.as_deref()
    }

    /// Whoever holds one of these bot roles may request a run.
    pub fn allowed_roles(&self) -> &[String] {
        &self.allowed_roles
    }

    pub fn risk(&self) -> Risk {
        self.risk
    }

    /// `Some` when a run must be approved first (always for `destructive` commands).
    pub fn approval(&self) -> Option<&Approval> {
        self.approval.as_ref()
    }

    /// How long a run may take before its process group is killed.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs whose rendered lock keys are equal never overlap.
    pub fn lock(&self) -> Option<&Template> {
        self.lock.as_ref()
    }

    /// The only variables the child gets, besides `PATH`.
    pub fn env(&self) -> &[(String, EnvValue)] {
        &self.env
    }

    /// May only run inside an incident channel.
    pub fn requires_incident(&self) -> bool {
        self.requires_incident
    }

    /// The working directory of the child (`/` unless the file says `workdir`).
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// In the order of the file.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|param| param.name == name)
    }

    /// Whether someone holding the roles `holds` says yes to may request a run.
    pub fn may_run(&self, holds: impl Fn(&str) -> bool) -> bool {
        self.allowed_roles.iter().any(|role| holds(role))
    }

    /// Whether someone may approve a run (ignoring that they must not be the requester).
    pub fn may_approve(&self, holds: impl Fn(&str) -> bool) -> bool {
        self.approval
            .as_ref()
            .is_some_and(|approval| approval.roles.iter().any(|role| holds(role)))
    }

    /// `key=value` usage for help texts, e.g. `database=<app|analytics> backup=<text>`.
    pub fn usage(&self) -> String {
        self.params
            .iter()
            .map(|param| {
                let shape = match &param.kind {
                    ParamKind::Enum { values } => values.join("|"),
                    ParamKind::String { .. } => "text".to_owned(),
                    ParamKind::Int { min, max } => format!("{min}..{max}"),
                    ParamKind::Duration { .. } => "duration".to_owned(),
                };
                match &param.default {
                    Some(default) => format!("[{}=<{shape}>, default {default}]", param.name),
                    None => format!("{}=<{shape}>", param.name),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Everything about the command as JSON, for `warroom commands show --json` and the API.
    /// Secret variables show their source name, never a value.
    pub fn to_json(&self) -> serde_json::Value {
        fn templates(list: &[Template]) -> Vec<&str> {
            list.iter().map(Template::source).collect()
        }
        let env: serde_json::Map<String, serde_json::Value> = self
            .env
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    EnvValue::Literal(text) => serde_json::json!(text),
                    EnvValue::FromEnv(var) => serde_json::json!({ "from_env": var }),
                };
                (name.clone(), value)
            })
            .collect();
        let params: Vec<serde_json::Value> = self
            .params
            .iter()
            .map(|param| {
                let mut json = serde_json::json!({
                    "name": param.name,
                    "kind": param.kind.name(),
                    "description": param.description,
                    "accepts": param.kind.describe(),
                    "default": param.default,
                    "allow_leading_dash": param.allow_leading_dash,
                });
                match &param.kind {
                    ParamKind::Enum { values } => json["values"] = serde_json::json!(values),
                    ParamKind::String { pattern } => {
                        json["pattern"] = serde_json::json!(pattern.as_str());
                    }
                    ParamKind::Int { min, max } => {
                        json["min"] = serde_json::json!(min);
                        json["max"] = serde_json::json!(max);
                    }
                    ParamKind::Duration { min, max } => {
                        json["min_seconds"] = serde_json::json!(min.as_secs());
                        json["max_seconds"] = serde_json::json!(max.as_secs());
                    }
                }
                json
            })
            .collect();
        serde_json::json!({
            "name": self.name,
            "description": self.description,
            "file": self.file,
            "program": self.program,
            "args": templates(&self.args),
            "dry_run_args": self.dry_run_args.as_deref().map(templates),
            "allowed_roles": self.allowed_roles,
            "risk": self.risk.as_str(),
            "approval": self.approval.as_ref().map(|approval| serde_json::json!({
                "approvers": approval.approvers,
                "roles": approval.roles,
                "expires_seconds": approval.expires.as_secs(),
            })),
            "timeout_seconds": self.timeout.as_secs(),
            "lock": self.lock.as_ref().map(Template::source),
            "env": env,
            "requires_incident": self.requires_incident,
            "workdir": self.workdir,
            "params": params,
        })
    }
}

/// Why a catalog could not be loaded. The previous catalog (if any) stays in use.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The folder is not there: no commands at all. `warroom run` starts anyway (with none)
    /// and `warroom check` says so; a reload keeps the previous catalog.
    #[error(
        "the command catalog folder {} does not exist; create it (commands/README.md describes a command file) or point [commands] dir at it",
        dir.display()
    )]
    Missing { dir: PathBuf },
    #[error("the command catalog folder {} cannot be read: {source}; check its permissions", dir.display())]
    Unreadable {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// Every problem of every file, each with its file and line.
    #[error("{}", invalid_message(dir, problems))]
    Invalid {
        dir: PathBuf,
        problems: Vec<Problem>,
    },
}

fn invalid_message(dir: &Path, problems: &[Problem]) -> String {
    let count = problems.len();
    let mut message = format!(
        "the command catalog {} has {count} problem{}:",
        dir.display(),
        if count == 1 { "" } else { "s" }
    );
    for problem in problems {
        message.push_str(&format!("\n  {problem}"));
    }
    message
}

impl CatalogError {
    /// The problems with file and line (empty for a missing or unreadable folder).
    pub fn problems(&self) -> &[Problem] {
        match self {
            CatalogError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

/// The loaded catalog: every command, by name.
#[derive(Clone, Debug)]
pub struct Catalog {
    dir: PathBuf,
    commands: BTreeMap<String, Arc<CommandSpec>>,
}

impl Catalog {
    /// Loads every `*.toml` file of `dir` (files starting with `.` are skipped, as editors
    /// leave those), validating each against the catalog rules; `known_roles` are the bot
    /// roles a command may name ([`crate::config::Config::bot_role_names`]). Any problem in
    /// any file makes the whole catalog invalid, so a half-loaded catalog never runs.
    pub fn load(dir: &Path, known_roles: &BTreeSet<String>) -> Result<Catalog, CatalogError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(CatalogError::Missing {
                    dir: dir.to_owned(),
                });
            }
            Err(source) => {
                return Err(CatalogError::Unreadable {
                    dir: dir.to_owned(),
                    source,
                });
            }
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| CatalogError::Unreadable {
                dir: dir.to_owned(),
                source,
            })?;
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if !hidden && path.extension().is_some_and(|ext| ext == "toml") && !path.is_dir() {
                files.push(path);
            }
        }
        files.sort();
        let mut commands = BTreeMap::new();
        let mut problems = Vec::new();
        for file in files {
            match load_file(&file, known_roles) {
                Ok(spec) => {
                    commands.insert(spec.name.clone(), Arc::new(spec));
                }
                Err(found) => problems.extend(found),
            }
        }
        if problems.is_empty() {
            Ok(Catalog {
                dir: dir.to_owned(),
                commands,
            })
        } else {
            Err(CatalogError::Invalid {
                dir: dir.to_owned(),
                problems,
            })
        }
    }

    /// A catalog without commands (for when the folder does not exist).
    pub fn empty(dir: &Path) -> Catalog {
        Catalog {
            dir: dir.to_owned(),
            commands: BTreeMap::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn get(&self, name: &str) -> Option<&Arc<CommandSpec>> {
        self.commands.get(name)
    }

    /// Every command in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<CommandSpec>> {
        self.commands.values()
    }

    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// The commands a caller may run, in name order: those with an allowed role for which
    /// `holds` says yes (pass `|role| principal.holds(role)`).
    pub fn visible_to<'a>(
        &'a self,
        holds: impl Fn(&str) -> bool + 'a,
    ) -> impl Iterator<Item = &'a Arc<CommandSpec>> + 'a {
        self.commands
            .values()
            .filter(move |spec| spec.may_run(&holds))
    }

    /// Commands whose program is not on this host. Not a catalog error (the catalog is
    /// shared between hosts and checked on machines without them) but worth saying in
    /// `warroom check`.
    pub fn missing_programs(&self) -> Vec<&CommandSpec> {
        self.commands
            .values()
            .filter(|spec| !spec.program.exists())
            .map(|spec| spec.as_ref())
            .collect()
    }
}

/// What a successful reload changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadReport {
    /// Commands in the new catalog.
    pub commands: usize,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Commands whose file text changed.
    pub changed: Vec<String>,
}

impl fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reloaded the command catalog: {} command{}",
            self.commands,
            if self.commands == 1 { "" } else { "s" }
        )?;
        let mut parts = Vec::new();
        for (verb, names) in [
            ("added", &self.added),
            ("changed", &self.changed),
            ("removed", &self.removed),
        ] {
            if !names.is_empty() {
                parts.push(format!("{verb} {}", names.join(", ")));
            }
        }
        if parts.is_empty() {
            write!(f, ", no changes")
        } else {
            write!(f, "; {}", parts.join("; "))
        }
    }
}

/// The catalog in use, swappable while runs hold on to the one they started with.
/// `/commands reload` and SIGHUP call [`CatalogHandle::reload`].
#[derive(Debug)]
pub struct CatalogHandle {
    dir: PathBuf,
    known_roles: BTreeSet<String>,
    current: RwLock<Arc<Catalog>>,
    /// One reload at a time, so two quick SIGHUPs cannot report each other's changes.
    reloading: Mutex<()>,
}

impl CatalogHandle {
    /// Loads the catalog of `dir`; fails like [`Catalog::load`].
    pub fn load(dir: &Path, known_roles: BTreeSet<String>) -> Result<CatalogHandle, CatalogError> {
        let catalog = Catalog::load(dir, &known_roles)?;
        Ok(CatalogHandle::new(catalog, known_roles))
    }

    /// Starts from an already loaded catalog (e.g. [`Catalog::empty`] when the folder is
    /// missing); reloads read the catalog's folder.
    pub fn new(catalog: Catalog, known_roles: BTreeSet<String>) -> CatalogHandle {
        CatalogHandle {
            dir: catalog.dir.clone(),
            known_roles,
            current: RwLock::new(Arc::new(catalog)),
            reloading: Mutex::new(()),
        }
    }

    /// The catalog in use now. Cheap; hold it for as long as one request needs it.
    pub fn current(&self) -> Arc<Catalog> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the folder again. When the new catalog is valid it replaces the current one;
    /// when it is not, the current one stays and the error says why. Reads files, so from
    /// async code call it through `spawn_blocking` (it takes milliseconds).
    pub fn reload(&self) -> Result<ReloadReport, CatalogError> {
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let new = Catalog::load(&self.dir, &self.known_roles)?;
        let old = self.current();
        let mut report = ReloadReport {
            commands: new.len(),
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
        };
        for (name, spec) in &new.commands {
            match old.commands.get(name) {
                None => report.added.push(name.clone()),
                Some(before) if before.source != spec.source => report.changed.push(name.clone()),
                Some(_) => {}
            }
        }
        for name in old.commands.keys() {
            if !new.commands.contains_key(name) {
                report.removed.push(name.clone());
            }
        }
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(new);
        Ok(report)
    }
}
