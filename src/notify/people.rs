//! The `[people]` directory: what warroom knows of a person beyond their Discord id — a name
//! to show where Discord cannot (emails, the one-click acknowledgement page, calendar feeds)
//! and the address the email notifier reaches them at. Keyed by Discord user id, like every
//! permission and schedule, never by name.

use std::collections::BTreeMap;

/// One `[people."<Discord user id>"]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub user_id: u64,
    /// How to call them where Discord's own display name is not at hand.
    pub name: Option<String>,
    /// Where the email notifier writes to them (`Name <address>` or a bare address).
    pub email: Option<String>,
}

/// Everyone of `[people]`, by Discord user id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct People {
    by_id: BTreeMap<u64, Person>,
}

impl People {
    pub fn new(people: impl IntoIterator<Item = Person>) -> People {
        People {
            by_id: people
                .into_iter()
                .map(|person| (person.user_id, person))
                .collect(),
        }
    }

    pub fn get(&self, user_id: u64) -> Option<&Person> {
        self.by_id.get(&user_id)
    }

    /// The address of `user_id`, if `[people]` has one.
    pub fn email(&self, user_id: u64) -> Option<&str> {
        self.get(user_id)?.email.as_deref()
    }

    /// Their name from `[people]`, else `Discord user <id>`.
    pub fn display_name(&self, user_id: u64) -> String {
        self.get(user_id)
            .and_then(|person| person.name.clone())
            .unwrap_or_else(|| format!("Discord user {user_id}"))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Person> {
        self.by_id.values()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}
