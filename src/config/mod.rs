//! Typed configuration, on top of the layers it configures: `load.rs` reads the file (with
//! `WARROOM__` overrides and every problem at its file and line), one file per section turns
//! TOML into the value types of the part it configures (schedules and policies of
//! `escalation`, notifiers of `notify`, routes of `alerts`, severities and services of
//! `domain`), and `build` puts them together and checks what spans sections. Secrets come
//! from the environment and never show in `Debug`. Nothing this module reads from imports it.

mod alerts;
mod checks;
mod commands;
mod database;
mod discord;
mod escalation;
mod heartbeats;
mod http;
mod incidents;
mod links;
mod load;
mod notifiers;
mod people;
mod status_page;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::store::{DatabaseConfig, DatabaseUrl, SqliteSync};
pub use checks::schedule_problems;
pub use commands::{CommandsConfig, DEFAULT_REDACT_PATTERNS, MIN_OUTPUT_CAP_BYTES};
pub use discord::{DiscordConfig, PrivateAnnouncement};
pub use http::{ApiToken, HttpConfig, MIN_TOKEN_CHARS};
pub use incidents::DEFAULT_INCIDENT_ROLES;
pub use links::LinksConfig;
pub use load::{ConfigError, ENV_OVERRIDE_PREFIX, Environment, Location, Problem, parse_duration};
pub(crate) use load::{Loader, is_env_var_name};

pub use crate::domain::{ServiceConfig, SeverityConfig, bot_roles};
use crate::escalation::{Directory, EscalationSettings, Policy, Schedule};
use crate::notify::NotifierConfig;
use crate::notify::people::People;
pub use status_page::StatusPageConfig;

/// The shipped, commented configuration. `warroom config default` prints it, and the
/// defaults in this file match it (a test holds the two together).
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../config/warroom.toml");

/// Where the config file is looked for when neither `--config` nor `WARROOM_CONFIG` is given.
pub const DEFAULT_CONFIG_PATH: &str = "config/warroom.toml";

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
    /// The bot roles that see private incidents (`[incidents] private_roles`).
    pub private_roles: Vec<String>,
    /// In the order of the file: the first is the most severe.
    pub severities: Vec<SeverityConfig>,
    pub services: Vec<ServiceConfig>,
    /// On-call schedules (`[schedules.NAME]`), in file order.
    pub schedules: Vec<Schedule>,
    /// Escalation policies (`[policies.NAME]`), in file order.
    pub policies: Vec<Policy>,
    /// Where pages go besides Discord (`[notifiers.NAME]`), in file order.
    pub notifiers: Vec<NotifierConfig>,
    /// Names and email addresses by Discord user id (`[people]`).
    pub people: People,
    /// One-click acknowledgement links and calendar feeds (`[http] public_url`,
    /// `ack_secret_env`, `ack_ttl`).
    pub links: LinksConfig,
    pub escalation: EscalationSettings,
    /// Bearer tokens of the HTTP API and alert endpoints (`[api_tokens.NAME]`), in file order.
    pub api_tokens: Vec<ApiToken>,
    /// Alert routing and storm control (`[alerts]`).
    pub alerts: crate::alerts::AlertsConfig,
    /// Findings that do not stop warroom but deserve a look; `warroom check` prints them.
    pub warnings: Vec<Problem>,
    /// The approved command catalog and how its runs are confined (`[commands]`).
    pub commands: CommandsConfig,
    /// Scheduled verification checks (`[checks.NAME]`), in file order.
    pub checks: Vec<crate::checks::CheckSpec>,
    /// Scheduled drills (`[drills.NAME]`), in file order.
    pub drills: Vec<crate::checks::DrillSpec>,
    /// Jobs that must check in (`[heartbeats.NAME]`), in file order.
    pub heartbeats: Vec<crate::domain::Heartbeat>,
    /// The public status page (`[status_page]`).
    pub status_page: status_page::StatusPageConfig,
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
        load::config_dir(&self.path)
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
        let table = loader.read(text, env)?;
        let config = build(&mut loader, table, env);
        if loader.has_problems() {
            Err(ConfigError {
                file: path.to_owned(),
                problems: loader.into_problems(),
            })
        } else {
            Ok(config)
        }
    }

    pub fn check(&self, name: &str) -> Option<&crate::checks::CheckSpec> {
        self.checks.iter().find(|check| check.name == name)
    }

    pub fn drill(&self, name: &str) -> Option<&crate::checks::DrillSpec> {
        self.drills.iter().find(|drill| drill.name == name)
    }

    pub fn schedule(&self, name: &str) -> Option<&Schedule> {
        self.schedules.iter().find(|schedule| schedule.name == name)
    }

    pub fn heartbeat(&self, name: &str) -> Option<&crate::domain::Heartbeat> {
        self.heartbeats
            .iter()
            .find(|heartbeat| heartbeat.name == name)
    }

    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|policy| policy.name == name)
    }

    /// The policy an incident of `severity` (and `service`, if any) escalates with: the
    /// service's `policy` if it names one, else the severity's, else `[escalation]
    /// default_policy`; `None` means nobody is paged automatically.
    pub fn policy_for(&self, severity: &str, service: Option<&str>) -> Option<&Policy> {
        let from_service = service
            .and_then(|service| self.service(service))
            .and_then(|service| service.policy.as_deref());
        let from_severity = self
            .severity(severity)
            .and_then(|severity| severity.policy.as_deref());
        let name = from_service
            .or(from_severity)
            .or(self.escalation.default_policy.as_deref())?;
        self.policy(name)
    }

    /// What target resolution needs: schedules, bot roles and notifiers.
    pub fn directory(&self) -> Directory<'_> {
        Directory {
            schedules: &self.schedules,
            roles: &self.roles,
            notifiers: &self.notifiers,
        }
    }

    /// [`Config::directory`] with these schedules (the file's with the stored overrides).
    pub fn directory_with<'a>(&'a self, schedules: &'a [Schedule]) -> Directory<'a> {
        Directory {
            schedules,
            ..self.directory()
        }
    }

    /// What the notifiers still need before they can send (environment variables unset).
    /// Not errors: like the Discord token, `warroom check` lists these as to-dos.
    pub fn notifier_setup_gaps(&self) -> Vec<String> {
        self.notifiers
            .iter()
            .flat_map(|notifier| notifier.setup_gaps())
            .chain(self.links.gaps.iter().cloned())
            .collect()
    }
}

/// Every section read in turn, then the checks that span sections.
fn build(loader: &mut Loader, mut table: toml::Table, env: &Environment) -> Config {
    let mut take = |name: &str| table.remove(name);
    let database_raw = take("database");
    let mut http_raw = take("http");
    let links_raw = links::split_from_http(&mut http_raw);
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
    let people_raw = take("people");
    let checks_raw = take("checks");
    let drills_raw = take("drills");
    let heartbeats_raw = take("heartbeats");
    let status_page_raw = take("status_page");
    for unknown in table.keys() {
        loader.problem(
            std::slice::from_ref(unknown),
            "unknown section or key; check its spelling against `warroom config default`",
        );
    }

    // In the order of the file's sections, so problems are reported in reading order.
    let database = loader.build_database(database_raw);
    let http = loader.build_http(http_raw);
    let links = loader.build_links(links_raw, env);
    let discord = loader.build_discord(discord_raw, env);
    let roles: BTreeMap<String, Vec<u64>> = loader.build_roles(roles_raw);
    let (incident_roles, private_roles) = loader.build_incident_roles(incidents_raw, &roles);
    let severities = loader.build_severities(severities_raw);
    let services = loader.build_services(services_raw, &severities);
    let schedules = loader.build_schedules(schedules_raw);
    let (policies, broken_policies) = loader.build_policies(policies_raw);
    let people = loader.build_people(people_raw);
    let notifiers = loader.build_notifiers(
        notifiers_raw,
        env,
        &notifiers::EmailContext {
            people: &people,
            schedules: &schedules,
            links: &links,
        },
    );
    let escalation = loader.build_escalation_settings(escalation_raw);
    let commands = loader.build_commands(commands_raw);
    let role_names: Vec<String> = roles.keys().cloned().collect();
    let api_tokens = loader.build_api_tokens(api_tokens_raw, env, &role_names);
    let alerts = loader.build_alerts(alerts_raw, &severities, &services);
    let known = checks::Known {
        severities: &severities,
        services: &services,
    };
    let checks = loader.build_checks(checks_raw, &known);
    let drills = loader.build_drills(drills_raw, &known);
    let heartbeats = loader.build_heartbeats(heartbeats_raw, &severities, &services);
    let status_page = loader.build_status_page(status_page_raw, &services);
    let mut config = Config {
        path: loader.path().to_owned(),
        database,
        http,
        discord,
        roles,
        incident_roles,
        private_roles,
        severities,
        services,
        schedules,
        policies,
        notifiers,
        people,
        links,
        escalation,
        api_tokens,
        alerts,
        warnings: Vec::new(),
        commands,
        checks,
        drills,
        heartbeats,
        status_page,
    };
    loader.check_escalation(&config, &broken_policies);
    loader.check_email_reach(&config);
    config.warnings = loader.take_warnings();
    config
}
