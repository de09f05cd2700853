//! Typed configuration: load the TOML file, apply `WARROOM__SECTION__KEY` overrides, validate
//! everything at once with file:line locations, and keep secrets out of `Debug` and logs.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The shipped, commented configuration. `warroom config default` prints it, and the
/// defaults in this file match it (a test holds the two together).
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../config/warroom.toml");

/// Where the config file is looked for when neither `--config` nor `WARROOM_CONFIG` is given.
pub const DEFAULT_CONFIG_PATH: &str = "config/warroom.toml";

/// Environment variables with this prefix override keys: `WARROOM__DATABASE__URL` sets
/// `[database] url`. Double underscores separate levels because keys contain single ones.
pub const ENV_OVERRIDE_PREFIX: &str = "WARROOM__";

/// Incident roles offered when `incident_roles` is not configured.
pub const DEFAULT_INCIDENT_ROLES: [&str; 4] = ["commander", "communications", "dba", "scribe"];

/// The bot roles the code itself refers to (SPEC §2 permissions); others may be added freely.
pub mod bot_roles {
    pub const RESPONDER: &str = "responder";
    pub const INCIDENT_COMMANDER: &str = "incident_commander";
    pub const ADMIN: &str = "admin";
}

#[derive(Clone, Debug)]
pub struct Config {
    /// The file this configuration was read from; relative paths in it resolve against its folder.
    pub path: PathBuf,
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub discord: DiscordConfig,
    /// Bot role name (e.g. `responder`) to the Discord role ids that grant it.
    pub roles: BTreeMap<String, Vec<u64>>,
    /// The roles a person can be assigned within one incident (e.g. `commander`).
    pub incident_roles: Vec<String>,
    /// In the order of the file: the first is the most severe.
    pub severities: Vec<SeverityConfig>,
    pub services: Vec<ServiceConfig>,
    /// On-call schedules (`[schedules.NAME]`), in file order.
    pub schedules: Vec<crate::escalation::Schedule>,
    /// Escalation policies (`[policies.NAME]`), in file order.
    pub policies: Vec<crate::escalation::Policy>,
    /// Where pages go besides Discord (`[notifiers.NAME]`), in file order.
    pub notifiers: Vec<crate::notify::NotifierConfig>,
    pub escalation: crate::escalation::EscalationSettings,
    /// Bearer tokens of the HTTP API and alert endpoints (`[api_tokens.NAME]`), in file order.
    pub api_tokens: Vec<crate::http::ApiToken>,
    /// Alert routing and storm control (`[alerts]`).
    pub alerts: crate::alerts::AlertsConfig,
    /// Findings that do not stop warroom but deserve a look; `warroom check` prints them.
    pub warnings: Vec<Problem>,
    /// The approved command catalog and how its runs are confined (`[commands]`).
    pub commands: CommandsConfig,
}

#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    pub url: DatabaseUrl,
    /// Upper bound on pooled connections; SQLite writes still go through one connection.
    pub max_connections: u32,
    /// How hard SQLite flushes each commit to disk (ignored for PostgreSQL).
    pub sqlite_synchronous: SqliteSync,
}

/// SQLite's `synchronous` setting, in WAL mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqliteSync {
    /// A committed change survives warroom crashing or being killed (it is in the OS before
    /// the commit returns); the last moments before a power loss or kernel crash may not.
    /// Several times the write throughput of `Full`, which the interaction target needs.
    Normal,
    /// Every commit waits for the disk: survives power loss too, at one fsync per commit.
    Full,
}

/// The database location. Holds the URL as a secret because PostgreSQL URLs carry passwords.
#[derive(Clone)]
pub enum DatabaseUrl {
    /// A SQLite file, already resolved against the config file's folder.
    Sqlite(PathBuf),
    Postgres(SecretString),
}

impl DatabaseUrl {
    /// A form safe for logs and error messages: the password, if any, is masked.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => redact_url_password(url.expose_secret()),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "[unparsable database url]".to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:[redacted]{}", &rest[at..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub listen: SocketAddr,
}

#[derive(Clone, Debug)]
pub struct DiscordConfig {
    /// The name of the environment variable holding the bot token.
    pub token_env: String,
    /// The token itself, read from `token_env` at load time; `None` disables Discord.
    pub token: Option<SecretString>,
    pub application_id: Option<u64>,
    pub guild_id: Option<u64>,
    pub incident_category_id: Option<u64>,
    pub incident_thread_channel_id: Option<u64>,
    pub announce_channel_id: Option<u64>,
    /// Discord's base URL, without a trailing slash. Tests point it at the emulator.
    pub api_base: String,
}

/// `[commands]`: where the approved command catalog lives and the limits every run obeys.
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeverityConfig {
    pub name: String,
    pub description: String,
    /// How long an incident of this severity may stay unacknowledged (the runbooks' P1..P4).
    pub ack_within: Duration,
    /// The escalation policy incidents of this severity use, unless their service names one.
    pub policy: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    pub name: String,
    pub description: String,
    /// Recovery time objective: how long the service may be down.
    pub rto: Duration,
    /// Recovery point objective: how much data (as time) may be lost.
    pub rpo: Duration,
    /// What to verify before calling the service recovered.
    pub checklist: Vec<String>,
    /// The severity alerts for this service open with unless a route says otherwise.
    pub default_severity: Option<String>,
    /// The escalation policy for this service's incidents; it wins over the severity's.
    pub policy: Option<String>,
}

impl Config {
    pub fn severity(&self, name: &str) -> Option<&SeverityConfig> {
        self.severities
            .iter()
            .find(|severity| severity.name.eq_ignore_ascii_case(name))
    }

    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services
            .iter()
            .find(|service| service.name.eq_ignore_ascii_case(name))
    }

    /// The folder of the config file, against which relative paths resolve.
    pub fn dir(&self) -> &Path {
        config_dir(&self.path)
    }

    /// Every bot role a command may name: those mapped in `[roles]` plus the ones the code
    /// itself refers to (which exist even before anyone maps a Discord role to them).
    pub fn bot_role_names(&self) -> std::collections::BTreeSet<String> {
        self.roles
            .keys()
            .cloned()
            .chain(
                [
                    bot_roles::RESPONDER,
                    bot_roles::INCIDENT_COMMANDER,
                    bot_roles::ADMIN,
                ]
                .map(str::to_owned),
            )
            .collect()
    }

    /// Parts of the Discord setup that are still missing (empty when Discord is ready to go).
    /// Not errors: warroom runs without Discord, and `warroom check` lists these as to-dos.
    pub fn discord_setup_gaps(&self) -> Vec<String> {
        let discord = &self.discord;
        let mut gaps = Vec::new();
        if discord.token.is_none() {
            gaps.push(format!(
                "the bot token: set the environment variable {} (Discord developer portal → your application → Bot → Reset Token)",
                discord.token_env
            ));
        }
        if discord.application_id.is_none() {
            gaps.push("[discord] application_id (developer portal → General Information → Application ID)".to_owned());
        }
        if discord.guild_id.is_none() {
            gaps.push("[discord] guild_id (Discord → Settings → Advanced → Developer Mode, then right-click the server → Copy Server ID)".to_owned());
        }
        if discord.incident_category_id.is_none() && discord.incident_thread_channel_id.is_none() {
            gaps.push("[discord] incident_category_id or incident_thread_channel_id (right-click the category or channel → Copy Channel ID)".to_owned());
        }
        if discord.announce_channel_id.is_none() {
            gaps.push(
                "[discord] announce_channel_id (right-click the channel → Copy Channel ID)"
                    .to_owned(),
            );
        }
        for role in [
            bot_roles::RESPONDER,
            bot_roles::INCIDENT_COMMANDER,
            bot_roles::ADMIN,
        ] {
            if self.roles.get(role).is_none_or(Vec::is_empty) {
                gaps.push(format!("[roles] {role}: no Discord role id grants it yet, so nobody can use the commands that need it (Server Settings → Roles → right-click → Copy Role ID)"));
            }
        }
        gaps
    }
}

fn config_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The environment a config is loaded in: a snapshot, so tests can pass their own.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    pub fn from_process() -> Environment {
        Environment {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Environment {
        Environment {
            vars: pairs
                .into_iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// This environment with `pairs` added (replacing variables of the same name).
    pub fn extended<K: Into<String>, V: Into<String>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Environment {
        self.vars.extend(
            pairs
                .into_iter()
                .map(|(key, value)| (key.into(), value.into())),
        );
        self
    }
}

/// Where a problem was found: a line of the file, or an environment override.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Line { file: PathBuf, line: usize },
    File(PathBuf),
    Env(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line { file, line } => write!(f, "{}:{line}", file.display()),
            Location::File(file) => write!(f, "{}", file.display()),
            Location::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// One thing wrong with the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub location: Location,
    /// The dotted key, e.g. `services.api.rto`; empty for the file as a whole.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.location, self.message)
        } else {
            write!(f, "{}: {}: {}", self.location, self.key, self.message)
        }
    }
}

/// Every problem found, reported together so one edit can fix them all.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            f,
            "the configuration {} has {count} problem{}:",
            self.file.display(),
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads `path`, applies the environment's overrides and validates the result.
    pub fn load(path: &Path, env: &Environment) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            file: path.to_owned(),
            problems: vec![Problem {
                location: Location::File(path.to_owned()),
                key: String::new(),
                message: if error.kind() == std::io::ErrorKind::NotFound {
                    "the file does not exist; write one with `warroom config default > FILE` or point --config (or WARROOM_CONFIG) at yours".to_owned()
                } else {
                    format!("cannot be read: {error}")
                },
            }],
        })?;
        Config::from_toml(path, &text, env)
    }

    /// Parses and validates `text` as if it had been read from `path`.
    pub fn from_toml(path: &Path, text: &str, env: &Environment) -> Result<Config, ConfigError> {
        let mut loader = Loader::new(path, text)?;
        let mut table = loader.parse_table(text)?;
        loader.apply_env_overrides(&mut table, env);
        let config = loader.build(table, env);
        if loader.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError {
                file: path.to_owned(),
                problems: loader.problems,
            })
        }
    }
}

/// Reads one TOML file into typed parts, collecting problems (with file:line) instead of
/// stopping at the first. The config uses it, and so can other TOML data (the command catalog).
pub(crate) struct Loader {
    path: PathBuf,
    /// Kept only to find the line of a key when reporting a problem.
    document: toml_edit::Document<String>,
    /// Byte offsets at which each line starts, to turn spans into line numbers.
    line_starts: Vec<usize>,
    /// Key paths set from the environment, so their problems point at the variable.
    env_keys: BTreeMap<Vec<String>, String>,
    problems: Vec<Problem>,
    /// Findings that do not make the file invalid; they end up in `Config::warnings`.
    warnings: Vec<Problem>,
}

impl Loader {
    pub(crate) fn new(path: &Path, text: &str) -> Result<Loader, ConfigError> {
        let document = toml_edit::Document::parse(text.to_owned()).map_err(|error| {
            let line = error
                .span()
                .map(|span| line_of(&line_starts(text), span.start));
            ConfigError {
                file: path.to_owned(),
                problems: vec![Problem {
                    location: match line {
                        Some(line) => Location::Line {
                            file: path.to_owned(),
                            line,
                        },
                        None => Location::File(path.to_owned()),
                    },
                    key: String::new(),
                    message: format!("not valid TOML: {}", error.message()),
                }],
            }
        })?;
        Ok(Loader {
            path: path.to_owned(),
            document,
            line_starts: line_starts(text),
            env_keys: BTreeMap::new(),
            problems: Vec::new(),
            warnings: Vec::new(),
        })
    }

    /// The problems recorded so far; empty means everything read was valid.
    pub(crate) fn into_problems(self) -> Vec<Problem> {
        self.problems
    }

    pub(crate) fn parse_table(&self, text: &str) -> Result<toml::Table, ConfigError> {
        toml::from_str(text).map_err(|error| ConfigError {
            file: self.path.clone(),
            problems: vec![Problem {
                location: Location::File(self.path.clone()),
                key: String::new(),
                message: format!("not valid TOML: {}", error.message()),
            }],
        })
    }

    fn apply_env_overrides(&mut self, table: &mut toml::Table, env: &Environment) {
        for (name, value) in &env.vars {
            let Some(rest) = name.strip_prefix(ENV_OVERRIDE_PREFIX) else {
                continue;
            };
            let segments: Vec<&str> = rest.split("__").collect();
            if segments.iter().any(|segment| segment.is_empty()) {
                self.problems.push(Problem {
                    location: Location::Env(name.clone()),
                    key: String::new(),
                    message: "an override is written WARROOM__SECTION__KEY, with no empty parts"
                        .to_owned(),
                });
                continue;
            }
            let path = set_path(table, &segments, parse_env_value(value));
            self.env_keys.insert(path, name.clone());
        }
    }

    /// Records a problem at `path` (dotted key segments), located by line or env variable.
    pub(crate) fn problem(&mut self, path: &[String], message: impl Into<String>) {
        let location = self.locate(path);
        self.problems.push(Problem {
            location,
            key: path.join("."),
            message: message.into(),
        });
    }

    /// Records a warning at `path`: worth saying, not worth refusing the file for.
    pub(crate) fn warn(&mut self, path: &[String], message: impl Into<String>) {
        let location = self.locate(path);
        self.warnings.push(Problem {
            location,
            key: path.join("."),
            message: message.into(),
        });
    }

    /// Records a problem with element `index` (from 0) of the array at `path`, located at that
    /// element's own line, so a long multi-line array points at the right entry.
    pub(crate) fn problem_at_item(
        &mut self,
        path: &[String],
        index: usize,
        message: impl Into<String>,
    ) {
        let line = self
            .item_span(path, index)
            .map(|offset| line_of(&self.line_starts, offset));
        let location = match line {
            Some(line) if !self.env_keys.contains_key(path) => Location::Line {
                file: self.path.clone(),
                line,
            },
            _ => self.locate(path),
        };
        self.problems.push(Problem {
            location,
            key: path.join("."),
            message: message.into(),
        });
    }

    fn item_span(&self, path: &[String], index: usize) -> Option<usize> {
        let (last, parents) = path.split_last()?;
        let mut table: &dyn toml_edit::TableLike = self.document.as_table();
        for segment in parents {
            table = table.get(segment)?.as_table_like()?;
        }
        let array = table.get(last)?.as_array()?;
        array.get(index)?.span().map(|span| span.start)
    }

    /// The environment variable or the file line that set `path` (or its nearest parent).
    fn locate(&self, path: &[String]) -> Location {
        for len in (1..=path.len()).rev() {
            if let Some(var) = self.env_keys.get(&path[..len]) {
                return Location::Env(var.clone());
            }
        }
        match self.span_of(path) {
            Some(offset) => Location::Line {
                file: self.path.clone(),
                line: line_of(&self.line_starts, offset),
            },
            None => Location::File(self.path.clone()),
        }
    }

    /// The byte offset of `path` in the file: its key, else its value, else the nearest
    /// parent found. Numeric segments index arrays and arrays of tables counting from 1, as
    /// people count ("level 2"), so `policies.critical.levels.2.after` finds that line.
    fn span_of(&self, path: &[String]) -> Option<usize> {
        enum Node<'a> {
            Table(&'a dyn toml_edit::TableLike),
            Item(&'a toml_edit::Item),
            Value(&'a toml_edit::Value),
        }
        let mut node = Node::Table(self.document.as_table());
        let mut best = None;
        for segment in path {
            // An item is a table, a value or an array of tables: look through it first.
            if let Node::Item(item) = node {
                node = match item {
                    toml_edit::Item::Table(table) => Node::Table(table),
                    toml_edit::Item::Value(value) => Node::Value(value),
                    toml_edit::Item::ArrayOfTables(tables) => {
                        let Some(table) = array_index(segment).and_then(|index| tables.get(index))
                        else {
                            break;
                        };
                        best = table.span().map(|span| span.start).or(best);
                        node = Node::Table(table);
                        continue;
                    }
                    toml_edit::Item::None => break,
                };
            }
            if let Node::Value(value) = node {
                match value {
                    toml_edit::Value::InlineTable(table) => node = Node::Table(table),
                    toml_edit::Value::Array(array) => {
                        let Some(element) = array_index(segment).and_then(|index| array.get(index))
                        else {
                            break;
                        };
                        best = element.span().map(|span| span.start).or(best);
                        node = Node::Value(element);
                        continue;
                    }
                    _ => break,
                }
            }
            let Node::Table(table) = node else { break };
            let Some(item) = table.get(segment) else {
                break;
            };
            let key_span = table.key(segment).and_then(toml_edit::Key::span);
            best = key_span
                .or_else(|| item.span())
                .map(|span| span.start)
                .or(best);
            node = Node::Item(item);
        }
        best
    }

    /// Decodes one section or entry, recording unknown keys and type errors under `path`.
    pub(crate) fn decode<T: DeserializeOwned>(
        &mut self,
        path: &[String],
        value: toml::Value,
    ) -> Option<T> {
        let mut unknown = Vec::new();
        let mut record = |ignored: serde_ignored::Path<'_>| unknown.push(ignored.to_string());
        let deserializer = serde_ignored::Deserializer::new(value, &mut record);
        let decoded: Result<T, _> = serde_path_to_error::deserialize(deserializer);
        for key in unknown {
            let full = join_path(path, &key);
            self.problem(
                &full,
                "unknown key; check its spelling against `warroom config default`",
            );
        }
        match decoded {
            Ok(value) => Some(value),
            Err(error) => {
                let full = join_path(path, &error.path().to_string());
                self.problem(&full, error.into_inner().to_string());
                None
            }
        }
    }

    fn build(&mut self, mut table: toml::Table, env: &Environment) -> Config {
        let mut take = |name: &str| table.remove(name);
        let database_raw = take("database");
        let http_raw = take("http");
        let discord_raw = take("discord");
        let roles_raw = take("roles");
        let incidents_raw = take("incidents");
        let severities_raw = take("severities");
        let services_raw = take("services");
        let schedules_raw = take("schedules");
        let policies_raw = take("policies");
        let notifiers_raw = take("notifiers");
        let escalation_raw = take("escalation");
        let commands_raw = take("commands");
        let api_tokens_raw = take("api_tokens");
        let alerts_raw = take("alerts");
        for unknown in table.keys() {
            self.problem(
                std::slice::from_ref(unknown),
                "unknown section or key; check its spelling against `warroom config default`",
            );
        }

        let database = self.build_database(database_raw);
        let http = self.build_http(http_raw);
        let discord = self.build_discord(discord_raw, env);
        let roles = self.build_roles(roles_raw);
        let incident_roles = self.build_incident_roles(incidents_raw);
        let severities = self.build_severities(severities_raw);
        let services = self.build_services(services_raw, &severities);
        let schedules = self.build_schedules(schedules_raw);
        let (policies, broken_policies) = self.build_policies(policies_raw);
        let notifiers = self.build_notifiers(notifiers_raw, env);
        let escalation = self.build_escalation_settings(escalation_raw);
        let commands = self.build_commands(commands_raw);
        let role_names: Vec<String> = roles.keys().cloned().collect();
        let api_tokens = self.build_api_tokens(api_tokens_raw, env, &role_names);
        let alerts = self.build_alerts(alerts_raw, &severities, &services);
        let mut config = Config {
            path: self.path.clone(),
            database,
            http,
            discord,
            roles,
            incident_roles,
            severities,
            services,
            schedules,
            policies,
            notifiers,
            escalation,
            api_tokens,
            alerts,
            warnings: Vec::new(),
            commands,
        };
        self.check_escalation(&config, &broken_policies);
        config.warnings = std::mem::take(&mut self.warnings);
        config
    }

    pub(crate) fn section<T: DeserializeOwned + Default>(
        &mut self,
        name: &str,
        raw: Option<toml::Value>,
    ) -> T {
        match raw {
            None => T::default(),
            Some(value @ toml::Value::Table(_)) => {
                self.decode(&[name.to_owned()], value).unwrap_or_default()
            }
            Some(_) => {
                self.problem(
                    &[name.to_owned()],
                    format!("must be a table, written [{name}]"),
                );
                T::default()
            }
        }
    }

    fn build_database(&mut self, raw: Option<toml::Value>) -> DatabaseConfig {
        let raw: RawDatabase = self.section("database", raw);
        let path = |key: &str| vec!["database".to_owned(), key.to_owned()];
        let url = match parse_database_url(&raw.url, config_dir(&self.path)) {
            Ok(url) => url,
            Err(message) => {
                self.problem(&path("url"), message);
                DatabaseUrl::Sqlite(config_dir(&self.path).join("warroom.db"))
            }
        };
        if raw.max_connections == 0 {
            self.problem(&path("max_connections"), "must be at least 1");
        }
        let sqlite_synchronous = match raw.sqlite_synchronous.trim().to_ascii_lowercase().as_str() {
            "normal" => SqliteSync::Normal,
            "full" => SqliteSync::Full,
            other => {
                self.problem(
                    &path("sqlite_synchronous"),
                    format!("`{other}` is not a setting warroom offers; use \"normal\" (the default) or \"full\""),
                );
                SqliteSync::Normal
            }
        };
        DatabaseConfig {
            url,
            max_connections: raw.max_connections.max(1),
            sqlite_synchronous,
        }
    }

    fn build_http(&mut self, raw: Option<toml::Value>) -> HttpConfig {
        let raw: RawHttp = self.section("http", raw);
        let listen = raw.listen.parse().unwrap_or_else(|_| {
            self.problem(
                &["http".to_owned(), "listen".to_owned()],
                format!(
                    "`{}` is not an address to listen on; write it as 127.0.0.1:8080",
                    raw.listen
                ),
            );
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        HttpConfig { listen }
    }

    fn build_discord(&mut self, raw: Option<toml::Value>, env: &Environment) -> DiscordConfig {
        let raw: RawDiscord = self.section("discord", raw);
        let path = |key: &str| vec!["discord".to_owned(), key.to_owned()];
        if !is_env_var_name(&raw.token_env) {
            self.problem(
                &path("token_env"),
                // The value is not repeated: when this fails, it is often the token itself.
                "must name an environment variable (A-Z, 0-9 and _); the token itself never goes in this file, only the name of the variable that holds it, e.g. WARROOM_DISCORD_TOKEN",
            );
        }
        let token = env
            .get(&raw.token_env)
            .filter(|token| !token.trim().is_empty())
            .map(|token| SecretString::from(token.trim().to_owned()));
        let mut id = |key: &str, value: &Snowflake| match value.parse() {
            Ok(id) => id,
            Err(message) => {
                self.problem(&path(key), message);
                None
            }
        };
        let application_id = id("application_id", &raw.application_id);
        let guild_id = id("guild_id", &raw.guild_id);
        let incident_category_id = id("incident_category_id", &raw.incident_category_id);
        let incident_thread_channel_id = id(
            "incident_thread_channel_id",
            &raw.incident_thread_channel_id,
        );
        let announce_channel_id = id("announce_channel_id", &raw.announce_channel_id);
        if incident_category_id.is_some() && incident_thread_channel_id.is_some() {
            self.problem(
                &path("incident_thread_channel_id"),
                "set either incident_category_id (a channel per incident) or incident_thread_channel_id (a thread per incident), not both",
            );
        }
        let api_base = raw.api_base.trim_end_matches('/').to_owned();
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            self.problem(
                &path("api_base"),
                format!(
                    "`{}` is not an http(s) URL; the default is https://discord.com",
                    raw.api_base
                ),
            );
        }
        DiscordConfig {
            token_env: raw.token_env,
            token,
            application_id,
            guild_id,
            incident_category_id,
            incident_thread_channel_id,
            announce_channel_id,
            api_base,
        }
    }

    fn build_commands(&mut self, raw: Option<toml::Value>) -> CommandsConfig {
        let raw: RawCommands = self.section("commands", raw);
        let path = |key: &str| vec!["commands".to_owned(), key.to_owned()];
        let base = config_dir(&self.path).to_owned();
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

    fn build_roles(&mut self, raw: Option<toml::Value>) -> BTreeMap<String, Vec<u64>> {
        let mut roles = BTreeMap::new();
        for (name, value) in self.entries("roles", raw) {
            let path = vec!["roles".to_owned(), name.clone()];
            if !is_simple_name(&name) {
                self.problem(
                    &path,
                    "a bot role name is lowercase letters, digits and `_`",
                );
            }
            let Some(ids) = self.decode::<Vec<Snowflake>>(&path, value) else {
                continue;
            };
            let mut role_ids = Vec::new();
            for (index, id) in ids.iter().enumerate() {
                match id.parse() {
                    Ok(Some(id)) => role_ids.push(id),
                    Ok(None) => self.problem(
                        &path,
                        format!(
                            "entry {} is empty; remove it or put a Discord role id",
                            index + 1
                        ),
                    ),
                    Err(message) => self.problem(&path, message),
                }
            }
            roles.insert(name, role_ids);
        }
        roles
    }

    fn build_incident_roles(&mut self, raw: Option<toml::Value>) -> Vec<String> {
        let raw: RawIncidents = self.section("incidents", raw);
        let path = vec!["incidents".to_owned(), "roles".to_owned()];
        for role in &raw.roles {
            if !is_simple_name(role) {
                self.problem(
                    &path,
                    format!("`{role}` is not a role name; use lowercase letters, digits and `_`"),
                );
            }
        }
        if !raw
            .roles
            .iter()
            .any(|role| role == crate::domain::COMMANDER_ROLE)
        {
            self.problem(
                &path,
                "must include \"commander\": every incident needs someone leading it",
            );
        }
        raw.roles
    }

    /// The entries of a `[name.ENTRY]` table, in file order.
    pub(crate) fn entries(
        &mut self,
        name: &str,
        raw: Option<toml::Value>,
    ) -> Vec<(String, toml::Value)> {
        match raw {
            None => Vec::new(),
            Some(toml::Value::Table(table)) => table.into_iter().collect(),
            Some(_) => {
                self.problem(
                    &[name.to_owned()],
                    format!("must be a table of entries, written [{name}.NAME]"),
                );
                Vec::new()
            }
        }
    }

    /// Parses a duration at `path`, recording a problem (and returning zero) when malformed.
    pub(crate) fn duration(&mut self, path: &[String], text: &str, allow_zero: bool) -> Duration {
        match parse_duration(text) {
            Ok(duration) if duration.is_zero() && !allow_zero => {
                self.problem(path, "must be longer than zero");
                duration
            }
            Ok(duration) => duration,
            Err(message) => {
                self.problem(path, message);
                Duration::ZERO
            }
        }
    }

    fn build_severities(&mut self, raw: Option<toml::Value>) -> Vec<SeverityConfig> {
        if raw.is_none() {
            return default_severities();
        }
        let mut severities = Vec::new();
        for (name, value) in self.entries("severities", raw) {
            let path = vec!["severities".to_owned(), name.clone()];
            if !is_entry_name(&name) {
                self.problem(
                    &path,
                    "a severity name is letters, digits, `-` and `_`, e.g. SEV1",
                );
            }
            let Some(raw) = self.decode::<RawSeverity>(&path, value) else {
                continue;
            };
            let ack_within = self.duration(&join_path(&path, "ack_within"), &raw.ack_within, false);
            if raw.description.trim().is_empty() {
                self.problem(
                    &join_path(&path, "description"),
                    "say in a few words when to use this severity",
                );
            }
            severities.push(SeverityConfig {
                name,
                description: raw.description,
                ack_within,
                policy: raw.policy,
            });
        }
        if severities.is_empty() {
            self.problem(
                &["severities".to_owned()],
                "at least one severity is needed",
            );
        }
        severities
    }

    fn build_services(
        &mut self,
        raw: Option<toml::Value>,
        severities: &[SeverityConfig],
    ) -> Vec<ServiceConfig> {
        let mut services = Vec::new();
        for (name, value) in self.entries("services", raw) {
            let path = vec!["services".to_owned(), name.clone()];
            if !is_entry_name(&name) {
                self.problem(&path, "a service name is letters, digits, `-` and `_`");
            }
            let Some(raw) = self.decode::<RawService>(&path, value) else {
                continue;
            };
            let rto = self.duration(&join_path(&path, "rto"), &raw.rto, false);
            let rpo = self.duration(&join_path(&path, "rpo"), &raw.rpo, true);
            if let Some(severity) = &raw.default_severity
                && !severities.iter().any(|known| known.name == *severity)
            {
                let known: Vec<&str> = severities.iter().map(|s| s.name.as_str()).collect();
                self.problem(
                    &join_path(&path, "default_severity"),
                    format!(
                        "`{severity}` is not a configured severity; use one of {}",
                        known.join(", ")
                    ),
                );
            }
            for (index, item) in raw.checklist.iter().enumerate() {
                if item.trim().is_empty() {
                    self.problem(
                        &join_path(&path, "checklist"),
                        format!("item {} is empty", index + 1),
                    );
                }
            }
            services.push(ServiceConfig {
                name,
                description: raw.description,
                rto,
                rpo,
                checklist: raw.checklist,
                default_severity: raw.default_severity,
                policy: raw.policy,
            });
        }
        services
    }
}

fn default_severities() -> Vec<SeverityConfig> {
    let severity = |name: &str, description: &str, minutes: u64| SeverityConfig {
        name: name.to_owned(),
        description: description.to_owned(),
        ack_within: Duration::from_secs(minutes * 60),
        policy: None,
    };
    vec![
        severity(
            "SEV1",
            "Critical: the service is down or data is being lost for many users",
            15,
        ),
        severity(
            "SEV2",
            "Major: a core feature is broken or badly degraded",
            60,
        ),
        severity(
            "SEV3",
            "Minor: degraded for some users, a workaround exists",
            240,
        ),
        severity(
            "SEV4",
            "Low: cosmetic or internal, no user impact yet",
            1_440,
        ),
    ]
}

#[derive(Deserialize)]
#[serde(default)]
struct RawDatabase {
    url: String,
    max_connections: u32,
    sqlite_synchronous: String,
}

impl Default for RawDatabase {
    fn default() -> RawDatabase {
        RawDatabase {
            url: "sqlite://warroom.db".to_owned(),
            max_connections: 8,
            sqlite_synchronous: "normal".to_owned(),
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct RawHttp {
    listen: String,
}

impl Default for RawHttp {
    fn default() -> RawHttp {
        RawHttp {
            listen: "127.0.0.1:8080".to_owned(),
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct RawDiscord {
    token_env: String,
    application_id: Snowflake,
    guild_id: Snowflake,
    incident_category_id: Snowflake,
    incident_thread_channel_id: Snowflake,
    announce_channel_id: Snowflake,
    api_base: String,
}

impl Default for RawDiscord {
    fn default() -> RawDiscord {
        RawDiscord {
            token_env: "WARROOM_DISCORD_TOKEN".to_owned(),
            application_id: Snowflake::default(),
            guild_id: Snowflake::default(),
            incident_category_id: Snowflake::default(),
            incident_thread_channel_id: Snowflake::default(),
            announce_channel_id: Snowflake::default(),
            api_base: "https://discord.com".to_owned(),
        }
    }
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

#[derive(Deserialize)]
#[serde(default)]
struct RawIncidents {
    roles: Vec<String>,
}

impl Default for RawIncidents {
    fn default() -> RawIncidents {
        RawIncidents {
            roles: DEFAULT_INCIDENT_ROLES.map(str::to_owned).to_vec(),
        }
    }
}

#[derive(Deserialize)]
struct RawSeverity {
    description: String,
    ack_within: String,
    #[serde(default)]
    policy: Option<String>,
}

#[derive(Deserialize)]
struct RawService {
    #[serde(default)]
    description: String,
    rto: String,
    rpo: String,
    #[serde(default)]
    checklist: Vec<String>,
    #[serde(default)]
    default_severity: Option<String>,
    #[serde(default)]
    policy: Option<String>,
}

/// A Discord id as written in the file: a string of digits (what "Copy ID" gives) or an
/// integer; `""` or `0` means not set.
#[derive(Deserialize, Default)]
#[serde(untagged)]
pub(crate) enum Snowflake {
    Text(String),
    Number(i64),
    #[default]
    Unset,
}

impl Snowflake {
    pub(crate) fn parse(&self) -> Result<Option<u64>, String> {
        match self {
            Snowflake::Unset => Ok(None),
            Snowflake::Number(0) => Ok(None),
            Snowflake::Number(number) => u64::try_from(*number)
                .map(Some)
                .map_err(|_| format!("{number} is not a Discord id")),
            Snowflake::Text(text) if text.trim().is_empty() => Ok(None),
            Snowflake::Text(text) => match text.trim().parse::<u64>() {
                Ok(id) if id > 0 => Ok(Some(id)),
                _ => Err(format!(
                    "`{text}` is not a Discord id; ids are digits, copied with Developer Mode on (right-click → Copy ID)"
                )),
            },
        }
    }
}

/// Parses `"90s"`, `"15m"`, `"4h"`, `"1h 30m"`, or `"0"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(trimmed).map_err(|_| {
        format!("`{text}` is not a duration; write it like \"90s\", \"15m\", \"4h\" or \"1h 30m\"")
    })
}

fn parse_database_url(text: &str, base: &Path) -> Result<DatabaseUrl, String> {
    let text = text.trim();
    if let Some(rest) = text
        .strip_prefix("sqlite://")
        .or_else(|| text.strip_prefix("sqlite:"))
    {
        if rest.is_empty() || rest.contains('?') {
            return Err("write a SQLite database as sqlite://FILE (relative to the config file's folder) or sqlite:///absolute/path; options after `?` are not supported".to_owned());
        }
        let path = Path::new(rest);
        return Ok(DatabaseUrl::Sqlite(if path.is_absolute() {
            path.to_owned()
        } else {
            base.join(path)
        }));
    }
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        return Ok(DatabaseUrl::Postgres(SecretString::from(text.to_owned())));
    }
    Err(format!(
        "`{}` is not a database URL warroom knows; use sqlite://warroom.db (the default) or postgres://user@host/db",
        redact_url_password(text)
    ))
}

fn parse_env_value(text: &str) -> toml::Value {
    // A value that reads as TOML keeps its type (numbers, booleans, arrays); anything else is
    // a plain string, so URLs and durations need no quoting in the shell.
    toml::from_str::<toml::Table>(&format!("value = {text}"))
        .ok()
        .and_then(|mut table| table.remove("value"))
        .unwrap_or_else(|| toml::Value::String(text.to_owned()))
}

/// Sets `segments` in `table`, matching existing keys without regard to case (environment
/// variables are upper case, keys are not), and returns the key path actually set.
fn set_path(table: &mut toml::Table, segments: &[&str], value: toml::Value) -> Vec<String> {
    let (first, rest) = segments.split_first().expect("segments are never empty");
    let key = table
        .keys()
        .find(|key| key.eq_ignore_ascii_case(first))
        .cloned()
        .unwrap_or_else(|| first.to_ascii_lowercase());
    if rest.is_empty() {
        table.insert(key.clone(), value);
        return vec![key];
    }
    let entry = table
        .entry(key.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !entry.is_table() {
        *entry = toml::Value::Table(toml::Table::new());
    }
    let inner = entry.as_table_mut().expect("just made a table");
    let mut path = vec![key];
    path.extend(set_path(inner, rest, value));
    path
}

pub(crate) fn join_path(prefix: &[String], dotted: &str) -> Vec<String> {
    let mut path = prefix.to_vec();
    path.extend(
        dotted
            .split('.')
            .filter(|part| !part.is_empty() && *part != "?")
            .map(str::to_owned),
    );
    path
}

/// A 1-based array position written as a path segment, as a 0-based index.
fn array_index(segment: &str) -> Option<usize> {
    segment.parse::<usize>().ok()?.checked_sub(1)
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(index, _)| index + 1))
        .collect()
}

fn line_of(line_starts: &[usize], offset: usize) -> usize {
    line_starts.partition_point(|start| *start <= offset)
}

pub(crate) fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_uppercase() || first == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn is_simple_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(crate) fn is_entry_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_redacted_urls() {
        assert_eq!(
            redact_url_password("postgres://app:hunter2@db.internal:5432/warroom"),
            "postgres://app:[redacted]@db.internal:5432/warroom"
        );
        assert_eq!(
            redact_url_password("postgres://app@db/warroom"),
            "postgres://app@db/warroom"
        );
    }

    #[test]
    fn env_values_keep_their_toml_type_or_become_strings() {
        assert_eq!(parse_env_value("8"), toml::Value::Integer(8));
        assert_eq!(parse_env_value("true"), toml::Value::Boolean(true));
        assert_eq!(
            parse_env_value("postgres://x@y/z"),
            toml::Value::String("postgres://x@y/z".into())
        );
        assert_eq!(parse_env_value("15m"), toml::Value::String("15m".into()));
    }

    #[test]
    fn durations_accept_the_documented_forms_only() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(
            parse_duration("1h 30m").unwrap(),
            Duration::from_secs(5_400)
        );
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "15", "fifteen minutes", "15 parsecs", "-5m"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn line_numbers_count_from_one() {
        let starts = line_starts("a\nb\nc");
        assert_eq!(line_of(&starts, 0), 1);
        assert_eq!(line_of(&starts, 2), 2);
        assert_eq!(line_of(&starts, 4), 3);
    }
}
