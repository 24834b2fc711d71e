//! Target templates of `[regex]` rules: `Archive {1}`, `Old/{year}`, `{{literal braces}}`.
//!
//! A template is checked against its regex when the map is loaded, so a reference to a group
//! the regex does not have is a load-time error, never a surprise mid-migration.

use regex::{Captures, Regex};

/// One parsed piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Index(usize),
    Name(String),
}

/// A parsed target template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `template` and checks every `{n}` / `{name}` against `regex`'s groups.
    /// `{0}` is the whole match; `{{` and `}}` are literal braces.
    pub(crate) fn parse(template: &str, regex: &Regex) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = template.chars().peekable();
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
                '}' => return Err("unmatched '}' (write '}}' for a literal brace)".into()),
                '{' => {
                    let mut group = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => group.push(c),
                            None => {
                                return Err("unclosed '{' (write '{{' for a literal brace)".into())
                            }
                        }
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(group_piece(group.trim(), regex)?);
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Template { pieces })
    }

    /// The target for one match; a group that did not take part in the match is empty.
    pub(crate) fn render(&self, captures: &Captures<'_>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Index(i) => out.push_str(captures.get(*i).map_or("", |m| m.as_str())),
                Piece::Name(n) => out.push_str(captures.name(n).map_or("", |m| m.as_str())),
            }
        }
        out
    }
}

fn group_piece(group: &str, regex: &Regex) -> Result<Piece, String> {
    if group.is_empty() {
        return Err("empty group reference '{}'".into());
    }
    if let Ok(i) = group.parse::<usize>() {
        let groups = regex.captures_len() - 1;
        return if i <= groups {
            Ok(Piece::Index(i))
        } else {
            Err(format!(
                "{{{i}}} but the regex has {groups} capture group(s)"
            ))
        };
    }
    if regex.capture_names().flatten().any(|n| n == group) {
        Ok(Piece::Name(group.to_string()))
    } else {
        Err(format!("{{{group}}} names no capture group of the regex"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(re: &str, template: &str, input: &str) -> String {
        let regex = Regex::new(re).unwrap();
        let t = Template::parse(template, &regex).unwrap();
        t.render(&regex.captures(input).unwrap())
    }

    #[test]
    fn renders_numbered_named_and_whole_match_groups() {
        assert_eq!(
            render(r"^Archive/(\d{4})$", "Archive {1}", "Archive/2019"),
            "Archive 2019"
        );
        assert_eq!(
            render(r"^(?P<y>\d{4})-(\d\d)$", "Old/{y}/{2}", "2020-03"),
            "Old/2020/03"
        );
        assert_eq!(render(r"^x.*", "[{0}]", "xyz"), "[xyz]");
        assert_eq!(render(r"^a(b)?$", "<{1}>", "a"), "<>");
        assert_eq!(render(r"^a$", "{{lit}}", "a"), "{lit}");
    }

    #[test]
    fn rejects_missing_groups_and_stray_braces() {
        let regex = Regex::new(r"^(a)$").unwrap();
        for (template, needle) in [
            ("{2}", "has 1 capture group"),
            ("{year}", "names no capture group"),
            ("{1", "unclosed"),
            ("1}", "unmatched"),
            ("{}", "empty"),
        ] {
            let e = Template::parse(template, &regex).unwrap_err();
            assert!(e.contains(needle), "{template}: {e}");
        }
    }
}
