//! The email notifier: one message per recipient over SMTP (STARTTLS, implicit TLS, or plain
//! on loopback only), plain text and HTML, each with its own one-click acknowledgement link.
//!
//! # Who gets the email
//!
//! The notifier's `to` list, resolved when the page is sent: an address as written; `user:<id>`,
//! the address `[people]` has for that Discord user; `schedule:<name>`, whoever is on call in
//! it at that moment, by their `[people]` address. Each message names the others it went to.
//!
//! # How it fails
//!
//! Like every notifier (see [`super::delivery`]): a per-attempt timeout, retries with backoff
//! and full jitter on a connection that cannot be made, a timeout or a temporary (4xx) SMTP
//! answer, never a retry of a permanent (5xx) refusal or a TLS failure, and the notifier's
//! rate limit before each message. Only the recipients not yet accepted are tried again. The
//! page is delivered when every recipient's message was accepted; anyone refused, or
//! unreachable (no address, nobody on call), makes it a failed page naming them, so the
//! policy moves on and nobody is left unpaged silently. An email cannot be taken back, so
//! acknowledge and resolve send nothing.
//!
//! # Status updates
//!
//! With `status_updates = true` the same recipients get each status update of a public
//! incident (sent by the `status_update` timer, once across processes): subject
//! `[INC-12 mitigated] Title`, the update in plain text and HTML, no acknowledgement link,
//! the same retries and per-recipient results as a page, and a Message-ID fixed by
//! (incident, seq) (`<status.12.7@sender-domain>`) so a repeat is recognisable; the updates
//! of one incident share a `References` header, so mail clients thread them.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::delivery::{
    Action, Attempt, AttemptResult, Delivery, DeliveryPolicy, Outcome, RateLimit, RateLimiter,
    Timer,
};
use super::links::{Links, Paged};
use super::people::People;
use super::{Credential, Notifier, NotifierKind, PageMessage, StatusUpdate, escape_html as escape};
use crate::domain::{IncidentId, Timestamp};
use crate::escalation::Schedule;

/// The SMTP port of each way of securing the connection, unless `port` says otherwise:
/// submission with STARTTLS (RFC 6409), submissions over implicit TLS (RFC 8314), and plain
/// SMTP, which warroom speaks only to a relay on this host.
pub const STARTTLS_PORT: u16 = 587;
pub const TLS_PORT: u16 = 465;
pub const PLAIN_PORT: u16 = 25;

/// How much of an SMTP answer is kept in a reason: the code and the first line say why.
const REPLY_EXCERPT_CHARS: usize = 200;

/// How the connection to the SMTP server is secured (`tls` in the config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection, then STARTTLS, which must succeed (no fallback to plain text).
    StartTls,
    /// TLS from the first byte.
    Tls,
    /// No encryption: only to a relay on loopback, where nothing travels over a network.
    None,
}

impl SmtpTls {
    pub fn parse(text: &str) -> Option<SmtpTls> {
        match text.trim() {
            "starttls" => Some(SmtpTls::StartTls),
            "tls" => Some(SmtpTls::Tls),
            "none" => Some(SmtpTls::None),
            _ => None,
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::StartTls => STARTTLS_PORT,
            SmtpTls::Tls => TLS_PORT,
            SmtpTls::None => PLAIN_PORT,
        }
    }
}

/// One entry of an email notifier's `to` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmailRecipient {
    /// `Name <address>` or a bare address, as written.
    Address(String),
    /// `user:<Discord id>`: their `[people]` address.
    Person(u64),
    /// `schedule:<name>`: whoever is on call in it when the page is sent.
    Schedule(String),
}

/// What an email notifier needs besides the settings every notifier has.
#[derive(Clone, Debug)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// The sender, `Name <address>` or a bare address (validated when the config is read).
    pub from: String,
    /// SMTP AUTH, both or neither.
    pub username: Option<Credential>,
    pub password: Option<Credential>,
    pub to: Vec<EmailRecipient>,
    /// For `user:` entries and schedule members: their addresses and names.
    pub people: People,
    /// The schedules `to` names, to find who is on call when a page goes out.
    pub schedules: Vec<Schedule>,
}

/// One message to send: to whom, and who that is for the acknowledgement link.
struct Addressee {
    mailbox: Mailbox,
    paged: Paged,
    /// `Alice <alice@example.com> (on call in primary)`, for the others' "also emailed".
    label: String,
}

/// What one attempt at one message decided.
enum Verdict {
    Accepted,
    Refused(String),
    Retry(String),
}

pub struct Email {
    name: String,
    settings: EmailSettings,
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    links: Option<Links>,
    policy: DeliveryPolicy,
    limiter: RateLimiter,
    timer: Arc<dyn Timer>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("name", &self.name)
            .field("host", &self.settings.host)
            .field("port", &self.settings.port)
            .field("tls", &self.settings.tls)
            .finish_non_exhaustive()
    }
}

impl Email {
    /// The notifier, or what is wrong with its settings (an unbuildable TLS setup, an
    /// unreadable sender: both checked when the config is read, so this is belt and braces).
    pub fn new(
        name: &str,
        settings: EmailSettings,
        links: Option<Links>,
        policy: DeliveryPolicy,
        rate_limit: RateLimit,
        timer: Arc<dyn Timer>,
    ) -> Result<Email, String> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|error| format!("from `{}` is not an address: {error}", settings.from))?;
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls | SmtpTls::Tls => {
                let parameters = TlsParameters::new(settings.host.clone()).map_err(|error| {
                    format!("TLS for {} cannot be set up: {error}", settings.host)
                })?;
                if settings.tls == SmtpTls::Tls {
                    Tls::Wrapper(parameters)
                } else {
                    Tls::Required(parameters)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(policy.timeout));
        let secret = |credential: &Option<Credential>| {
            credential
                .as_ref()
                .and_then(|credential| credential.value.as_ref())
                .map(|value| value.expose_secret().to_owned())
        };
        if let (Some(username), Some(password)) =
            (secret(&settings.username), secret(&settings.password))
        {
            builder = builder.credentials(Credentials::new(username, password));
        }
        Ok(Email {
            name: name.to_owned(),
            from,
            transport: builder.build(),
            links,
            limiter: RateLimiter::new(rate_limit, timer.clone()),
            policy,
            settings,
            timer,
        })
    }

    /// Whom the page reaches at `at`, and who it cannot reach, and why.
    fn addressees(&self, at: Timestamp) -> (Vec<Addressee>, Vec<String>) {
        let people = &self.settings.people;
        let mut found = Vec::new();
        let mut unreached = Vec::new();
        let mut seen = BTreeSet::new();
        let person = |user_id: u64,
                      context: String,
                      found: &mut Vec<Addressee>,
                      seen: &mut BTreeSet<String>| {
            let Some(address) = people.email(user_id) else {
                return Err(format!(
                    "{}{context} has no address in [people]; add [people.\"{user_id}\"] email = \"...\"",
                    people.display_name(user_id)
                ));
            };
            let mut mailbox: Mailbox = address
                .parse()
                .map_err(|error| format!("{address} is not an address: {error}"))?;
            if mailbox.name.is_none() {
                mailbox.name = people.get(user_id).and_then(|person| person.name.clone());
            }
            if seen.insert(mailbox.email.to_string()) {
                found.push(Addressee {
                    label: format!("{mailbox}{context}"),
                    mailbox,
                    paged: Paged::Person(user_id),
                });
            }
            Ok(())
        };
        for recipient in &self.settings.to {
            let result = match recipient {
                EmailRecipient::Person(user_id) => {
                    person(*user_id, String::new(), &mut found, &mut seen)
                }
                EmailRecipient::Schedule(name) => {
                    match self
                        .settings
                        .schedules
                        .iter()
                        .find(|schedule| &schedule.name == name)
                        .map(|schedule| schedule.on_call_at(at))
                    {
                        Some(Some(user_id)) => person(
                            user_id,
                            format!(" (on call in {name})"),
                            &mut found,
                            &mut seen,
                        ),
                        Some(None) => Err(format!("nobody is on call in schedule {name}")),
                        None => Err(format!("there is no schedule {name} any more")),
                    }
                }
                EmailRecipient::Address(address) => match address.parse::<Mailbox>() {
                    Ok(mailbox) => {
                        if seen.insert(mailbox.email.to_string()) {
                            found.push(Addressee {
                                label: mailbox.to_string(),
                                paged: Paged::Address(mailbox.email.to_string()),
                                mailbox,
                            });
                        }
                        Ok(())
                    }
                    Err(error) => Err(format!("{address} is not an address: {error}")),
                },
            };
            if let Err(reason) = result {
                unreached.push(reason);
            }
        }
        (found, unreached)
    }

    fn message(
        &self,
        page: &PageMessage,
        to: &Addressee,
        others: &[&str],
        now: Timestamp,
    ) -> Result<Message, String> {
        let link = self
            .links
            .as_ref()
            .map(|links| (links.ack_url_for(page, to.paged.clone(), now), links));
        let body = Body {
            page,
            others,
            link: link
                .as_ref()
                .map(|(url, links)| (url.as_str(), now.plus(links.ack_ttl()))),
        };
        Message::builder()
            .from(self.from.clone())
            .to(to.mailbox.clone())
            .subject(body.subject())
            .date(system_time(now))
            .multipart(MultiPart::alternative_plain_html(body.text(), body.html()))
            .map_err(|error| format!("the message to {} cannot be written: {error}", to.label))
    }

    async fn send_one(&self, message: Message) -> (AttemptResult, Verdict) {
        match self.transport.send(message).await {
            Ok(response) => {
                let reply = format!(
                    "{} {}",
                    response.code(),
                    response.first_line().unwrap_or_default()
                );
                (
                    AttemptResult::Status {
                        // The SMTP reply code (250): 2xx means accepted, as in HTTP.
                        status: response.code().to_string().parse().unwrap_or(250),
                        body: excerpt(&reply),
                        retry_after_ms: None,
                    },
                    Verdict::Accepted,
                )
            }
            Err(error) if error.is_permanent() || error.is_tls() || error.is_client() => {
                let why = if error.is_tls() {
                    format!(
                        "TLS with {} failed ({error}); check tls and port",
                        self.server()
                    )
                } else {
                    format!(
                        "the SMTP server {} refused it: {}",
                        self.server(),
                        excerpt(&error.to_string())
                    )
                };
                (
                    AttemptResult::Error { error: why.clone() },
                    Verdict::Refused(format!("{why}; not retried")),
                )
            }
            Err(error) if error.is_timeout() => {
                let after_ms = u64::try_from(self.policy.timeout.as_millis()).unwrap_or(u64::MAX);
                (
                    AttemptResult::TimedOut { after_ms },
                    Verdict::Retry(format!(
                        "the SMTP server {} did not answer within {after_ms} ms",
                        self.server()
                    )),
                )
            }
            Err(error) if error.is_transient() => {
                let why = format!(
                    "the SMTP server {} answered with a temporary failure: {}",
                    self.server(),
                    excerpt(&error.to_string())
                );
                (
                    AttemptResult::Error { error: why.clone() },
                    Verdict::Retry(why),
                )
            }
            Err(error) => {
                let why = format!("cannot reach the SMTP server {}: {error}", self.server());
                (
                    AttemptResult::Connect { error: why.clone() },
                    Verdict::Retry(why),
                )
            }
        }
    }

    /// Sends the message `build` writes for each addressee (given the others it goes to),
    /// each recipient's retried until accepted, refused or out of attempts: delivered when
    /// every one was accepted, otherwise a failure naming whoever was not reached and why.
    async fn deliver(
        &self,
        action: Action,
        now: Timestamp,
        build: impl Fn(&Addressee, &[&str]) -> Result<Message, String>,
    ) -> Delivery {
        let (addressees, unreached) = self.addressees(now);
        if addressees.is_empty() {
            return self.failed(
                action,
                format!("nobody to email: {}", unreached.join("; ")),
                Vec::new(),
            );
        }
        let labels: Vec<&str> = addressees.iter().map(|to| to.label.as_str()).collect();
        // Built once, before the first attempt: a retry sends the very message (and link) the
        // first attempt would have.
        let mut messages = Vec::new();
        let mut refused: Vec<String> = Vec::new();
        for (index, to) in addressees.iter().enumerate() {
            let others: Vec<&str> = labels
                .iter()
                .enumerate()
                .filter(|(other, _)| *other != index)
                .map(|(_, label)| *label)
                .collect();
            match build(to, &others) {
                Ok(message) => messages.push((index, message)),
                Err(reason) => refused.push(reason),
            }
        }
        let began = self.timer.monotonic();
        let max_attempts = self.policy.max_attempts.max(1);
        let mut attempts = Vec::new();
        let mut accepted = Vec::new();
        let mut waited = Duration::ZERO;
        let mut pending = messages;
        for number in 1..=max_attempts {
            let mut again = Vec::new();
            for (index, message) in pending {
                waited += self.limiter.until_ready().await;
                let at = self.timer.monotonic().saturating_sub(began);
                let (result, verdict) = self.send_one(message.clone()).await;
                attempts.push(Attempt {
                    number,
                    waited_ms: millis(waited),
                    at_ms: millis(at),
                    result,
                });
                waited = Duration::ZERO;
                let label = labels[index];
                match verdict {
                    Verdict::Accepted => accepted.push(label),
                    Verdict::Refused(why) => refused.push(format!("{label}: {why}")),
                    Verdict::Retry(why) if number == max_attempts => refused.push(format!(
                        "{label}: {why} (after {max_attempts} attempt{})",
                        if max_attempts == 1 { "" } else { "s" }
                    )),
                    Verdict::Retry(_) => again.push((index, message)),
                }
            }
            pending = again;
            if pending.is_empty() {
                break;
            }
            let delay = self.policy.backoff(number, fastrand::f64());
            self.timer.sleep(delay).await;
            waited = delay;
        }
        if refused.is_empty() && unreached.is_empty() {
            return Delivery {
                notifier: self.name.clone(),
                action,
                outcome: Outcome::Delivered { status: 250 },
                attempts,
            };
        }
        let mut reason = refused
            .into_iter()
            .chain(unreached)
            .collect::<Vec<_>>()
            .join("; ");
        if !accepted.is_empty() {
            let _ = write!(reason, " (emailed {} all the same)", accepted.join(", "));
        }
        self.failed(action, reason, attempts)
    }

    /// A status update's email to `to`: no acknowledgement link (nobody is paged), threaded
    /// under the incident (`References`), with a Message-ID of its own per (incident, seq).
    fn update_message(
        &self,
        update: &StatusUpdate,
        to: &Addressee,
        now: Timestamp,
    ) -> Result<Message, String> {
        let body = UpdateBody { update };
        let domain = self.from.email.domain();
        Message::builder()
            .from(self.from.clone())
            .to(to.mailbox.clone())
            .subject(body.subject())
            .date(system_time(now))
            .message_id(Some(update_message_id(update, domain)))
            .references(incident_thread_id(update.incident_id, domain))
            .multipart(MultiPart::alternative_plain_html(body.text(), body.html()))
            .map_err(|error| format!("the message to {} cannot be written: {error}", to.label))
    }

    fn server(&self) -> String {
        format!("{}:{}", self.settings.host, self.settings.port)
    }

    fn failed(&self, action: Action, reason: String, attempts: Vec<Attempt>) -> Delivery {
        Delivery {
            notifier: self.name.clone(),
            action,
            outcome: Outcome::FailedAfterRetries { reason },
            attempts,
        }
    }
}

fn excerpt(text: &str) -> String {
    super::shorten(text.trim(), REPLY_EXCERPT_CHARS)
}

fn system_time(at: Timestamp) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(at.as_millis()).unwrap_or(0))
}

/// The Message-ID of every copy of one status update: `<status.12.7@example.com>` for
/// INC-12's timeline event 7, on the sender's domain. Stable, so a repeat (a process that
/// died after sending and before recording it) is recognisable as the same message.
pub fn update_message_id(update: &StatusUpdate, domain: &str) -> String {
    format!("<status.{}.{}@{domain}>", update.incident_id.0, update.seq)
}

/// What every status update of one incident refers to, so mail clients thread them.
fn incident_thread_id(incident: IncidentId, domain: &str) -> String {
    format!("<incident.{}@{domain}>", incident.0)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl Notifier for Email {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> NotifierKind {
        NotifierKind::Email
    }

    fn supports(&self, action: Action) -> bool {
        matches!(action, Action::Trigger | Action::Update)
    }

    async fn trigger(&self, page: &PageMessage) -> Delivery {
        let now = self.timer.wall();
        self.deliver(Action::Trigger, now, |to, others| {
            self.message(page, to, others, now)
        })
        .await
    }

    /// One message per recipient, with the same retries as a page; the subject says the
    /// incident and its status (`[INC-12 mitigated] Title`), the Message-ID is the same for
    /// every copy of one update (incident, seq), so a repeat after a crash is recognisable.
    async fn status_update(&self, update: &StatusUpdate) -> Delivery {
        let now = self.timer.wall();
        self.deliver(Action::Update, now, |to, _others| {
            self.update_message(update, to, now)
        })
        .await
    }

    async fn acknowledge(&self, _dedup_key: &str) -> Delivery {
        Delivery::unsupported(&self.name, Action::Acknowledge, CANNOT_UPDATE)
    }

    async fn resolve(&self, _dedup_key: &str) -> Delivery {
        Delivery::unsupported(&self.name, Action::Resolve, CANNOT_UPDATE)
    }
}

const CANNOT_UPDATE: &str =
    "an email cannot be taken back; acknowledgements and resolutions are shown in Discord";

/// The words of one page's email, in plain text and HTML.
struct Body<'a> {
    page: &'a PageMessage,
    /// Who else this page emailed.
    others: &'a [&'a str],
    /// The acknowledgement link and when it expires.
    link: Option<(&'a str, Timestamp)>,
}

impl Body<'_> {
    fn subject(&self) -> String {
        let page = self.page;
        let why = if page.level == 0 {
            "paged by hand".to_owned()
        } else {
            format!("escalation level {}", page.level)
        };
        format!("{} [{}, {why}]", page.summary(), page.priority.as_str())
    }

    /// `(label, value)` lines both bodies show.
    fn facts(&self) -> Vec<(&'static str, String)> {
        let page = self.page;
        let mut facts = vec![
            ("Incident", format!("{}: {}", page.incident_id, page.title)),
            (
                "Severity",
                format!("{} ({})", page.severity, page.priority.as_str()),
            ),
        ];
        if let Some(service) = &page.service {
            facts.push(("Service", service.clone()));
        }
        facts.push((
            "Paged",
            if page.level == 0 {
                format!("by hand, as {}", page.target)
            } else {
                format!(
                    "escalation level {}, round {}, as {}",
                    page.level,
                    page.round + 1,
                    page.target
                )
            },
        ));
        facts.push(("Opened", page.opened_at.to_human()));
        if !self.others.is_empty() {
            facts.push(("Also emailed", self.others.join(", ")));
        }
        facts
    }

    fn text(&self) -> String {
        let page = self.page;
        let mut text = format!("{}\n\n", page.summary());
        if let Some(message) = &page.message {
            let _ = writeln!(text, "Message: {message}\n");
        }
        for (label, value) in self.facts() {
            let _ = writeln!(text, "{label}: {value}");
        }
        text.push('\n');
        match self.link {
            Some((url, expires)) => {
                let _ = writeln!(
                    text,
                    "Acknowledge (opens a page to confirm; works once, until {}):\n{url}\n",
                    expires.to_human()
                );
            }
            None => text.push_str(
                "Acknowledge in Discord, or with `warroom incident ack` or the REST API.\n\n",
            ),
        }
        if let Some(link) = &page.link {
            let _ = writeln!(text, "Incident channel: {link}\n");
        }
        text.push_str(
            "Until someone acknowledges, the escalation goes on to its next level.\n-- warroom\n",
        );
        text
    }

    fn html(&self) -> String {
        let page = self.page;
        let mut html = String::from(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body style=\"font-family: sans-serif\">\n",
        );
        let _ = writeln!(html, "<h2>{}</h2>", escape(&page.summary()));
        if let Some(message) = &page.message {
            let _ = writeln!(html, "<p><strong>Message:</strong> {}</p>", escape(message));
        }
        facts_table(&mut html, self.facts());
        match self.link {
            Some((url, expires)) => {
                let _ = writeln!(
                    html,
                    "<p><a href=\"{}\" style=\"display: inline-block; padding: 10px 16px; background: #b00020; color: #fff; text-decoration: none; border-radius: 4px\">Acknowledge {}</a></p>\n<p><small>Opens a page to confirm. Works once, until {}.</small></p>",
                    escape(url),
                    escape(&page.incident_id.to_string()),
                    escape(&expires.to_human())
                );
            }
            None => html.push_str(
                "<p>Acknowledge in Discord, or with <code>warroom incident ack</code> or the REST API.</p>\n",
            ),
        }
        if let Some(link) = &page.link {
            let _ = writeln!(
                html,
                "<p><a href=\"{}\">Incident channel</a></p>",
                escape(link)
            );
        }
        html.push_str("<p><small>Until someone acknowledges, the escalation goes on to its next level.</small></p>\n</body></html>\n");
        html
    }
}

/// The words of one status update's email, in plain text and HTML: the incident's public
/// face (title, status, severity, service), what was said, and when.
struct UpdateBody<'a> {
    update: &'a StatusUpdate,
}

impl UpdateBody<'_> {
    /// `[INC-12 mitigated] Checkout is down`.
    fn subject(&self) -> String {
        let update = self.update;
        format!(
            "[{} {}] {}",
            update.incident_id, update.status, update.title
        )
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        let update = self.update;
        let mut facts = vec![
            (
                "Incident",
                format!("{}: {}", update.incident_id, update.title),
            ),
            ("Status", update.status.clone()),
            ("Severity", update.severity.clone()),
        ];
        if let Some(service) = &update.service {
            facts.push(("Service", service.clone()));
        }
        facts.push(("Posted", update.at.to_human()));
        facts
    }

    fn text(&self) -> String {
        let update = self.update;
        let mut text = format!(
            "Status update on {} ({}): {}\n\n{}\n\n",
            update.incident_id, update.status, update.title, update.text
        );
        for (label, value) in self.facts() {
            let _ = writeln!(text, "{label}: {value}");
        }
        text.push_str("\n-- warroom\n");
        text
    }

    fn html(&self) -> String {
        let update = self.update;
        let mut html = String::from(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body style=\"font-family: sans-serif\">\n",
        );
        let _ = writeln!(
            html,
            "<h2>Status update on {} ({}): {}</h2>",
            escape(&update.incident_id.to_string()),
            escape(&update.status),
            escape(&update.title)
        );
        let _ = writeln!(
            html,
            "<p style=\"white-space: pre-wrap\">{}</p>",
            escape(&update.text)
        );
        facts_table(&mut html, self.facts());
        html.push_str("</body></html>\n");
        html
    }
}

/// The facts of an email's HTML body, a row each, escaped.
fn facts_table(html: &mut String, facts: Vec<(&'static str, String)>) {
    html.push_str("<table>\n");
    for (label, value) in facts {
        let _ = writeln!(
            html,
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            escape(label),
            escape(&value)
        );
    }
    html.push_str("</table>\n");
}
