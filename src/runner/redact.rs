//! Redaction of command output: configured patterns and the values of a run's secret
//! variables are replaced by `[redacted]` before any output leaves the runner.

use std::borrow::Cow;

use regex::{Captures, Regex};

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Redacts one piece of text at a time (the runner feeds it whole lines).
#[derive(Clone, Debug)]
pub struct Redactor {
    patterns: Vec<Regex>,
    /// Exact secret values, longest first, so a secret that contains another is replaced
    /// whole rather than leaving its remainder visible.
    secrets: Vec<String>,
}

impl Redactor {
    /// `patterns` as in `[commands] redact` (a group named `secret` limits the replacement to
    /// that group); `secrets` are exact values (empty ones are ignored: there is nothing to hide).
    pub fn new(patterns: &[Regex], secrets: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|secret| !secret.is_empty())
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Redactor {
            patterns: patterns.to_vec(),
            secrets,
        }
    }

    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut text = Cow::Borrowed(text);
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = Cow::Owned(text.replace(secret.as_str(), REDACTED));
            }
        }
        for pattern in &self.patterns {
            let replaced = pattern.replace_all(&text, |captures: &Captures<'_>| {
                let whole = captures.get(0).expect("group 0 is the match");
                match captures.name("secret") {
                    Some(secret) => format!(
                        "{}{REDACTED}{}",
                        &text[whole.start()..secret.start()],
                        &text[secret.end()..whole.end()]
                    ),
                    None => REDACTED.to_owned(),
                }
            });
            if let Cow::Owned(replaced) = replaced {
                text = Cow::Owned(replaced);
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_REDACT_PATTERNS;

    fn defaults() -> Redactor {
        let patterns: Vec<Regex> = DEFAULT_REDACT_PATTERNS
            .iter()
            .map(|pattern| Regex::new(pattern).unwrap())
            .collect();
        Redactor::new(&patterns, ["s3cr3t-value".to_owned()])
    }

    #[test]
    fn labelled_secrets_are_redacted_and_their_labels_kept() {
        let redactor = defaults();
        let cases = [
            ("password=hunter2 next", "password=[redacted] next"),
            ("PGPASSWORD: 'hunter2'", "PGPASSWORD: '[redacted]'"),
            (
                r#"{"api_key": "abc123", "ok": true}"#,
                r#"{"api_key": "[redacted]", "ok": true}"#,
            ),
            (
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG",
                "aws_secret_access_key = [redacted]",
            ),
            (
                "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x",
                "Authorization: Bearer [redacted]",
            ),
            (
                "postgres://app:hunter2@db:5432/app",
                "postgres://app:[redacted]@db:5432/app",
            ),
            ("key AKIAIOSFODNN7EXAMPLE used", "key [redacted] used"),
            ("ghp_0123456789abcdefghijklmnopqrstuvwxyzAB", "[redacted]"),
            ("xoxb-1234567890-abcdefghij", "[redacted]"),
            (
                "the value s3cr3t-value leaked",
                "the value [redacted] leaked",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(redactor.redact(input), expected, "{input}");
        }
    }

    #[test]
    fn ordinary_recovery_output_passes_unchanged() {
        let redactor = defaults();
        let ordinary = [
            "● nginx.service - A high performance web server and a reverse proxy server",
            "     Active: active (running) since Sun 2026-11-22 03:48:59 UTC; 2h 5min ago",
            "   Main PID: 812 (nginx)",
            "Filesystem     Type   Size  Used Avail Use% Mounted on",
            "/dev/sda1      ext4    98G   41G   53G  44% /",
            "               total        used        free      shared  buff/cache   available",
            "Mem:            15Gi       3.2Gi       9.1Gi       312Mi       3.3Gi        11Gi",
            "127.0.0.1:5432 - accepting connections",
            "app-2026-11-22.dump: OK",
            ";     Dumped from database version: 15.8",
            "200 in 0.012s",
            "tokens: 512, secrets rotated: 0",
            "password authentication failed for user \"app\"",
            "NAME      IMAGE          SERVICE   STATUS       PORTS",
            "api-1     app:v41        api       Up 2 hours   0.0.0.0:8080->8080/tcp",
            "https://status.example.com/healthz",
            "Nov 22 03:48:59 host sshd[812]: Accepted publickey for deploy from 10.0.0.5",
            "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ];
        for line in ordinary {
            assert_eq!(redactor.redact(line), line);
        }
    }

    #[test]
    fn a_secret_inside_a_longer_secret_is_replaced_whole() {
        let redactor = Redactor::new(&[], ["abc".to_owned(), "xxabcxx".to_owned(), String::new()]);
        assert_eq!(
            redactor.redact("1 xxabcxx 2 abc"),
            "1 [redacted] 2 [redacted]"
        );
    }
}
