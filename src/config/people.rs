//! The `[people]` section, keyed by Discord user id (`[people."123456789012345678"]`, with
//! `name` and `email`), read into `notify::people::People`; and the check across sections that
//! names everyone an email notifier could page who has no address.

use serde::Deserialize;

use super::Config;
use super::load::{Loader, Snowflake, join_path};
use crate::escalation::Target;
use crate::notify::email::EmailRecipient;
use crate::notify::people::{People, Person};

/// The longest name accepted: it shows in email subjects' neighbourhood and on the
/// acknowledgement page, one line.
const MAX_PERSON_NAME_CHARS: usize = 100;

#[derive(Deserialize)]
struct RawPerson {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

impl Loader {
    pub(super) fn build_people(&mut self, raw: Option<toml::Value>) -> People {
        let mut people = Vec::new();
        for (key, value) in self.entries("people", raw) {
            let path = vec!["people".to_owned(), key.clone()];
            let user_id = match Snowflake::Text(key.clone()).parse() {
                Ok(Some(id)) => id,
                Ok(None) | Err(_) => {
                    self.problem(
                        &path,
                        format!(
                            "`{key}` is not a Discord user id; write [people.\"<id>\"] with the person's id (Developer Mode on, right-click → Copy User ID)"
                        ),
                    );
                    continue;
                }
            };
            let Some(raw) = self.decode::<RawPerson>(&path, value) else {
                continue;
            };
            let name = raw
                .name
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty());
            if let Some(name) = &name
                && (name.chars().count() > MAX_PERSON_NAME_CHARS || name.contains(['\n', '\r']))
            {
                self.problem(
                    &join_path(&path, "name"),
                    format!("is one line of at most {MAX_PERSON_NAME_CHARS} characters"),
                );
            }
            let email = raw
                .email
                .map(|email| email.trim().to_owned())
                .filter(|email| !email.is_empty());
            if let Some(email) = &email
                && let Err(error) = email.parse::<lettre::message::Mailbox>()
            {
                self.problem(
                    &join_path(&path, "email"),
                    format!("`{email}` is not an email address ({error}); write it like alice@example.com"),
                );
            }
            people.push(Person {
                user_id,
                name,
                email,
            });
        }
        People::new(people)
    }

    /// Warns about everyone an email notifier can page who has no `[people]` address: they
    /// would get no email, and the page to them fails.
    pub(super) fn check_email_reach(&mut self, config: &Config) {
        for notifier in &config.notifiers {
            let Some(email) = &notifier.email else {
                continue;
            };
            let target = Target::Notifier(notifier.name.clone());
            let policies: Vec<&str> = config
                .policies
                .iter()
                .filter(|policy| {
                    policy.fallback.as_ref() == Some(&target)
                        || policy
                            .levels
                            .iter()
                            .any(|level| level.targets.contains(&target))
                })
                .map(|policy| policy.name.as_str())
                .collect();
            let through = if policies.is_empty() {
                "whom /page can reach through this notifier".to_owned()
            } else {
                format!(
                    "whom polic{} {} can page by email through this notifier",
                    if policies.len() == 1 { "y" } else { "ies" },
                    policies.join(", ")
                )
            };
            let path = vec![
                "notifiers".to_owned(),
                notifier.name.clone(),
                "to".to_owned(),
            ];
            for recipient in &email.to {
                let people: Vec<(u64, String)> = match recipient {
                    EmailRecipient::Address(_) => Vec::new(),
                    EmailRecipient::Person(user_id) => vec![(*user_id, String::new())],
                    EmailRecipient::Schedule(name) => config
                        .schedule(name)
                        .map(|schedule| {
                            let members = schedule
                                .rotation
                                .iter()
                                .flat_map(|rotation| rotation.members.iter().copied());
                            let overrides = schedule.overrides.iter().map(|cover| cover.user);
                            let mut ids: Vec<u64> = members.chain(overrides).collect();
                            ids.sort_unstable();
                            ids.dedup();
                            ids.into_iter()
                                .map(|id| (id, format!(", on call in schedule {name},")))
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                for (user_id, context) in people {
                    if config.people.email(user_id).is_none() {
                        self.warn(
                            &path,
                            format!(
                                "{}{context} {through}, has no address in [people]; add [people.\"{user_id}\"] email = \"...\", or their pages by email fail",
                                config.people.display_name(user_id)
                            ),
                        );
                    }
                }
            }
        }
    }
}
