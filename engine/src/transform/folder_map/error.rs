//! Errors from reading a folder map file: always the file, the position and the problem.

use std::fmt;

/// A folder map file that cannot be used. Its `Display` reads
/// `Foldermap.xml:12:5: <Folder> has no path attribute`, like a compiler's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}{position}: {problem}")]
pub struct FolderMapError {
    /// The file (or other origin) the text came from, as the caller named it.
    pub origin: String,
    /// Where in the text, when known.
    pub position: Position,
    /// What is wrong.
    pub problem: Problem,
}

/// A 1-based line and column (in characters) in the map file; `line == 0` when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column in characters.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text` (clamped to the text, and to a char boundary).
    pub fn at(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Position {
    /// `:line:column`, or nothing when the position is unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            Ok(())
        } else {
            write!(f, ":{}:{}", self.line, self.column)
        }
    }
}

/// What is wrong with a folder map file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// Not well-formed XML, or not valid TOML (the parser's message).
    #[error("{0}")]
    Syntax(String),
    /// An XML element where it does not belong (`<Folder>` inside `<Folder>`, `<Foo>`).
    #[error("unexpected element <{element}> {context}")]
    UnexpectedElement {
        /// The element's name.
        element: String,
        /// Where it was found, e.g. "inside `<Folder>`".
        context: String,
    },
    /// An attribute this format does not have.
    #[error("unknown attribute {attribute:?} on <{element}> (expected {expected})")]
    UnknownAttribute {
        /// The attribute's name.
        attribute: String,
        /// The element carrying it.
        element: String,
        /// The attributes that element may have.
        expected: &'static str,
    },
    /// An entry that breaks the format's rules: something required absent, empty or repeated
    /// (a `<Folder>` without `path`, two `<Property>`, a target that is not a folder path).
    #[error("{0}")]
    Invalid(String),
    /// Text content where only elements may be.
    #[error("unexpected text {0:?}")]
    UnexpectedText(String),
    /// A `SpecialFolder` value that is not one of Exchange's default folders.
    #[error("unknown special folder {0:?} (expected one of Inbox, Outbox, Sent Items, Drafts, Deleted Items, Junk E-mail, Journal, Notes, Calendar)")]
    UnknownSpecialFolder(String),
    /// One source folder given two different targets.
    #[error("{source_name:?} is mapped twice, to {first} and to {second}")]
    Conflict {
        /// The source folder name.
        source_name: String,
        /// The target given first.
        first: String,
        /// The target given later.
        second: String,
    },
    /// A `[regex]` key that does not compile.
    #[error("bad regex {pattern:?}: {message}")]
    BadRegex {
        /// The pattern as written.
        pattern: String,
        /// The regex crate's explanation.
        message: String,
    },
    /// A target template naming a capture group the regex does not have, or with a stray brace.
    #[error("bad target template {template:?}: {message}")]
    BadTemplate {
        /// The template as written.
        template: String,
        /// What is wrong with it.
        message: String,
    },
}

impl FolderMapError {
    /// An error at byte `offset` of `text`.
    pub(crate) fn at(origin: &str, text: &str, offset: usize, problem: Problem) -> Self {
        FolderMapError {
            origin: origin.to_string(),
            position: Position::at(text, offset),
            problem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "ab\nçé<x\n";
        assert_eq!(Position::at(text, 0), Position { line: 1, column: 1 });
        assert_eq!(Position::at(text, 3), Position { line: 2, column: 1 });
        // 'ç' and 'é' are two bytes each: '<' is byte 7, the third character.
        assert_eq!(Position::at(text, 7), Position { line: 2, column: 3 });
        assert_eq!(Position::at(text, 4), Position { line: 2, column: 1 });
        assert_eq!(Position::at(text, 999), Position { line: 3, column: 1 });
    }

    #[test]
    fn display_names_file_line_column_and_problem() {
        let e = FolderMapError::at(
            "Foldermap.xml",
            "a\nbc",
            3,
            Problem::Invalid("<Folder> has no path attribute".into()),
        );
        assert_eq!(
            e.to_string(),
            "Foldermap.xml:2:2: <Folder> has no path attribute"
        );
    }
}
