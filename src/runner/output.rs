//! Output bookkeeping: bytes from the pipe become whole lines (so redaction sees a secret
//! whole), and the kept copy is capped to its head and tail with the cut said.

/// A line longer than this is passed on in pieces instead of waiting for its end, so a
/// program printing without newlines still streams and memory stays bounded. Each piece is
/// cut at its last whitespace where there is one, so a labelled secret is rarely split.
pub const MAX_LINE_BYTES: usize = 16_384;

/// Turns a byte stream into complete lines (each with its `\n`, the last maybe without).
#[derive(Debug, Default)]
pub(crate) struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Adds `bytes` and returns the text of every line now complete (joined, in order).
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut lines = Vec::new();
        loop {
            if let Some(end) = self.pending.iter().position(|byte| *byte == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                lines.push(String::from_utf8_lossy(&line).into_owned());
            } else if self.pending.len() > MAX_LINE_BYTES {
                let window = &self.pending[..MAX_LINE_BYTES];
                let cut = window
                    .iter()
                    .rposition(u8::is_ascii_whitespace)
                    .map(|at| at + 1)
                    .unwrap_or(MAX_LINE_BYTES);
                // Never split a UTF-8 character: back up to the start of one.
                let cut = (1..=cut)
                    .rev()
                    .find(|at| *at == self.pending.len() || (self.pending[*at] & 0xC0) != 0x80)
                    .unwrap_or(cut);
                let piece: Vec<u8> = self.pending.drain(..cut).collect();
                lines.push(String::from_utf8_lossy(&piece).into_owned());
            } else {
                break;
            }
        }
        lines
    }

    /// What is left after the stream ended (a last line without `\n`), if anything.
    pub(crate) fn finish(&mut self) -> Option<String> {
        if self.pending.is_empty() {
            None
        } else {
            let rest = std::mem::take(&mut self.pending);
            Some(String::from_utf8_lossy(&rest).into_owned())
        }
    }
}

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
fn floor_char_boundary(text: &str, at: usize) -> usize {
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
    fn lines_come_whole_however_the_bytes_arrive() {
        let mut splitter = LineSplitter::default();
        assert_eq!(splitter.push(b"pass"), Vec::<String>::new());
        assert_eq!(splitter.push(b"word=x\nsecond"), ["password=x\n"]);
        assert_eq!(splitter.push(b" line\nthird"), ["second line\n"]);
        assert_eq!(splitter.finish().as_deref(), Some("third"));
        assert_eq!(splitter.finish(), None);
    }

    #[test]
    fn an_endless_line_is_passed_on_in_pieces_cut_at_whitespace() {
        let mut splitter = LineSplitter::default();
        let mut input = "word ".repeat(MAX_LINE_BYTES / 5 + 10).into_bytes();
        input.extend_from_slice("é".repeat(MAX_LINE_BYTES).as_bytes());
        let pieces = splitter.push(&input);
        assert!(pieces.len() >= 2, "{}", pieces.len());
        assert!(pieces[0].ends_with(' ') && pieces[0].len() <= MAX_LINE_BYTES);
        assert!(
            pieces.iter().all(|piece| !piece.contains('\u{FFFD}')),
            "no character was split"
        );
        let mut joined: String = pieces.concat();
        joined.push_str(&splitter.finish().unwrap_or_default());
        assert_eq!(joined.as_bytes(), input);
    }

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
