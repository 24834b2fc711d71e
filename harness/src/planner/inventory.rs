//! What is to be moved: one row per mailbox with its message count and size.
//!
//! Two forms are read. The JSON that `cutover assess --json` writes: an object whose
//! `"mailboxes"` array holds objects with at least `source_identity`, `messages` and `bytes`
//! (other fields are ignored, so the assessment can grow). And a CSV an operator exports:
//! a header naming `SourceIdentity`, `Messages` and `Bytes` (any case, any order, other columns
//! ignored, a byte-order mark and `;` separators tolerated), `Bytes` either an integer or a size
//! such as `4GB` or `512MiB`. Every error names the file, and for CSV the line and the column.

use super::units::parse_size;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One mailbox to move, as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxSize {
    /// The mailbox's address at the source, as in the mailbox list.
    pub source_identity: String,
    /// Messages to copy.
    pub messages: u64,
    /// Bytes to copy (the sum of the messages' sizes).
    pub bytes: u64,
}

/// Every mailbox of a migration; identities are unique.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// The mailboxes, in the order of the file.
    pub mailboxes: Vec<MailboxSize>,
}

/// Why an inventory could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InventoryError {
    /// The file could not be read at all.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The JSON is malformed or lacks a required field.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What serde_json said.
        message: String,
    },
    /// The CSV header lacks a column the planner needs.
    #[error("{}: line 1: no {column} column (the header has: {found})", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The missing column.
        column: &'static str,
        /// The header as read.
        found: String,
    },
    /// A CSV row has a bad or missing value.
    #[error("{}: line {line}, column {column}: {problem}", path.display())]
    BadRow {
        /// The file.
        path: PathBuf,
        /// 1-based line of the row.
        line: u64,
        /// The column's name as the header spells it (or the row position if unreadable).
        column: String,
        /// What is wrong with the value.
        problem: String,
    },
    /// The same mailbox is listed twice.
    #[error("{}: {identity:?} is listed twice ({first} and {second})", path.display())]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// The repeated identity.
        identity: String,
        /// Where it first appears (`line 3` or `mailboxes[2]`).
        first: String,
        /// Where it appears again.
        second: String,
    },
}

impl Inventory {
    /// Reads an inventory file: JSON when it ends in `.json` or starts with `{`, CSV otherwise.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            || text.trim_start().starts_with('{');
        if is_json {
            Inventory::from_json(text, path)
        } else {
            Inventory::from_csv(text, path)
        }
    }

    /// Reads the JSON of `cutover assess --json`; `origin` names the input in errors.
    pub fn from_json(text: &str, origin: &Path) -> Result<Inventory, InventoryError> {
        #[derive(Deserialize)]
        struct Assessment {
            mailboxes: Vec<MailboxSize>,
        }
        let assessment: Assessment =
            serde_json::from_str(text).map_err(|e| InventoryError::Json {
                path: origin.to_path_buf(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })?;
        let places = (0..assessment.mailboxes.len())
            .map(|i| format!("mailboxes[{i}]"))
            .collect();
        check_unique(&assessment.mailboxes, places, origin)?;
        Ok(Inventory {
            mailboxes: assessment.mailboxes,
        })
    }

    /// Reads the CSV form; `origin` names the input in errors.
    pub fn from_csv(text: &str, origin: &Path) -> Result<Inventory, InventoryError> {
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let first_line = text.lines().next().unwrap_or("");
        let delimiter = if first_line.contains(';') && !first_line.contains(',') {
            b';'
        } else {
            b','
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let bad_row = |line: u64, column: &str, problem: String| InventoryError::BadRow {
            path: origin.to_path_buf(),
            line,
            column: column.to_string(),
            problem,
        };
        let header = reader
            .headers()
            .map_err(|e| bad_row(1, "header", e.to_string()))?
            .clone();
        let find = |name: &'static str| {
            header
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name))
                .ok_or_else(|| InventoryError::MissingColumn {
                    path: origin.to_path_buf(),
                    column: name,
                    found: header.iter().collect::<Vec<_>>().join(", "),
                })
        };
        let (identity_at, messages_at, bytes_at) =
            (find("SourceIdentity")?, find("Messages")?, find("Bytes")?);

        let mut mailboxes = Vec::new();
        let mut places = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                bad_row(line, "row", e.to_string())
            })?;
            let line = record.position().map_or(0, |p| p.line());
            if record.iter().all(str::is_empty) {
                continue;
            }
            let field = |at: usize| -> Result<&str, InventoryError> {
                match record.get(at) {
                    Some(value) if !value.is_empty() => Ok(value),
                    _ => Err(bad_row(line, &header[at], "missing value".into())),
                }
            };
            let source_identity = field(identity_at)?.to_string();
            let messages_text = field(messages_at)?;
            let messages = messages_text.replace('_', "").parse::<u64>().map_err(|_| {
                bad_row(
                    line,
                    &header[messages_at],
                    format!("{messages_text:?} is not a whole number of messages"),
                )
            })?;
            let bytes = parse_size(field(bytes_at)?)
                .map_err(|e| bad_row(line, &header[bytes_at], e.to_string()))?;
            mailboxes.push(MailboxSize {
                source_identity,
                messages,
                bytes,
            });
            places.push(format!("line {line}"));
        }
        check_unique(&mailboxes, places, origin)?;
        Ok(Inventory { mailboxes })
    }

    /// All bytes to move.
    pub fn total_bytes(&self) -> u64 {
        self.mailboxes.iter().map(|m| m.bytes).sum()
    }

    /// All messages to move.
    pub fn total_messages(&self) -> u64 {
        self.mailboxes.iter().map(|m| m.messages).sum()
    }
}

/// Refuses an inventory that lists a mailbox twice: it would be planned (and moved) twice.
fn check_unique(
    mailboxes: &[MailboxSize],
    places: Vec<String>,
    origin: &Path,
) -> Result<(), InventoryError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, mailbox) in mailboxes.iter().enumerate() {
        if let Some(&first) = seen.get(mailbox.source_identity.as_str()) {
            return Err(InventoryError::Duplicate {
                path: origin.to_path_buf(),
                identity: mailbox.source_identity.clone(),
                first: places[first].clone(),
                second: places[i].clone(),
            });
        }
        seen.insert(&mailbox.source_identity, i);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> &'static Path {
        Path::new("inv.csv")
    }

    #[test]
    fn csv_with_bom_any_case_sizes_and_extra_columns() {
        let text = "\u{FEFF}sourceidentity,Extra,MESSAGES,Bytes\r\n\
                    ann@a.com,x,1000,4GB\r\n\
                    bob@a.com,,20,512MiB\r\n\
                    \r\n\
                    eve@a.com,y,3,4096\r\n";
        let inventory = Inventory::from_csv(text, origin()).unwrap();
        assert_eq!(inventory.mailboxes.len(), 3);
        assert_eq!(inventory.mailboxes[0].bytes, 4_000_000_000);
        assert_eq!(inventory.mailboxes[1].bytes, 512 * 1024 * 1024);
        assert_eq!(inventory.mailboxes[2].messages, 3);
        assert_eq!(inventory.total_messages(), 1023);
    }

    #[test]
    fn csv_with_semicolons() {
        let text = "SourceIdentity;Messages;Bytes\nann@a.com;10;1MB\n";
        let inventory = Inventory::from_csv(text, origin()).unwrap();
        assert_eq!(inventory.mailboxes[0].bytes, 1_000_000);
    }

    #[test]
    fn bad_rows_name_file_line_and_column() {
        let text = "SourceIdentity,Messages,Bytes\nann@a.com,10,1MB\nbob@a.com,many,1MB\n";
        let err = Inventory::from_csv(text, origin()).unwrap_err().to_string();
        assert!(err.contains("inv.csv"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("Messages"), "{err}");
        assert!(err.contains("many"), "{err}");

        let text = "SourceIdentity,Messages,Bytes\nann@a.com,10,4 gallons\n";
        let err = Inventory::from_csv(text, origin()).unwrap_err().to_string();
        assert!(err.contains("line 2, column Bytes"), "{err}");
        assert!(err.contains("4 gallons"), "{err}");

        let text = "SourceIdentity,Messages,Bytes\nann@a.com,10\n";
        let err = Inventory::from_csv(text, origin()).unwrap_err().to_string();
        assert!(err.contains("line 2, column Bytes: missing value"), "{err}");
    }

    #[test]
    fn missing_column_and_duplicates() {
        let err = Inventory::from_csv("SourceIdentity,Bytes\na,1\n", origin())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no Messages column"), "{err}");
        let text = "SourceIdentity,Messages,Bytes\nann,1,1\nbob,1,1\nann,2,2\n";
        let err = Inventory::from_csv(text, origin()).unwrap_err().to_string();
        assert!(
            err.contains("\"ann\" is listed twice (line 2 and line 4)"),
            "{err}"
        );
    }

    #[test]
    fn json_ignores_unknown_fields() {
        let text = r#"{"generated": "x", "mailboxes": [
            {"source_identity": "ann@a.com", "messages": 10, "bytes": 750000, "folders": 3},
            {"source_identity": "bob@a.com", "messages": 0, "bytes": 0}
        ]}"#;
        let inventory = Inventory::from_json(text, Path::new("a.json")).unwrap();
        assert_eq!(inventory.mailboxes.len(), 2);
        assert_eq!(inventory.total_bytes(), 750_000);
    }

    #[test]
    fn json_errors_name_file_and_position() {
        let text = "{\"mailboxes\": [\n {\"source_identity\": \"ann\", \"messages\": 10}\n]}";
        let err = Inventory::from_json(text, Path::new("a.json"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("a.json:2:"), "{err}");
        assert!(err.contains("bytes"), "{err}");
    }

    #[test]
    fn load_picks_the_form_and_names_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("assessment.json");
        std::fs::write(&json, r#"{"mailboxes": []}"#).unwrap();
        assert!(Inventory::load(&json).unwrap().mailboxes.is_empty());
        let missing = dir.path().join("nope.csv");
        let err = Inventory::load(&missing).unwrap_err().to_string();
        assert!(err.contains("nope.csv: cannot read"), "{err}");
    }
}
