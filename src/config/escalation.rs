//! The `[schedules]`, `[policies]` and `[escalation]` sections, read into the value types of
//! `escalation`, and the checks across sections once everything is read: targets that name
//! nothing, policies nobody defined, levels that can never fire, schedules with gaps.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use serde::Deserialize;

use super::Config;
use super::load::{Loader, Snowflake, is_entry_name, join_path};
use crate::escalation::{
    DEFAULT_FAILURES_BEFORE_NEXT_LEVEL, DEFAULT_MAX_IN_FLIGHT, EscalationSettings, Gap, Level,
    MAX_REPEAT, Override, Period, Policy, Rotation, Schedule, Target, parse_instant,
};

/// The longest schedule, policy or notifier name: names end up in dedup keys, which must stay
/// within PagerDuty's 255 characters (and read well in a Discord message).
pub const MAX_NAME_CHARS: usize = 64;

#[derive(Deserialize)]
#[serde(default)]
struct RawEscalation {
    default_policy: String,
    failures_before_next_level: u32,
    page_lease: String,
    max_in_flight: u32,
}

impl Default for RawEscalation {
    fn default() -> RawEscalation {
        RawEscalation {
            default_policy: String::new(),
            failures_before_next_level: DEFAULT_FAILURES_BEFORE_NEXT_LEVEL,
            page_lease: "5m".to_owned(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

#[derive(Deserialize)]
struct RawSchedule {
    timezone: String,
    #[serde(default)]
    members: Vec<Snowflake>,
    period: Option<String>,
    handoff: Option<toml::Value>,
    start: Option<toml::Value>,
    #[serde(default)]
    overrides: Vec<toml::Value>,
}

#[derive(Deserialize)]
struct RawOverride {
    user: Snowflake,
    start: toml::Value,
    end: toml::Value,
}

#[derive(Deserialize)]
struct RawPolicy {
    #[serde(default)]
    levels: Vec<toml::Value>,
    #[serde(default)]
    repeat: u32,
    repeat_after: Option<String>,
    fallback: Option<String>,
}

#[derive(Deserialize)]
struct RawLevel {
    after: String,
    targets: Vec<String>,
}

/// A TOML string or date/time value as text (`"09:00"` and `09:00:00` both work).
fn value_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Datetime(datetime) => Some(datetime.to_string()),
        _ => None,
    }
}

fn minute(at: crate::domain::Timestamp) -> String {
    at.to_datetime().format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The gaps of a schedule in words, at most three of them.
fn describe_gaps(gaps: &[Gap]) -> String {
    const SHOWN: usize = 3;
    let mut parts: Vec<String> = gaps
        .iter()
        .take(SHOWN)
        .map(|gap| match (gap.from, gap.until) {
            (None, None) => "at all times: it has neither members nor overrides".to_owned(),
            (None, Some(until)) => format!("before {}", minute(until)),
            (Some(from), None) => format!("from {} on", minute(from)),
            (Some(from), Some(until)) => format!("from {} to {}", minute(from), minute(until)),
        })
        .collect();
    if gaps.len() > SHOWN {
        parts.push(format!("and {} more", gaps.len() - SHOWN));
    }
    parts.join(", ")
}

impl Loader {
    pub(super) fn check_entry_name(&mut self, path: &[String], name: &str, what: &str) {
        if !is_entry_name(name) {
            self.problem(path, format!("{what} name is letters, digits, `-` and `_`"));
        } else if name.chars().count() > MAX_NAME_CHARS {
            self.problem(
                path,
                format!(
                    "{what} name is at most {MAX_NAME_CHARS} characters (it goes into dedup keys)"
                ),
            );
        }
    }

    pub(super) fn build_escalation_settings(
        &mut self,
        raw: Option<toml::Value>,
    ) -> EscalationSettings {
        let raw: RawEscalation = self.section("escalation", raw);
        if raw.failures_before_next_level == 0 {
            self.problem(
                &["escalation".to_owned(), "failures_before_next_level".to_owned()],
                "must be at least 1: the number of failed pages after which the next level is paged at once",
            );
        }
        if !(1..=1024).contains(&raw.max_in_flight) {
            self.problem(
                &["escalation".to_owned(), "max_in_flight".to_owned()],
                "must be between 1 and 1024: the number of pages sent at once",
            );
        }
        let page_lease = self.duration(
            &["escalation".to_owned(), "page_lease".to_owned()],
            &raw.page_lease,
            false,
        );
        let default_policy = raw.default_policy.trim();
        EscalationSettings {
            default_policy: (!default_policy.is_empty()).then(|| default_policy.to_owned()),
            failures_before_next_level: raw.failures_before_next_level.max(1),
            page_lease,
            max_in_flight: raw.max_in_flight.clamp(1, 1024),
        }
    }

    pub(super) fn build_schedules(&mut self, raw: Option<toml::Value>) -> Vec<Schedule> {
        let mut schedules = Vec::new();
        for (name, value) in self.entries("schedules", raw) {
            let path = vec!["schedules".to_owned(), name.clone()];
            self.check_entry_name(&path, &name, "a schedule");
            let Some(raw) = self.decode::<RawSchedule>(&path, value) else {
                continue;
            };
            let timezone = match raw.timezone.trim().parse::<Tz>() {
                Ok(zone) => zone,
                Err(_) => {
                    self.problem(
                        &join_path(&path, "timezone"),
                        format!(
                            "`{}` is not an IANA time zone; write it like Europe/Berlin, America/New_York or UTC",
                            raw.timezone
                        ),
                    );
                    Tz::UTC
                }
            };
            let rotation = self.build_rotation(&path, &raw, timezone);
            let mut overrides = Vec::new();
            for (index, value) in raw.overrides.into_iter().enumerate() {
                let path = join_path(&path, &format!("overrides.{}", index + 1));
                if let Some(window) = self.build_override(&path, value, timezone) {
                    overrides.push(window);
                }
            }
            schedules.push(Schedule {
                name,
                timezone,
                rotation,
                overrides,
            });
        }
        schedules
    }

    fn build_rotation(
        &mut self,
        path: &[String],
        raw: &RawSchedule,
        timezone: Tz,
    ) -> Option<Rotation> {
        let members = self.rotation_members(path, raw);
        if raw.members.is_empty() {
            self.refuse_rotation_keys_without_members(path, raw);
            return None;
        }
        let period = self.rotation_period(path, raw.period.as_deref());
        let handoff = self.rotation_handoff(path, raw.handoff.as_ref(), timezone);
        let start = self.rotation_start(path, raw.start.as_ref());
        Some(Rotation {
            members,
            period: period?,
            handoff: handoff?,
            start: start?,
        })
        .filter(|rotation| !rotation.members.is_empty())
    }

    fn rotation_members(&mut self, path: &[String], raw: &RawSchedule) -> Vec<u64> {
        let mut members = Vec::new();
        for (index, member) in raw.members.iter().enumerate() {
            match member.parse() {
                Ok(Some(id)) => members.push(id),
                Ok(None) => self.problem(
                    &join_path(path, "members"),
                    format!("member {} is empty; put a Discord user id", index + 1),
                ),
                Err(message) => self.problem(&join_path(path, "members"), message),
            }
        }
        members
    }

    /// `period`, `handoff` and `start` describe a rotation; without members there is none.
    fn refuse_rotation_keys_without_members(&mut self, path: &[String], raw: &RawSchedule) {
        let keys = [
            ("period", raw.period.is_some()),
            ("handoff", raw.handoff.is_some()),
            ("start", raw.start.is_some()),
        ];
        for (key, present) in keys {
            if present {
                self.problem(
                    &join_path(path, key),
                    "belongs to a rotation, but the schedule has no members; add members = [\"<Discord user id>\", ...] or remove it",
                );
            }
        }
    }

    fn rotation_period(&mut self, path: &[String], text: Option<&str>) -> Option<Period> {
        let Some(text) = text else {
            self.problem(
                path,
                "a rotation needs period = \"daily\", \"weekly\" or a duration such as \"3d\" or \"12h\"",
            );
            return None;
        };
        Period::parse(text)
            .map_err(|message| self.problem(&join_path(path, "period"), message))
            .ok()
    }

    fn rotation_handoff(
        &mut self,
        path: &[String],
        value: Option<&toml::Value>,
        timezone: Tz,
    ) -> Option<NaiveTime> {
        let Some(text) = value.map(value_text) else {
            self.problem(
                path,
                "a rotation needs handoff = \"HH:MM\", the local time of day when a turn begins",
            );
            return None;
        };
        let parsed = text.as_deref().and_then(|text| {
            NaiveTime::parse_from_str(text.trim(), "%H:%M")
                .or_else(|_| NaiveTime::parse_from_str(text.trim(), "%H:%M:%S"))
                .ok()
        });
        if parsed.is_none() {
            self.problem(
                &join_path(path, "handoff"),
                format!(
                    "`{}` is not a time of day; write it like \"09:00\" (24-hour, in the schedule's time zone {})",
                    text.unwrap_or_default(),
                    timezone.name()
                ),
            );
        }
        parsed
    }

    fn rotation_start(
        &mut self,
        path: &[String],
        value: Option<&toml::Value>,
    ) -> Option<NaiveDate> {
        let Some(text) = value.map(value_text) else {
            self.problem(
                path,
                "a rotation needs start = \"YYYY-MM-DD\", the date the first member's turn begins",
            );
            return None;
        };
        let parsed = text
            .as_deref()
            .and_then(|text| NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok());
        if parsed.is_none() {
            self.problem(
                &join_path(path, "start"),
                format!(
                    "`{}` is not a date; write it like \"2026-01-05\"",
                    text.unwrap_or_default()
                ),
            );
        }
        parsed
    }

    fn build_override(
        &mut self,
        path: &[String],
        value: toml::Value,
        timezone: Tz,
    ) -> Option<Override> {
        let raw = self.decode::<RawOverride>(path, value)?;
        let user = match raw.user.parse() {
            Ok(Some(id)) => Some(id),
            Ok(None) => {
                self.problem(
                    &join_path(path, "user"),
                    "is empty; put the Discord user id of who covers",
                );
                None
            }
            Err(message) => {
                self.problem(&join_path(path, "user"), message);
                None
            }
        };
        let mut instant = |key: &str, value: &toml::Value| {
            let text = value_text(value).unwrap_or_default();
            match parse_instant(&text, timezone) {
                Ok(at) => Some(at),
                Err(message) => {
                    self.problem(&join_path(path, key), message);
                    None
                }
            }
        };
        let start = instant("start", &raw.start);
        let end = instant("end", &raw.end);
        let (start, end) = (start?, end?);
        if end <= start {
            self.problem(
                &join_path(path, "end"),
                format!(
                    "must be after start ({}); an override covers [start, end)",
                    minute(start)
                ),
            );
            return None;
        }
        Some(Override {
            start,
            end,
            user: user?,
        })
    }

    /// The policies, and the names of those whose levels could not all be read (the checks
    /// across sections skip their targets: their problems are already reported).
    pub(super) fn build_policies(
        &mut self,
        raw: Option<toml::Value>,
    ) -> (Vec<Policy>, BTreeSet<String>) {
        let mut policies = Vec::new();
        let mut broken = BTreeSet::new();
        for (name, value) in self.entries("policies", raw) {
            let path = vec!["policies".to_owned(), name.clone()];
            self.check_entry_name(&path, &name, "a policy");
            let (policy, complete) = match self.decode::<RawPolicy>(&path, value) {
                Some(raw) => self.build_policy(&path, name, raw),
                None => (
                    Policy {
                        name,
                        levels: Vec::new(),
                        repeat: 0,
                        repeat_after: Duration::ZERO,
                        fallback: None,
                    },
                    false,
                ),
            };
            if !complete {
                broken.insert(policy.name.clone());
            }
            policies.push(policy);
        }
        (policies, broken)
    }

    /// One policy, and whether all its levels could be read.
    fn build_policy(
        &mut self,
        path: &[String],
        name: String,
        mut raw: RawPolicy,
    ) -> (Policy, bool) {
        if raw.levels.is_empty() {
            self.problem(
                path,
                format!("has no levels, so it pages nobody; add [[policies.{name}.levels]] with after and targets"),
            );
        }
        let mut complete = true;
        let mut levels: Vec<Level> = Vec::new();
        for (index, value) in std::mem::take(&mut raw.levels).into_iter().enumerate() {
            let level_path = join_path(path, &format!("levels.{}", index + 1));
            match self.build_level(&level_path, value, levels.last()) {
                Some((level, targets_read)) => {
                    complete &= targets_read;
                    levels.push(level);
                }
                None => complete = false,
            }
        }
        let repeat_after = self.policy_repeat(path, &raw, &levels);
        let fallback = raw.fallback.as_deref().and_then(|text| {
            text.parse::<Target>()
                .map_err(|error| {
                    self.problem(&join_path(path, "fallback"), error.to_string());
                })
                .ok()
        });
        let policy = Policy {
            name,
            levels,
            repeat: raw.repeat.min(MAX_REPEAT),
            repeat_after,
            fallback,
        };
        (policy, complete)
    }

    /// One level, and whether all its targets could be read; `None` when it could not be read.
    fn build_level(
        &mut self,
        path: &[String],
        value: toml::Value,
        previous: Option<&Level>,
    ) -> Option<(Level, bool)> {
        let raw = self.decode::<RawLevel>(path, value)?;
        let after = self.duration(&join_path(path, "after"), &raw.after, true);
        let mut targets = Vec::new();
        let mut targets_read = true;
        for text in &raw.targets {
            match text.parse::<Target>() {
                Ok(target) => targets.push(target),
                Err(error) => {
                    self.problem(&join_path(path, "targets"), error.to_string());
                    targets_read = false;
                }
            }
        }
        if raw.targets.is_empty() {
            self.problem(
                &join_path(path, "targets"),
                "pages nobody; name at least one target such as \"schedule:primary\"",
            );
        }
        if let Some(previous) = previous
            && after <= previous.after
        {
            let number = path
                .last()
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(1);
            self.problem(
                &join_path(path, "after"),
                format!(
                    "level {number} can never fire after level {}: `after` counts from the incident's opening, and {} is not later than level {}'s {}; make it later, or move its targets into level {}",
                    number - 1,
                    humantime::format_duration(after),
                    number - 1,
                    humantime::format_duration(previous.after),
                    number - 1,
                ),
            );
        }
        Some((Level { after, targets }, targets_read))
    }

    /// `repeat_after`, checked against `repeat` and the first level.
    fn policy_repeat(&mut self, path: &[String], raw: &RawPolicy, levels: &[Level]) -> Duration {
        if raw.repeat > MAX_REPEAT {
            self.problem(
                &join_path(path, "repeat"),
                format!("is at most {MAX_REPEAT}; past that, a fallback target reaches someone better than paging the same people again"),
            );
        }
        let repeat_after = match (&raw.repeat_after, raw.repeat) {
            (Some(text), _) => self.duration(&join_path(path, "repeat_after"), text, true),
            (None, 0) => Duration::ZERO,
            (None, _) => {
                self.problem(
                    &join_path(path, "repeat"),
                    "say when the next round starts with repeat_after, e.g. repeat_after = \"15m\" (the pause after the last level)",
                );
                Duration::ZERO
            }
        };
        if raw.repeat_after.is_some() && raw.repeat == 0 {
            self.warn(
                &join_path(path, "repeat_after"),
                "has no effect while repeat = 0",
            );
        }
        if raw.repeat > 0
            && raw.repeat_after.is_some()
            && levels
                .first()
                .is_some_and(|first| first.after.is_zero() && repeat_after.is_zero())
        {
            self.problem(
                &join_path(path, "repeat_after"),
                "is 0 and level 1 is due at 0, so each new round's level 1 would fire at the same moment as the last level and could never fire after it; make repeat_after longer than 0",
            );
        }
        repeat_after
    }

    /// The checks across sections, once everything is read.
    pub(super) fn check_escalation(&mut self, config: &Config, broken: &BTreeSet<String>) {
        for policy in &config.policies {
            if broken.contains(&policy.name) {
                continue;
            }
            let path = vec!["policies".to_owned(), policy.name.clone()];
            for (index, level) in policy.levels.iter().enumerate() {
                let targets_path = join_path(&path, &format!("levels.{}.targets", index + 1));
                for target in &level.targets {
                    if let Some(message) = unknown_target(config, target) {
                        self.problem(&targets_path, message);
                    }
                }
            }
            if let Some(fallback) = &policy.fallback
                && let Some(message) = unknown_target(config, fallback)
            {
                self.problem(&join_path(&path, "fallback"), message);
            }
        }
        let policy_names: Vec<&str> = config.policies.iter().map(|p| p.name.as_str()).collect();
        let check_policy_name = |loader: &mut Loader, path: Vec<String>, name: &str| {
            if !policy_names.contains(&name) {
                loader.problem(
                    &path,
                    format!(
                        "`{name}` is not a configured policy; {}",
                        one_of("policies", &policy_names)
                    ),
                );
            }
        };
        for severity in &config.severities {
            if let Some(name) = &severity.policy {
                check_policy_name(
                    self,
                    vec![
                        "severities".to_owned(),
                        severity.name.clone(),
                        "policy".to_owned(),
                    ],
                    name,
                );
            }
        }
        for service in &config.services {
            if let Some(name) = &service.policy {
                check_policy_name(
                    self,
                    vec![
                        "services".to_owned(),
                        service.name.clone(),
                        "policy".to_owned(),
                    ],
                    name,
                );
            }
        }
        if let Some(name) = &config.escalation.default_policy {
            check_policy_name(
                self,
                vec!["escalation".to_owned(), "default_policy".to_owned()],
                name,
            );
        }
        self.check_gaps(config);
        self.check_ack_deadlines(config);
    }

    /// A schedule with gaps is an error when a policy pages it without a fallback (a page
    /// could reach nobody), and a warning otherwise.
    fn check_gaps(&mut self, config: &Config) {
        for schedule in &config.schedules {
            let gaps = schedule.gaps();
            if gaps.is_empty() {
                continue;
            }
            let target = Target::Schedule(schedule.name.clone());
            let without_fallback: Vec<&str> = config
                .policies
                .iter()
                .filter(|policy| {
                    policy
                        .levels
                        .iter()
                        .any(|level| level.targets.contains(&target))
                        && policy
                            .fallback
                            .as_ref()
                            .is_none_or(|fallback| *fallback == target)
                })
                .map(|policy| policy.name.as_str())
                .collect();
            let path = vec!["schedules".to_owned(), schedule.name.clone()];
            let gaps = describe_gaps(&gaps);
            if without_fallback.is_empty() {
                self.warn(
                    &path,
                    format!("has gaps: nobody is on call {gaps}; pages to it then go to the policy's fallback"),
                );
            } else {
                self.problem(
                    &path,
                    format!(
                        "has gaps: nobody is on call {gaps}; policy {} pages it with no other fallback, so a page could reach nobody; add members for a rotation, or give the policy a fallback",
                        without_fallback.join(", ")
                    ),
                );
            }
        }
    }

    /// Warns when a severity's policy pages nobody before the severity's `ack_within` passes.
    fn check_ack_deadlines(&mut self, config: &Config) {
        for severity in &config.severities {
            let Some(policy) = severity
                .policy
                .as_deref()
                .or(config.escalation.default_policy.as_deref())
                .and_then(|name| config.policy(name))
            else {
                continue;
            };
            if let Some(first) = policy.levels.first()
                && first.after >= severity.ack_within
            {
                self.warn(
                    &["severities".to_owned(), severity.name.clone(), "ack_within".to_owned()],
                    format!(
                        "its policy {} first pages {} after opening, when ack_within ({}) has already passed; nobody is asked in time",
                        policy.name,
                        humantime::format_duration(first.after),
                        humantime::format_duration(severity.ack_within)
                    ),
                );
            }
        }
    }
}

fn one_of(section: &str, names: &[&str]) -> String {
    if names.is_empty() {
        format!("there are no [{section}] yet")
    } else {
        format!("use one of {}", names.join(", "))
    }
}

/// Why `target` names nothing in `config`, if it does.
fn unknown_target(config: &Config, target: &Target) -> Option<String> {
    match target {
        Target::User(_) => None,
        Target::Role(role) => (!config.roles.contains_key(role)).then(|| {
            let roles: Vec<&str> = config.roles.keys().map(String::as_str).collect();
            format!(
                "{target} names no bot role in [roles]; {}",
                one_of("roles", &roles)
            )
        }),
        Target::Schedule(name) => config.schedule(name).is_none().then(|| {
            let names: Vec<&str> = config.schedules.iter().map(|s| s.name.as_str()).collect();
            format!(
                "{target} names no schedule; {}",
                one_of("schedules", &names)
            )
        }),
        Target::Notifier(name) => (!config.notifiers.iter().any(|n| n.name == *name)).then(|| {
            let names: Vec<&str> = config.notifiers.iter().map(|n| n.name.as_str()).collect();
            format!(
                "{target} names no notifier; {}",
                one_of("notifiers", &names)
            )
        }),
    }
}
