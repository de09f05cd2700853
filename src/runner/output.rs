//! Output bookkeeping: the kept copy of a run's (already redacted) output is capped to its
//! head and tail, with the cut said.

/// A line longer than this is passed on in pieces instead of waiting for its end, so a
/// program printing without newlines still streams and memory stays bounded. Redaction
/// cuts each piece where no secret straddles the cut (see `redact::StreamRedactor`).
pub const MAX_LINE_BYTES: usize = 16_384;

/// Keeps the first and the last half of `cap` bytes of a text stream.
#[derive(Debug)]
pub(crate) struct HeadTail {
    head_limit: usize,
    tail_limit: usize,
    head: String,
    /// The most recent text past the head; trimmed to `tail_limit` when it grows to twice
    /// that, so trimming costs nothing per line.
    tail: String,
    total: u64,
}

impl HeadTail {
    pub(crate) fn new(cap: usize) -> HeadTail {
        let head_limit = cap / 2;
        HeadTail {
            head_limit,
            tail_limit: cap - head_limit,
            head: String::new(),
            tail: String::new(),
            total: 0,
        }
    }

    pub(crate) fn push(&mut self, text: &str) {
        self.total += text.len() as u64;
        let mut rest = text;
        if self.tail.is_empty() && self.head.len() < self.head_limit {
            let room = self.head_limit - self.head.len();
            let take = floor_char_boundary(rest, room);
            self.head.push_str(&rest[..take]);
            rest = &rest[take..];
        }
        self.tail.push_str(rest);
        if self.tail.len() > 2 * self.tail_limit {
            self.trim_tail();
        }
    }

    fn trim_tail(&mut self) {
        if self.tail.len() > self.tail_limit {
            let start = ceil_char_boundary(&self.tail, self.tail.len() - self.tail_limit);
            self.tail.drain(..start);
        }
    }

    /// Every byte seen.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The kept text and how many bytes were cut from its middle.
    pub(crate) fn finish(mut self) -> (String, u64) {
        self.trim_tail();
        let kept = (self.head.len() + self.tail.len()) as u64;
        let cut = self.total - kept;
        if cut == 0 {
            return (self.head + &self.tail, 0);
        }
        let mut text = self.head;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "[… {cut} bytes cut here, {} in all …]\n",
            self.total
        ));
        text.push_str(&self.tail);
        (text, cut)
    }
}

/// The largest index `<= at` that starts a character.
pub(crate) fn floor_char_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    (0..=at)
        .rev()
        .find(|index| text.is_char_boundary(*index))
        .unwrap_or(0)
}

/// The smallest index `>= at` that starts a character.
fn ceil_char_boundary(text: &str, at: usize) -> usize {
    (at..=text.len())
        .find(|index| text.is_char_boundary(*index))
        .unwrap_or(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_kept_whole() {
        let mut kept = HeadTail::new(100);
        kept.push("one\n");
        kept.push("two\n");
        assert_eq!(kept.finish(), ("one\ntwo\n".to_owned(), 0));
    }

    #[test]
    fn long_output_keeps_head_and_tail_and_says_the_cut() {
        let mut kept = HeadTail::new(20);
        for line in 0..1_000 {
            kept.push(&format!("line {line:04}\n"));
        }
        assert_eq!(kept.total(), 10_000);
        let (text, cut) = kept.finish();
        assert_eq!(cut, 10_000 - 20);
        assert_eq!(
            text,
            "line 0000\n[… 9980 bytes cut here, 10000 in all …]\nline 0999\n"
        );
    }

    #[test]
    fn the_cut_never_splits_a_character() {
        let mut kept = HeadTail::new(7);
        kept.push(&"é".repeat(100));
        let (text, _) = kept.finish();
        assert!(!text.contains('\u{FFFD}'));
        assert!(text.starts_with("é\n[…"), "{text}");
        assert!(text.ends_with("…]\néé"), "{text}");
    }
}
