//! Signed links for people outside Discord: the one-click acknowledgement link a page by
//! email, webhook or Slack carries, and the calendar feeds' tokens. Both are HMAC-SHA256 under
//! one secret (`[http] ack_secret_env`), so they need no table to be checked and cannot be
//! made by anyone without it; `[http] public_url` is what the links are built on.
//!
//! # Acknowledgement tokens
//!
//! `1.<incident>.<level>.<round>.<paged>.<expires>.<mac>`: the incident number, the level and
//! round of the page, who was paged (`u<Discord id>`, `e<hex of an email address>` or
//! `n<notifier name>`), the unix second after which it is refused, and the lowercase hex
//! HMAC-SHA256 of `warroom.ack.v1` and everything before the last dot. Only ASCII letters,
//! digits, `-`, `_` and dots (URL-unreserved), so it sits in a URL path unescaped. It works
//! once: the acknowledgement it makes carries [`once_key`] as its timeline event key, which
//! the database keeps unique.
//!
//! # Feed tokens
//!
//! The first 128 bits (hex) of the HMAC of `warroom.feed.v1`, the feed's kind and its name: one
//! per schedule and per person, read-only, and printed by `warroom feed`.

use std::fmt;
use std::time::Duration;

use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};

use super::PageMessage;
use super::people::People;
use crate::domain::{Actor, IncidentId, Timestamp};

/// How long an acknowledgement link works unless configured: a page is about now, and a day
/// covers anyone who reads it late (asleep, travelling) without leaving old mail a way in for
/// long.
pub const DEFAULT_ACK_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest `ack_ttl` accepted: a week-old page is history, not a call to act.
pub const MAX_ACK_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// The shortest secret accepted: as for API tokens, 32 characters of a random generator.
pub const MIN_SECRET_CHARS: usize = 32;

/// The token format's version, its first field.
const VERSION: &str = "1";
/// What acknowledgement MACs are computed over first, so no other use of the secret (a feed
/// token) can ever pass for one.
const ACK_CONTEXT: &[u8] = b"warroom.ack.v1\n";
const FEED_CONTEXT: &[u8] = b"warroom.feed.v1\n";
/// Hex characters of a feed token: 128 bits, beyond guessing, short enough for a calendar URL.
const FEED_TOKEN_HEX: usize = 32;
/// Hex characters of the MAC that make a link's once-only key: 128 bits, unique per link.
const ONCE_KEY_HEX: usize = 32;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Who an acknowledgement link names: whom the page reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Paged {
    /// A person of `[people]` (or a schedule's member), by Discord user id.
    Person(u64),
    /// An address of an email notifier's `to` list, not tied to a Discord user.
    Address(String),
    /// Whoever reads a notifier's messages (a webhook receiver, a Slack channel).
    Notifier(String),
}

impl Paged {
    fn encode(&self) -> String {
        match self {
            Paged::Person(user_id) => format!("u{user_id}"),
            Paged::Address(address) => format!("e{}", hex::encode(address.as_bytes())),
            Paged::Notifier(name) => format!("n{name}"),
        }
    }

    fn decode(text: &str) -> Option<Paged> {
        let (kind, rest) = text.split_at_checked(1)?;
        match kind {
            "u" => rest.parse().ok().filter(|id| *id > 0).map(Paged::Person),
            "e" => String::from_utf8(hex::decode(rest).ok()?)
                .ok()
                .map(Paged::Address),
            "n" if !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                Some(Paged::Notifier(rest.to_owned()))
            }
            _ => None,
        }
    }

    /// Who acts when this link acknowledges: the paged Discord user as themselves (so the
    /// timeline names them as if they had pressed Acknowledge in Discord), an address as
    /// `email:<address>`, a notifier's readers as `notifier:<name>`.
    pub fn actor(&self, people: &People) -> Actor {
        match self {
            Paged::Person(user_id) => Actor::discord(*user_id, people.display_name(*user_id)),
            Paged::Address(address) => Actor {
                id: format!("email:{address}"),
                name: address.clone(),
            },
            Paged::Notifier(name) => Actor {
                id: format!("notifier:{name}"),
                name: format!("{name} (one-click link)"),
            },
        }
    }

    /// For people: `Alice`, `ops@example.com`, `whoever reads notifier ops-webhook`.
    pub fn describe(&self, people: &People) -> String {
        match self {
            Paged::Person(user_id) => people.display_name(*user_id),
            Paged::Address(address) => address.clone(),
            Paged::Notifier(name) => format!("whoever reads notifier {name}"),
        }
    }
}

/// What an acknowledgement link says, once its MAC checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckClaims {
    pub incident: IncidentId,
    pub level: u32,
    pub round: u32,
    pub paged: Paged,
    /// Refused after this instant.
    pub expires: Timestamp,
}

/// Why a link was refused. None of them says anything about the secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error(
        "this is not a warroom acknowledgement link: it is cut short or mangled; open the link from the page itself, whole"
    )]
    Malformed,
    #[error(
        "this link was not made by this warroom, or was changed after it was sent; nothing was acknowledged"
    )]
    Forged,
    #[error(
        "this link expired at {at}; nothing was acknowledged. Acknowledge in Discord or with `warroom incident ack`"
    )]
    Expired { at: Timestamp },
}

/// The configured link maker: where links point and the secret that signs them.
#[derive(Clone)]
pub struct Links {
    /// `[http] public_url`, without a trailing slash.
    public_url: String,
    secret: SecretString,
    ack_ttl: Duration,
}

impl fmt::Debug for Links {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Links")
            .field("public_url", &self.public_url)
            .field("ack_ttl", &self.ack_ttl)
            .finish_non_exhaustive()
    }
}

/// A calendar feed a token opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Feed {
    Schedule(String),
    Person(u64),
}

impl Feed {
    fn context(&self) -> String {
        match self {
            Feed::Schedule(name) => format!("schedule\n{name}"),
            Feed::Person(user_id) => format!("person\n{user_id}"),
        }
    }

    /// The feed's path under the public URL.
    pub fn path(&self) -> String {
        match self {
            Feed::Schedule(name) => format!("/v1/schedules/{name}.ics"),
            Feed::Person(user_id) => format!("/v1/people/{user_id}.ics"),
        }
    }
}

impl Links {
    pub fn new(public_url: &str, secret: SecretString, ack_ttl: Duration) -> Links {
        Links {
            public_url: public_url.trim().trim_end_matches('/').to_owned(),
            secret,
            ack_ttl,
        }
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub fn ack_ttl(&self) -> Duration {
        self.ack_ttl
    }

    fn mac(&self, context: &[u8], text: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(context);
        mac.update(text.as_bytes());
        mac
    }

    /// The claims of a link for `page`, naming `paged`, made at `now`.
    pub fn claims_for(&self, page: &PageMessage, paged: Paged, now: Timestamp) -> AckClaims {
        AckClaims {
            incident: page.incident_id,
            level: page.level,
            round: page.round,
            paged,
            expires: now.plus(self.ack_ttl),
        }
    }

    /// The signed token of `claims`.
    pub fn ack_token(&self, claims: &AckClaims) -> String {
        let payload = format!(
            "{VERSION}.{}.{}.{}.{}.{}",
            claims.incident.0,
            claims.level,
            claims.round,
            claims.paged.encode(),
            claims.expires.as_unix_seconds()
        );
        let mac = hex::encode(self.mac(ACK_CONTEXT, &payload).finalize().into_bytes());
        format!("{payload}.{mac}")
    }

    /// `{public_url}/ack/{token}`.
    pub fn ack_url(&self, claims: &AckClaims) -> String {
        format!("{}/ack/{}", self.public_url, self.ack_token(claims))
    }

    /// The link a page to `paged` carries, made at `now`.
    pub fn ack_url_for(&self, page: &PageMessage, paged: Paged, now: Timestamp) -> String {
        self.ack_url(&self.claims_for(page, paged, now))
    }

    /// Checks `token`'s MAC (in constant time) and then its expiry against `now`.
    pub fn verify_ack(&self, token: &str, now: Timestamp) -> Result<AckClaims, LinkError> {
        let (payload, mac) = token.rsplit_once('.').ok_or(LinkError::Malformed)?;
        let mac = hex::decode(mac).map_err(|_| LinkError::Malformed)?;
        self.mac(ACK_CONTEXT, payload)
            .verify_slice(&mac)
            .map_err(|_| LinkError::Forged)?;
        // Signed by this warroom: what follows can only fail for a token of another version.
        let fields: Vec<&str> = payload.split('.').collect();
        let [version, incident, level, round, paged, expires] = fields[..] else {
            return Err(LinkError::Malformed);
        };
        if version != VERSION {
            return Err(LinkError::Malformed);
        }
        let claims = AckClaims {
            incident: IncidentId(incident.parse().map_err(|_| LinkError::Malformed)?),
            level: level.parse().map_err(|_| LinkError::Malformed)?,
            round: round.parse().map_err(|_| LinkError::Malformed)?,
            paged: Paged::decode(paged).ok_or(LinkError::Malformed)?,
            expires: Timestamp::from_millis(
                expires
                    .parse::<i64>()
                    .map_err(|_| LinkError::Malformed)?
                    .saturating_mul(1000),
            ),
        };
        if now > claims.expires {
            return Err(LinkError::Expired { at: claims.expires });
        }
        Ok(claims)
    }

    /// The read-only token of `feed`.
    pub fn feed_token(&self, feed: &Feed) -> String {
        let mac = self
            .mac(FEED_CONTEXT, &feed.context())
            .finalize()
            .into_bytes();
        let mut token = hex::encode(mac);
        token.truncate(FEED_TOKEN_HEX);
        token
    }

    /// `{public_url}{feed path}?token=...`: what a calendar subscribes to.
    pub fn feed_url(&self, feed: &Feed) -> String {
        format!(
            "{}{}?token={}",
            self.public_url,
            feed.path(),
            self.feed_token(feed)
        )
    }

    /// Whether `presented` is `feed`'s token, compared in constant time.
    pub fn check_feed_token(&self, feed: &Feed, presented: &str) -> bool {
        let expected = self.feed_token(feed);
        let presented = presented.trim().as_bytes();
        expected.len() == presented.len()
            && expected
                .as_bytes()
                .iter()
                .zip(presented)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// The timeline event key of the acknowledgement `token` makes: unique per link, so the
/// database refuses a second use.
pub fn once_key(token: &str) -> String {
    let mac = token.rsplit_once('.').map_or(token, |(_, mac)| mac);
    format!("ack-link:{}", &mac[..mac.len().min(ONCE_KEY_HEX)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> Links {
        Links::new(
            "https://warroom.example/",
            SecretString::from("0123456789abcdef0123456789abcdef".to_owned()),
            DEFAULT_ACK_TTL,
        )
    }

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-03-02T10:00:00Z").unwrap()
    }

    fn claims(paged: Paged) -> AckClaims {
        AckClaims {
            incident: IncidentId(12),
            level: 2,
            round: 1,
            paged,
            expires: now().plus(DEFAULT_ACK_TTL),
        }
    }

    #[test]
    fn a_token_round_trips_for_every_kind_of_paged_party() {
        let links = links();
        for paged in [
            Paged::Person(4242),
            Paged::Address("Ops Team <ops@example.com>".to_owned()),
            Paged::Notifier("ops-webhook".to_owned()),
        ] {
            let claims = claims(paged);
            let url = links.ack_url(&claims);
            let token = url.strip_prefix("https://warroom.example/ack/").unwrap();
            assert!(
                token
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            );
            assert_eq!(links.verify_ack(token, now()), Ok(claims));
        }
    }

    #[test]
    fn a_changed_token_or_another_secret_is_forged_and_a_late_one_expired() {
        let links = links();
        let token = links.ack_token(&claims(Paged::Person(4242)));
        let tampered = token.replacen("1.12.", "1.13.", 1);
        assert_eq!(links.verify_ack(&tampered, now()), Err(LinkError::Forged));
        let other = Links::new(
            "https://warroom.example",
            SecretString::from("another secret of thirty-two characters".to_owned()),
            DEFAULT_ACK_TTL,
        );
        assert_eq!(other.verify_ack(&token, now()), Err(LinkError::Forged));
        assert_eq!(
            links.verify_ack("not-a-token", now()),
            Err(LinkError::Malformed)
        );
        let late = now().plus(DEFAULT_ACK_TTL + Duration::from_secs(1));
        assert_eq!(
            links.verify_ack(&token, late),
            Err(LinkError::Expired {
                at: now().plus(DEFAULT_ACK_TTL)
            })
        );
        assert!(once_key(&token).starts_with("ack-link:"));
        assert_eq!(once_key(&token).len(), "ack-link:".len() + ONCE_KEY_HEX);
    }

    #[test]
    fn feed_tokens_open_only_their_own_feed() {
        let links = links();
        let primary = Feed::Schedule("primary".to_owned());
        let token = links.feed_token(&primary);
        assert!(links.check_feed_token(&primary, &token));
        assert!(!links.check_feed_token(&Feed::Schedule("secondary".to_owned()), &token));
        assert!(!links.check_feed_token(&Feed::Person(1), &token));
        assert!(!links.check_feed_token(&primary, &token[..10]));
        assert_eq!(
            links.feed_url(&Feed::Person(7)),
            format!(
                "https://warroom.example/v1/people/7.ics?token={}",
                links.feed_token(&Feed::Person(7))
            )
        );
    }
}
