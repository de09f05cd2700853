//! Redaction: configured patterns and the values of a run's secret variables are replaced by
//! `[redacted]` before any output leaves the runner, and before an argument a person typed is
//! shown anywhere. Output arrives as a stream cut wherever the pipe happens to cut it, so
//! [`StreamRedactor`] redacts whole lines, and when a line is too long to wait for it cuts
//! only where no secret can straddle the cut: it holds back the last
//! [`REDACT_OVERLAP_BYTES`] (at least the longest secret) unredacted, and never cuts inside
//! something a pattern matches.

use std::borrow::Cow;
use std::ops::Range;

use regex::{Captures, Regex};

use super::output::{MAX_LINE_BYTES, floor_char_boundary};

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// How much text the streaming redactor holds back, unredacted, when it has to pass on part
/// of a line that has not ended: a secret that begins in the held-back text is seen whole
/// next time. Every default pattern matches far less than this (an AWS key is 20 bytes, a
/// GitHub token about 40, a Discord token about 70), and a secret variable longer than this
/// makes the overlap as long as it is. Small enough that holding it costs nothing.
pub const REDACT_OVERLAP_BYTES: usize = 4_096;

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
    /// that group); `secrets` are exact values (empty ones are ignored: there is nothing to
    /// hide). A secret of several lines (a key file) is also redacted line by line, since
    /// output is redacted a line at a time.
    pub fn new(patterns: &[Regex], secrets: impl IntoIterator<Item = String>) -> Redactor {
        let mut all = Vec::new();
        for secret in secrets {
            if secret.contains('\n') {
                all.extend(
                    secret
                        .lines()
                        .map(str::trim)
                        .filter(|line| !line.is_empty())
                        .map(str::to_owned),
                );
            }
            all.push(secret);
        }
        all.retain(|secret| !secret.is_empty());
        all.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        all.dedup();
        Redactor {
            patterns: patterns.to_vec(),
            secrets: all,
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

    /// Each of `texts` redacted on its own (argv elements, values).
    pub fn redact_each<'a>(&self, texts: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        texts
            .into_iter()
            .map(|text| self.redact(text).into_owned())
            .collect()
    }

    fn longest_secret(&self) -> usize {
        self.secrets.first().map_or(0, String::len)
    }

    /// Where in `text` a secret or a pattern matches, as byte ranges (overlapping ones too).
    fn spans(&self, text: &str) -> Vec<Range<usize>> {
        let mut spans = Vec::new();
        for secret in &self.secrets {
            spans.extend(
                text.match_indices(secret.as_str())
                    .map(|(at, found)| at..at + found.len()),
            );
        }
        for pattern in &self.patterns {
            spans.extend(pattern.find_iter(text).map(|found| found.range()));
        }
        spans
    }

    /// The largest cut `<= at` that lies inside no match (0 when a match covers everything
    /// before `at`), on a character boundary of `text`.
    fn safe_cut(&self, text: &str, at: usize) -> usize {
        let spans = self.spans(text);
        let mut cut = floor_char_boundary(text, at);
        // Moving the cut back to a match's start can put it inside an earlier match.
        while let Some(span) = spans
            .iter()
            .filter(|span| span.start < cut && cut < span.end)
            .min_by_key(|span| span.start)
        {
            cut = span.start;
        }
        cut
    }
}

/// Redacts a byte stream however it is cut into reads: whole lines are redacted whole; a
/// line longer than [`MAX_LINE_BYTES`] is passed on in pieces, each cut where no secret or
/// pattern match straddles it, with the last [`REDACT_OVERLAP_BYTES`] (or the longest secret)
/// held back unredacted so that a secret that has only begun is seen whole with the next
/// read. Bytes that are not UTF-8 become U+FFFD; a character cut by a read is kept whole.
///
/// The one thing it cannot hide: the end of a single match longer than `MAX_LINE_BYTES`
/// (a 16 KiB "password"), whose first 16 KiB are redacted and the rest passed on.
#[derive(Debug)]
pub(crate) struct StreamRedactor {
    redactor: Redactor,
    /// Decoded text not passed on yet: the line that has not ended, including any held-back
    /// overlap.
    pending: String,
    /// The first bytes of a character whose rest has not arrived.
    partial: Vec<u8>,
    overlap: usize,
}

impl StreamRedactor {
    pub(crate) fn new(redactor: Redactor) -> StreamRedactor {
        let overlap = REDACT_OVERLAP_BYTES.max(redactor.longest_secret());
        StreamRedactor {
            redactor,
            pending: String::new(),
            partial: Vec::new(),
            overlap,
        }
    }

    /// Adds `bytes` and returns the redacted text that may be passed on now (maybe empty).
    pub(crate) fn push(&mut self, bytes: &[u8]) -> String {
        self.decode(bytes);
        let mut out = String::new();
        if let Some(last) = self.pending.rfind('\n') {
            let rest = self.pending.split_off(last + 1);
            let complete = std::mem::replace(&mut self.pending, rest);
            for line in complete.split_inclusive('\n') {
                out.push_str(&self.redactor.redact(line));
            }
        }
        while self.pending.len() >= MAX_LINE_BYTES + self.overlap {
            let at = self.pending.len() - self.overlap;
            let mut cut = self.redactor.safe_cut(&self.pending, at);
            if cut == 0 {
                // One match covers everything up to the overlap: pass on what there is,
                // redacted; only its continuation can show.
                cut = floor_char_boundary(&self.pending, at);
            }
            let rest = self.pending.split_off(cut);
            let piece = std::mem::replace(&mut self.pending, rest);
            out.push_str(&self.redactor.redact(&piece));
        }
        out
    }

    /// The rest, redacted, once the stream has ended.
    pub(crate) fn finish(&mut self) -> String {
        if !self.partial.is_empty() {
            let partial = std::mem::take(&mut self.partial);
            self.pending.push_str(&String::from_utf8_lossy(&partial));
        }
        let rest = std::mem::take(&mut self.pending);
        self.redactor.redact(&rest).into_owned()
    }

    fn decode(&mut self, bytes: &[u8]) {
        let mut joined;
        let mut input = bytes;
        if !self.partial.is_empty() {
            joined = std::mem::take(&mut self.partial);
            joined.extend_from_slice(bytes);
            input = &joined;
        }
        loop {
            match std::str::from_utf8(input) {
                Ok(text) => {
                    self.pending.push_str(text);
                    return;
                }
                Err(error) => {
                    let (valid, rest) = input.split_at(error.valid_up_to());
                    self.pending
                        .push_str(std::str::from_utf8(valid).expect("checked up to here"));
                    match error.error_len() {
                        Some(bad) => {
                            self.pending.push('\u{FFFD}');
                            input = &rest[bad..];
                        }
                        None => {
                            self.partial = rest.to_vec();
                            return;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::config::DEFAULT_REDACT_PATTERNS;

    fn default_patterns() -> Vec<Regex> {
        DEFAULT_REDACT_PATTERNS
            .iter()
            .map(|pattern| Regex::new(pattern).unwrap())
            .collect()
    }

    fn defaults() -> Redactor {
        Redactor::new(&default_patterns(), ["s3cr3t-value".to_owned()])
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
                r#"{"user":"app","password":"hunter2","ok":true}"#,
                r#"{"user":"app","password":"[redacted]","ok":true}"#,
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

    #[test]
    fn each_line_of_a_secret_of_several_lines_is_a_secret() {
        let key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n-----END KEY-----".to_owned();
        let redactor = Redactor::new(&[], [key]);
        assert_eq!(
            redactor.redact("got MIIEvQIBADANBgkq here\n"),
            "got [redacted] here\n"
        );
    }

    fn streamed(redactor: &Redactor, chunks: &[&[u8]]) -> String {
        let mut stream = StreamRedactor::new(redactor.clone());
        let mut out = String::new();
        for chunk in chunks {
            out.push_str(&stream.push(chunk));
        }
        out.push_str(&stream.finish());
        out
    }

    #[test]
    fn lines_come_whole_however_the_bytes_arrive() {
        let redactor = defaults();
        let mut stream = StreamRedactor::new(redactor);
        assert_eq!(stream.push(b"pass"), "");
        assert_eq!(stream.push(b"word=x\nsecond"), "password=[redacted]\n");
        assert_eq!(stream.push(b" line\nthird"), "second line\n");
        assert_eq!(stream.finish(), "third");
        assert_eq!(stream.finish(), "");
    }

    #[test]
    fn an_endless_line_is_passed_on_in_bounded_pieces_without_splitting_characters() {
        let redactor = Redactor::new(&default_patterns(), []);
        let mut stream = StreamRedactor::new(redactor);
        let mut input = "word ".repeat(MAX_LINE_BYTES / 5 + 10).into_bytes();
        input.extend_from_slice("é".repeat(MAX_LINE_BYTES).as_bytes());
        let mut pieces = Vec::new();
        // One byte at a time: every character is cut by a read.
        for byte in &input {
            let piece = stream.push(std::slice::from_ref(byte));
            if !piece.is_empty() {
                pieces.push(piece);
            }
        }
        assert!(pieces.len() >= 2, "{}", pieces.len());
        assert!(pieces.iter().all(|piece| piece.len() <= MAX_LINE_BYTES + 4));
        assert!(
            pieces.iter().all(|piece| !piece.contains('\u{FFFD}')),
            "no character was split"
        );
        let mut joined: String = pieces.concat();
        joined.push_str(&stream.finish());
        assert_eq!(joined.as_bytes(), input);
    }

    #[test]
    fn bytes_that_are_not_utf8_become_replacement_characters() {
        let redactor = Redactor::new(&[], []);
        assert_eq!(
            streamed(&redactor, &[b"a\xffb\xc3", b"\xa9\n\xe2\x82"]),
            "a\u{FFFD}bé\n\u{FFFD}"
        );
    }

    #[test]
    fn a_secret_straddling_the_cut_of_a_long_line_is_still_found() {
        let redactor = Redactor::new(&default_patterns(), ["correct-horse-battery".to_owned()]);
        for secret in [
            "AKIAIOSFODNN7EXAMPLE",
            r#""password":"hunter2-hunter2""#,
            "correct-horse-battery",
        ] {
            for shift in 0..secret.len() {
                let mut line = "x".repeat(MAX_LINE_BYTES - shift);
                line.push(',');
                line.push_str(secret);
                line.push(',');
                line.push_str(&"y".repeat(MAX_LINE_BYTES));
                let out = streamed(&redactor, &[line.as_bytes()]);
                for hidden in ["AKIAIOSFODNN7EXAMPLE", "hunter2-hunter2", "correct-horse"] {
                    assert!(!out.contains(hidden), "{hidden} leaked at shift {shift}");
                }
            }
        }
    }

    /// Text around the secrets: letters, digits, spaces, a few newlines and a two-byte
    /// character, so lines are sometimes short and sometimes far longer than a piece.
    const FILLER: &[char] = &[
        'a', 'b', 'k', 'z', '0', '7', ' ', ' ', '.', '-', 'é', '\n', 'x', 'y', 'q', 'r',
    ];

    /// Separators that end a token, as minified JSON, logs and key=value output have them.
    const SEPARATORS: &[&str] = &[" ", ",", "\n", "\"", ";", "{", "}"];

    /// What the stream hides, and the text that must never come out.
    const SECRETS: &[(&str, &str)] = &[
        ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        (
            r#""password":"Tr0ub4dor-and-3-more""#,
            "Tr0ub4dor-and-3-more",
        ),
        ("PGPASSWORD=Tr0ub4dor-and-3-more", "Tr0ub4dor-and-3-more"),
        ("env-secret-7f3a9c1e55d2", "env-secret-7f3a9c1e55d2"),
        (
            "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
            "ghp_0123456789",
        ),
    ];

    fn filler(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(FILLER), 0..max)
            .prop_map(|chars| chars.into_iter().collect())
    }

    /// A stream of filler with secrets between separators, and where to cut it into reads.
    fn stream_and_cuts() -> impl Strategy<Value = (String, Vec<usize>)> {
        let segment = (
            filler(12_000),
            prop::sample::select(SEPARATORS),
            prop::sample::select(SECRETS),
            prop::sample::select(SEPARATORS),
        )
            .prop_map(|(before, open, (secret, _), close)| {
                format!("{before}{open}{secret}{close}")
            });
        prop::collection::vec(segment, 1..6).prop_flat_map(|segments| {
            let stream: String = segments.concat();
            let len = stream.len();
            (
                Just(stream),
                prop::collection::vec(0..=len, 0..40).prop_map(|mut cuts| {
                    cuts.sort_unstable();
                    cuts
                }),
            )
        })
    }

    fn chunks(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut chunks = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
            chunks.push(bytes[start..cut].to_vec());
            start = cut;
        }
        chunks
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn no_secret_survives_any_chunking_of_the_stream((stream, cuts) in stream_and_cuts()) {
            let redactor =
                Redactor::new(&default_patterns(), ["env-secret-7f3a9c1e55d2".to_owned()]);
            let chunks = chunks(stream.as_bytes(), &cuts);
            let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let out = streamed(&redactor, &refs);
            for (_, hidden) in SECRETS {
                prop_assert!(!out.contains(hidden), "{} survived", hidden);
            }
        }

        #[test]
        fn text_without_secrets_passes_through_unchanged_however_it_is_cut(
            (text, cuts) in filler(40_000).prop_flat_map(|text| {
                let len = text.len();
                (Just(text), prop::collection::vec(0..=len, 0..40))
            })
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let redactor = Redactor::new(&default_patterns(), ["env-secret-7f3a9c1e55d2".to_owned()]);
            let chunks = chunks(text.as_bytes(), &cuts);
            let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(streamed(&redactor, &refs), text);
        }
    }
}
