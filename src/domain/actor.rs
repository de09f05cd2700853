//! Who did something: a Discord user, a CLI operator, an API token, an alert source or warroom.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The author of a timeline event or a change.
///
/// `id` is a stable, typed key (`discord:<user id>`, `cli:<login>`, `api:<token name>`,
/// `alert:<source>`, `schedule:<name>`, `system`); `name` is the display name at the time, kept for people
/// reading the timeline. Permission checks never look at `name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Actor {
    pub id: String,
    pub name: String,
}

impl Actor {
    pub fn discord(user_id: u64, display_name: impl Into<String>) -> Actor {
        Actor {
            id: format!("discord:{user_id}"),
            name: display_name.into(),
        }
    }

    pub fn cli(login: &str) -> Actor {
        Actor {
            id: format!("cli:{login}"),
            name: login.to_owned(),
        }
    }

    pub fn api(token_name: &str) -> Actor {
        Actor {
            id: format!("api:{token_name}"),
            name: token_name.to_owned(),
        }
    }

    pub fn alert(source: &str) -> Actor {
        Actor {
            id: format!("alert:{source}"),
            name: source.to_owned(),
        }
    }

    /// A scheduled check or drill (`[checks.NAME]`, `[drills.NAME]`) acting on its own.
    pub fn schedule(name: &str) -> Actor {
        Actor {
            id: format!("schedule:{name}"),
            name: format!("schedule {name}"),
        }
    }

    /// The check or drill name, when this actor is a schedule.
    pub fn schedule_name(&self) -> Option<&str> {
        self.id.strip_prefix("schedule:")
    }

    pub fn system() -> Actor {
        Actor {
            id: "system".to_owned(),
            name: "warroom".to_owned(),
        }
    }

    /// The Discord user id, when this actor is a Discord user.
    pub fn discord_user_id(&self) -> Option<u64> {
        self.id.strip_prefix("discord:")?.parse().ok()
    }

    pub fn is_system(&self) -> bool {
        self.id == "system"
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() || self.name == self.id {
            f.write_str(&self.id)
        } else {
            write!(f, "{} ({})", self.name, self.id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discord_ids_round_trip_and_names_never_count() {
        let alice = Actor::discord(4242, "Alice");
        assert_eq!(alice.discord_user_id(), Some(4242));
        let impostor = Actor {
            id: "cli:4242".into(),
            name: "discord:4242".into(),
        };
        assert_eq!(impostor.discord_user_id(), None);
    }
}
