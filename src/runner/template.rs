//! Argument templates: literal text with `{param}` placeholders; `{{` and `}}` write literal
//! braces. A template is never split or joined: it becomes exactly one argv element (or one
//! lock key), whatever the values put in it.

use std::collections::BTreeMap;
use std::fmt;

/// One part of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Literal(String),
    /// The name of a parameter whose validated value goes here.
    Placeholder(String),
}

/// A parsed template, e.g. `--unit={unit}` or `db:{database}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    /// As written in the catalog file, for display.
    source: String,
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text`; the error says what is wrong with a brace, for a catalog problem.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed || !is_param_name(&name) {
                        return Err(format!(
                            "`{text}` has a `{{` that does not start a placeholder; write a placeholder as {{name}} with a parameter name (lowercase letters, digits, _), and a literal brace as {{{{ or }}}}"
                        ));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Placeholder(name));
                }
                '}' => {
                    return Err(format!(
                        "`{text}` has a `}}` that closes nothing; write a literal brace as }}}}"
                    ));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Template {
            source: text.to_owned(),
            pieces,
        })
    }

    /// The template as written in the catalog.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The parameter names used, in order of appearance.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Placeholder(name) => Some(name.as_str()),
            Piece::Literal(_) => None,
        })
    }

    pub fn has_placeholders(&self) -> bool {
        self.placeholders().next().is_some()
    }

    /// The text with every placeholder filled from `values`, or `None` when one is missing.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Option<String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Placeholder(name) => out.push_str(values.get(name)?),
            }
        }
        Some(out)
    }

    /// The literal text before the first placeholder (all of it when there is none).
    pub fn literal_prefix(&self) -> &str {
        match self.pieces.first() {
            Some(Piece::Literal(text)) => text,
            _ => "",
        }
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A parameter name: what may stand between braces and on the left of `key=value`.
pub(crate) fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= MAX_PARAM_NAME_CHARS
}

/// Parameter names are typed in chat (`unit=nginx`); longer than this is a sentence, not a name.
pub const MAX_PARAM_NAME_CHARS: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholder(name: &str) -> Piece {
        Piece::Placeholder(name.to_owned())
    }

    fn literal(text: &str) -> Piece {
        Piece::Literal(text.to_owned())
    }

    #[test]
    fn placeholders_and_literal_text_mix_in_one_element() {
        let template = Template::parse("--unit={unit}.service").unwrap();
        assert_eq!(
            template.pieces(),
            [literal("--unit="), placeholder("unit"), literal(".service")]
        );
        let values = BTreeMap::from([("unit".to_owned(), "a b;c".to_owned())]);
        assert_eq!(
            template.render(&values).unwrap(),
            "--unit=a b;c.service",
            "a value is pasted in as it is: one element, no splitting"
        );
        assert_eq!(template.literal_prefix(), "--unit=");
    }

    #[test]
    fn double_braces_are_literal_braces() {
        let template = Template::parse("%{{http_code}} {url}").unwrap();
        assert_eq!(
            template.pieces(),
            [literal("%{http_code} "), placeholder("url")]
        );
        assert_eq!(Template::parse("}}{{").unwrap().pieces(), [literal("}{")]);
    }

    #[test]
    fn a_stray_brace_is_an_error_that_says_how_to_write_one() {
        for bad in ["{", "{Unit}", "{ unit }", "a}b", "{unit", "{}", "{1x}"] {
            let error = Template::parse(bad).unwrap_err();
            assert!(error.contains("brace"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_missing_value_renders_nothing() {
        let template = Template::parse("db:{database}").unwrap();
        assert_eq!(template.render(&BTreeMap::new()), None);
    }
}
