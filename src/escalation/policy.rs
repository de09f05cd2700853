//! Escalation policies: ordered levels of targets, repeats and a fallback; the pure planner
//! that turns a policy and an opening time into dated steps; resolution of targets to
//! recipients; `dedup_key`s; and the dry run behind `warroom policy simulate`.
//!
//! # Timing, precisely
//!
//! Each level's `after` counts from the moment the incident **opened**, not from the
//! previous level: `after = "30m"` means half an hour after opening, whatever happened
//! before. So levels are listed with strictly increasing `after` (config refuses any other
//! order: such a level could never fire after the one before it), and each step's due time
//! is computed on its own from the opening time, which is what a restarted engine needs.
//!
//! A policy runs `1 + repeat` rounds. A round lasts `R = last level's after + repeat_after`,
//! and level `l` of round `r` (rounds count from 0) is due at `opened + r·R + after(l)`.
//! With levels at 0m, 15m and 30m, `repeat = 1` and `repeat_after = "15m"`, the steps fall at
//! 0m, 15m, 30m, then 45m, 60m, 75m. An acknowledgement stops the steps not yet due;
//! resolution stops everything (the engine's part).
//!
//! The `fallback` target is paged in place of a target that reaches nobody at its due time
//! (a schedule in a gap, a bot role no Discord role grants) and, by the engine, when the
//! pages of the last step have failed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::domain::{IncidentId, Timestamp};
use crate::escalation::schedule::Schedule;
use crate::notify::NotifierConfig;

pub use crate::domain::{Recipient, Target, TargetParseError};

/// One level: who is paged, and when (counted from the incident's opening).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Level {
    pub after: Duration,
    pub targets: Vec<Target>,
}

/// A named escalation policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    /// Strictly increasing `after`; never empty (config guarantees both).
    pub levels: Vec<Level>,
    /// How many more rounds run after the first, when nobody acknowledges.
    pub repeat: u32,
    /// The pause between a round's last level and the next round's start.
    pub repeat_after: Duration,
    /// Paged in place of a target that reaches nobody (see the module docs).
    pub fallback: Option<Target>,
}

/// The most rounds a policy may repeat: the engine writes every step of a policy when an
/// incident opens, and paging the same people more than twenty times means the problem is
/// elsewhere (nobody watches that channel), which a fallback target solves better.
pub const MAX_REPEAT: u32 = 20;

/// One dated step of a plan: these targets are paged at `due_at` unless acknowledged first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// 1-based, as levels are numbered in `warroom policy simulate` and in dedup keys.
    pub level: u32,
    /// 0-based: round 0 is the first run through the levels.
    pub round: u32,
    /// The time from the incident's opening to this step (`after_seconds` in JSON).
    #[serde(rename = "after_seconds", serialize_with = "serialize_seconds")]
    pub after: Duration,
    pub due_at: Timestamp,
    pub targets: Vec<Target>,
}

fn serialize_seconds<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_secs())
}

impl Policy {
    /// How long one round lasts: the last level's `after` plus `repeat_after`.
    pub fn round_length(&self) -> Duration {
        self.levels
            .last()
            .map_or(Duration::ZERO, |level| level.after)
            + self.repeat_after
    }

    /// The time from opening to `level` (1-based) of `round`, or `None` when the policy has
    /// no such step.
    pub fn step_after(&self, level: u32, round: u32) -> Option<Duration> {
        if round > self.repeat || level == 0 {
            return None;
        }
        let level = self.levels.get(usize::try_from(level - 1).ok()?)?;
        Some(self.round_length() * round + level.after)
    }

    /// The step that follows `(level, round)`, or `None` after the last one. The engine uses it
    /// to move on at once when a step's pages failed.
    pub fn next_step(&self, level: u32, round: u32) -> Option<(u32, u32)> {
        let levels = u32::try_from(self.levels.len()).unwrap_or(u32::MAX);
        if level < levels {
            Some((level + 1, round))
        } else if round < self.repeat {
            Some((1, round + 1))
        } else {
            None
        }
    }

    /// The steps due by `now` (due time at or before it) for an incident opened at
    /// `opened_at`, in due order: what an engine that woke at `now` owes.
    pub fn due_by(&self, opened_at: Timestamp, now: Timestamp) -> Vec<Step> {
        self.plan(opened_at)
            .into_iter()
            .filter(|step| step.due_at <= now)
            .collect()
    }

    /// Every step, in due order, for an incident opened at `opened_at`. Pure: the same policy
    /// and opening time always give the same plan.
    pub fn plan(&self, opened_at: Timestamp) -> Vec<Step> {
        let mut steps = Vec::new();
        for round in 0..=self.repeat {
            for (index, level) in self.levels.iter().enumerate() {
                let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
                let after = self.round_length() * round + level.after;
                steps.push(Step {
                    level: number,
                    round,
                    after,
                    due_at: opened_at.plus(after),
                    targets: level.targets.clone(),
                });
            }
        }
        steps
    }
}

/// The `dedup_key` of the page of `target` at `level` (1-based) of `round` (0-based) for
/// `incident`, e.g. `warroom-INC-12-L1-R0-user:123` or `warroom-INC-12-L2-R1-schedule:primary`.
///
/// It is unique per (incident, level, round, target) and a pure function of them, so the
/// engine computes the same key after a restart and every delivery of one page carries it
/// (PagerDuty's `dedup_key`, Opsgenie's `alias`, the webhook body). The target is the one
/// written in the policy (or the fallback that replaced it), never the person it resolved
/// to, so a schedule handing off between two attempts does not make a second page.
pub fn dedup_key(incident: IncidentId, level: u32, round: u32, target: &Target) -> String {
    format!("warroom-{incident}-L{level}-R{round}-{target}")
}

/// A target that reaches nobody at a given time.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Unreachable {
    pub reason: String,
}

/// What resolution needs from the configuration, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct Directory<'a> {
    pub schedules: &'a [Schedule],
    /// Bot role → the Discord role ids that grant it.
    pub roles: &'a BTreeMap<String, Vec<u64>>,
    pub notifiers: &'a [NotifierConfig],
}

impl<'a> Directory<'a> {
    pub fn schedule(&self, name: &str) -> Option<&'a Schedule> {
        self.schedules.iter().find(|schedule| schedule.name == name)
    }

    pub fn notifier(&self, name: &str) -> Option<&'a NotifierConfig> {
        self.notifiers.iter().find(|notifier| notifier.name == name)
    }

    /// The recipients of `target` at `at`: the user on call for a schedule, the Discord roles
    /// of a bot role, the notifier itself.
    pub fn resolve(&self, target: &Target, at: Timestamp) -> Result<Recipient, Unreachable> {
        match target {
            Target::User(user_id) => Ok(Recipient::DiscordUser {
                user_id: *user_id,
                schedule: None,
                via_override: false,
            }),
            Target::Role(role) => match self.roles.get(role) {
                Some(ids) if !ids.is_empty() => Ok(Recipient::DiscordRole {
                    role: role.clone(),
                    role_ids: ids.clone(),
                }),
                Some(_) => Err(Unreachable {
                    reason: format!(
                        "no Discord role grants the bot role {role} yet, so a mention reaches nobody; map one in [roles]"
                    ),
                }),
                None => Err(Unreachable {
                    reason: format!("there is no bot role {role} in [roles]"),
                }),
            },
            Target::Schedule(name) => {
                let schedule = self.schedule(name).ok_or_else(|| Unreachable {
                    reason: format!("there is no schedule {name} in [schedules]"),
                })?;
                let shift = schedule.shift_at(at);
                match shift.user {
                    Some(user_id) => Ok(Recipient::DiscordUser {
                        user_id,
                        schedule: Some(name.clone()),
                        via_override: shift.via_override(),
                    }),
                    None => Err(Unreachable {
                        reason: format!(
                            "nobody is on call in schedule {name} at {}: a gap in its overrides",
                            at.to_datetime().format("%Y-%m-%d %H:%M UTC")
                        ),
                    }),
                }
            }
            Target::Notifier(name) => {
                let notifier = self.notifier(name).ok_or_else(|| Unreachable {
                    reason: format!("there is no notifier {name} in [notifiers]"),
                })?;
                Ok(Recipient::Notifier {
                    name: name.clone(),
                    kind: notifier.kind,
                })
            }
        }
    }

    /// Resolves `target` of `policy` at `at`, paging the policy's fallback in its place when
    /// it reaches nobody.
    pub fn resolve_page(&self, policy: &Policy, target: &Target, at: Timestamp) -> PlannedPage {
        let reach = match self.resolve(target, at) {
            Ok(recipient) => Reach::Reached { recipient },
            Err(unreachable) => match &policy.fallback {
                Some(fallback) => match self.resolve(fallback, at) {
                    Ok(recipient) => Reach::Fallback {
                        reason: unreachable.reason,
                        fallback: fallback.clone(),
                        recipient,
                    },
                    Err(also) => Reach::Nobody {
                        reason: format!(
                            "{}; the fallback {fallback} reaches nobody either: {}",
                            unreachable.reason, also.reason
                        ),
                    },
                },
                None => Reach::Nobody {
                    reason: format!("{}, and the policy has no fallback", unreachable.reason),
                },
            },
        };
        PlannedPage {
            target: target.clone(),
            reach,
        }
    }
}

/// One target of a step, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedPage {
    /// The target as written in the policy.
    pub target: Target,
    #[serde(flatten)]
    pub reach: Reach,
}

impl PlannedPage {
    /// The target whose page this is: the fallback when it stood in, else the target.
    pub fn paged_target(&self) -> &Target {
        match &self.reach {
            Reach::Fallback { fallback, .. } => fallback,
            Reach::Reached { .. } | Reach::Nobody { .. } => &self.target,
        }
    }

    /// This page's dedup key for `incident` at `(level, round)`; see [`dedup_key`].
    pub fn dedup_key(&self, incident: IncidentId, level: u32, round: u32) -> String {
        dedup_key(incident, level, round, self.paged_target())
    }
}

/// How a target was resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reach", rename_all = "snake_case")]
pub enum Reach {
    Reached {
        recipient: Recipient,
    },
    /// The target reached nobody, so the policy's fallback is paged instead.
    Fallback {
        reason: String,
        fallback: Target,
        recipient: Recipient,
    },
    /// Neither the target nor a fallback reaches anyone: the engine records a failed page.
    Nobody {
        reason: String,
    },
}

/// What `warroom policy simulate` shows: every step with whom it would page, when and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Simulation {
    pub policy: String,
    /// The opening time the simulation assumed.
    pub opened_at: Timestamp,
    pub steps: Vec<SimulatedStep>,
    pub fallback: Option<Target>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimulatedStep {
    #[serde(flatten)]
    pub step: Step,
    pub pages: Vec<PlannedPage>,
}

/// Plans `policy` for an incident opened at `opened_at` and resolves every target at its
/// step's due time. Pages nobody: it only reads the configuration.
pub fn simulate(directory: &Directory<'_>, policy: &Policy, opened_at: Timestamp) -> Simulation {
    let steps = policy
        .plan(opened_at)
        .into_iter()
        .map(|step| {
            let pages = step
                .targets
                .iter()
                .map(|target| directory.resolve_page(policy, target, step.due_at))
                .collect();
            SimulatedStep { step, pages }
        })
        .collect();
    Simulation {
        policy: policy.name.clone(),
        opened_at,
        steps,
        fallback: policy.fallback.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_and_refuse_what_they_cannot_read() {
        for text in [
            "user:123",
            "role:dba",
            "schedule:primary",
            "notifier:pagerduty",
        ] {
            assert_eq!(text.parse::<Target>().unwrap().to_string(), text);
        }
        assert_eq!(
            "pager:x".parse::<Target>(),
            Err(TargetParseError::UnknownKind("pager:x".into()))
        );
        assert_eq!(
            "user:alice".parse::<Target>(),
            Err(TargetParseError::BadUserId("alice".into()))
        );
        assert_eq!(
            "schedule:".parse::<Target>(),
            Err(TargetParseError::EmptyName("schedule:".into()))
        );
        assert!("primary".parse::<Target>().is_err());
    }

    #[test]
    fn dedup_keys_name_incident_level_round_and_target() {
        assert_eq!(
            dedup_key(IncidentId(12), 1, 0, &Target::User(123)),
            "warroom-INC-12-L1-R0-user:123"
        );
        assert_eq!(
            dedup_key(IncidentId(7), 3, 2, &Target::Schedule("primary".into())),
            "warroom-INC-7-L3-R2-schedule:primary"
        );
    }
}
