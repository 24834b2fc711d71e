//! Which source folders to copy: `--include-folder` and `--exclude-folder` patterns.
//!
//! A pattern is a glob (`*` any characters within one level, `**` any characters across
//! levels, `?` one character) or, with a `re:` prefix, a regular expression matched against
//! the whole name. Names are the decoded source names with `/` between levels, compared
//! case-insensitively. A folder is copied when no include pattern is given or one matches, and
//! no exclude pattern matches.

use regex::{Regex, RegexBuilder};

/// Include and exclude patterns for source folders.
#[derive(Debug, Clone, Default)]
pub struct FolderFilter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl FolderFilter {
    /// Compiles the patterns; the error names the bad pattern and what is wrong with it.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, String> {
        let compile = |patterns: &[String]| -> Result<Vec<Regex>, String> {
            patterns.iter().map(|p| pattern(p)).collect()
        };
        Ok(FolderFilter {
            include: compile(include)?,
            exclude: compile(exclude)?,
        })
    }

    /// Whether no pattern was given.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Whether the folder named `name` (levels joined with `/`) is copied.
    pub fn keeps(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(name)))
            && !self.exclude.iter().any(|r| r.is_match(name))
    }
}

/// One pattern as an anchored, case-insensitive regex.
fn pattern(text: &str) -> Result<Regex, String> {
    let source = match text.strip_prefix("re:") {
        Some(re) => format!("^(?:{re})$"),
        None => {
            let mut re = String::from("^");
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '*' if chars.peek() == Some(&'*') => {
                        chars.next();
                        re.push_str(".*");
                    }
                    '*' => re.push_str("[^/]*"),
                    '?' => re.push_str("[^/]"),
                    c => re.push_str(&regex::escape(&c.to_string())),
                }
            }
            re.push('$');
            re
        }
    };
    RegexBuilder::new(&source)
        .case_insensitive(true)
        .build()
        .map_err(|e| format!("folder pattern {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> FolderFilter {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        FolderFilter::new(&owned(include), &owned(exclude)).unwrap()
    }

    #[test]
    fn globs_stay_within_a_level_unless_doubled() {
        let f = filter(&[], &["Archive/*"]);
        assert!(!f.keeps("Archive/2019") && !f.keeps("archive/2020"));
        assert!(f.keeps("Archive/2019/Q1") && f.keeps("Archive") && f.keeps("INBOX"));
        let f = filter(&[], &["Archive/**", "Spa?"]);
        assert!(!f.keeps("Archive/2019/Q1") && !f.keeps("SPAM") && f.keeps("Spam2"));
    }

    #[test]
    fn includes_then_excludes_and_regexes_are_anchored() {
        let f = filter(&["INBOX", "re:Projects/(Q1|Q2)"], &["re:.*Q2"]);
        assert!(f.keeps("inbox") && f.keeps("Projects/Q1"));
        assert!(!f.keeps("Projects/Q2") && !f.keeps("Projects/Q1/old") && !f.keeps("Sent"));
        assert!(filter(&[], &[]).keeps("anything") && filter(&[], &[]).is_empty());
        let e = FolderFilter::new(&["re:(".into()], &[]).unwrap_err();
        assert!(e.contains("folder pattern \"re:(\""), "{e}");
    }
}
