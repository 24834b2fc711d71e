//! Mailbox lists: the CSV file that names every mailbox of a batch (guide 3.5.6.3).
//!
//! The header row names the columns, in any order, case-insensitively, with spaces and
//! underscores ignored: `SourceIdentity`, `SourceServer`, `SourceLoginID`, `SourcePassword`,
//! `TargetIdentity`, `SourceRootFolder`, and the optional credentials of the access methods:
//! `SourceToken` (an OAuth bearer token), `TargetPassword`, `TargetToken`. The file is read as Excel saves it: an optional UTF-8
//! byte order mark, CRLF or LF line ends, quoted fields, and `;` instead of `,` as the separator
//! in locales with a decimal comma (detected from the header line). Rows whose fields are all
//! empty (Excel's trailing `,,,,,` rows) are skipped.
//!
//! Invariants: the whole file is checked in one pass and every problem is reported, with its line
//! and column, before anything starts; a password is never copied into a message (the field is
//! only ever checked for emptiness and then wrapped in a [`Secret`]).

use crate::imap::Endpoint;
use crate::secret::Secret;
use std::collections::HashMap;
use std::fmt;

/// One mailbox of the list, validated.
#[derive(Debug, Clone)]
pub struct MailboxRow {
    /// Line of the file where the row starts (1-based; the header is line 1).
    pub line: u64,
    /// The mailbox's name in reports (SourceIdentity).
    pub source_identity: String,
    /// The row's source server, when the SourceServer column is present and filled.
    pub source_server: Option<Endpoint>,
    /// The login name at the source (SourceLoginID).
    pub source_login_id: String,
    /// The password at the source (SourcePassword).
    pub source_password: Secret,
    /// The destination mailbox (TargetIdentity), defaulting to the SourceIdentity.
    pub target_identity: String,
    /// The folder of the source to copy from instead of the root (SourceRootFolder).
    pub source_root_folder: Option<String>,
    /// An OAuth bearer token for the source (SourceToken), when the column is filled.
    pub source_token: Option<Secret>,
    /// The password of the destination mailbox (TargetPassword), for individual access at the
    /// destination, when the column is filled.
    pub target_password: Option<Secret>,
    /// An OAuth bearer token for the destination (TargetToken), when the column is filled.
    pub target_token: Option<Secret>,
}

/// What the access method in use needs from every row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListRules {
    /// SourcePassword must be present and filled (individual and manually combined access);
    /// other methods take the admin's password or a token instead.
    pub source_password_required: bool,
}

impl Default for ListRules {
    /// SourcePassword required, as for individual access.
    fn default() -> Self {
        ListRules {
            source_password_required: true,
        }
    }
}

/// One thing wrong with a mailbox list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Line of the file (1-based).
    pub line: u64,
    /// Field index in the row (1-based), when the problem is about one field.
    pub column: Option<u64>,
    /// What is wrong. Never contains a password.
    pub message: String,
}

/// Every problem found in a mailbox list. Displays one line per problem, as
/// `users.csv:4:3: SourceLoginID is empty`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.origin, .problems))]
pub struct MailboxListError {
    /// Where the list came from (the file name), for messages.
    pub origin: String,
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

fn render(origin: &str, problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{origin}:{p}"));
    }
    out
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "{}:{}: {}", self.line, column, self.message),
            None => write!(f, "{}: {}", self.line, self.message),
        }
    }
}

/// The columns a mailbox list may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    SourceIdentity,
    SourceServer,
    SourceLoginId,
    SourcePassword,
    TargetIdentity,
    SourceRootFolder,
    SourceToken,
    TargetPassword,
    TargetToken,
}

impl Column {
    const ALL: [Column; 9] = [
        Column::SourceIdentity,
        Column::SourceServer,
        Column::SourceLoginId,
        Column::SourcePassword,
        Column::TargetIdentity,
        Column::SourceRootFolder,
        Column::SourceToken,
        Column::TargetPassword,
        Column::TargetToken,
    ];

    fn name(self) -> &'static str {
        match self {
            Column::SourceIdentity => "SourceIdentity",
            Column::SourceServer => "SourceServer",
            Column::SourceLoginId => "SourceLoginID",
            Column::SourcePassword => "SourcePassword",
            Column::TargetIdentity => "TargetIdentity",
            Column::SourceRootFolder => "SourceRootFolder",
            Column::SourceToken => "SourceToken",
            Column::TargetPassword => "TargetPassword",
            Column::TargetToken => "TargetToken",
        }
    }

    fn required(self, rules: &ListRules) -> bool {
        match self {
            Column::SourceIdentity | Column::SourceLoginId => true,
            Column::SourcePassword => rules.source_password_required,
            _ => false,
        }
    }

    /// The column a header cell names, ignoring case, spaces and underscores.
    fn from_header(cell: &str) -> Option<Column> {
        let key: String = cell
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        Column::ALL
            .into_iter()
            .find(|c| c.name().to_ascii_lowercase() == key)
    }
}

fn expected_columns() -> String {
    Column::ALL
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Strips a UTF-8 byte order mark.
fn strip_bom(data: &[u8]) -> &[u8] {
    data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data)
}

/// `;` when the header line has more semicolons than commas outside quotes, else `,`.
fn detect_separator(data: &[u8]) -> u8 {
    let (mut commas, mut semicolons, mut quoted) = (0usize, 0usize, false);
    for &b in data {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas {
        b';'
    } else {
        b','
    }
}

/// Collects problems as the file is read.
struct Problems(Vec<Problem>);

impl Problems {
    fn at(&mut self, line: u64, column: Option<usize>, message: impl Into<String>) {
        self.0.push(Problem {
            line,
            column: column.map(|c| c as u64 + 1),
            message: message.into(),
        });
    }
}

/// Where each known column is in the header (0-based field index).
type ColumnIndex = HashMap<Column, usize>;

/// Reads the header row; `None` when it cannot be used (problems recorded).
fn read_header(
    header: &csv::ByteRecord,
    line: u64,
    rules: &ListRules,
    problems: &mut Problems,
) -> Option<ColumnIndex> {
    let mut index = ColumnIndex::new();
    let mut unknown = Vec::new();
    for (i, cell) in header.iter().enumerate() {
        let Ok(cell) = std::str::from_utf8(cell) else {
            unknown.push(i);
            continue;
        };
        if cell.trim().is_empty() {
            continue; // Excel keeps empty trailing header cells; they carry nothing.
        }
        match Column::from_header(cell) {
            Some(col) => {
                if let Some(first) = index.get(&col) {
                    problems.at(
                        line,
                        Some(i),
                        format!("column {} repeats column {}", col.name(), first + 1),
                    );
                } else {
                    index.insert(col, i);
                }
            }
            None => unknown.push(i),
        }
    }
    if index.is_empty() {
        // Probably a data row where the header should be: never echo its cells (a password).
        problems.at(
            line,
            None,
            format!(
                "the first line is not a header row; expected the columns {}",
                expected_columns()
            ),
        );
        return None;
    }
    for i in unknown {
        // The cell is not echoed: when the header is misaligned it may hold a password.
        problems.at(
            line,
            Some(i),
            format!(
                "unknown column name (expected one of {})",
                expected_columns()
            ),
        );
    }
    let mut usable = true;
    for col in Column::ALL {
        if col.required(rules) && !index.contains_key(&col) {
            problems.at(
                line,
                None,
                format!("required column {} is missing", col.name()),
            );
            usable = false;
        }
    }
    usable.then_some(index)
}

/// The first sighting of a value that must be unique, for duplicate reports.
struct Seen {
    line: u64,
}

/// Parses and validates a whole mailbox list. `origin` names the input in messages.
///
/// Returns every row, or every problem found in the file (with line and column).
pub fn parse_mailbox_list(data: &[u8], origin: &str) -> Result<Vec<MailboxRow>, MailboxListError> {
    parse_mailbox_list_with(data, origin, &ListRules::default())
}

/// [`parse_mailbox_list`] for an access method with other needs (`rules`).
pub fn parse_mailbox_list_with(
    data: &[u8],
    origin: &str,
    rules: &ListRules,
) -> Result<Vec<MailboxRow>, MailboxListError> {
    let data = strip_bom(data);
    let mut problems = Problems(Vec::new());
    let fail = |problems: Problems| MailboxListError {
        origin: origin.to_string(),
        problems: sorted(problems.0),
    };

    if data.iter().all(|b| b.is_ascii_whitespace()) {
        problems.at(
            1,
            None,
            format!(
                "the file is empty; expected a header row with the columns {}",
                expected_columns()
            ),
        );
        return Err(fail(problems));
    }

    // The csv crate's record positions lag behind CRLF ends and skipped blank lines, so line ends
    // are made uniform and each record's first line is counted here.
    let data = normalize_line_ends(data);
    let mut lines = LineCounter::default();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(detect_separator(&data))
        .has_headers(false)
        .flexible(true)
        .from_reader(data.as_slice());

    let mut record = csv::ByteRecord::new();
    let mut header: Option<(ColumnIndex, usize)> = None;
    let mut header_seen = false;
    let mut rows = Vec::new();
    let mut sources: HashMap<String, Seen> = HashMap::new();
    let mut targets: HashMap<String, Seen> = HashMap::new();

    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(1, |p| p.line());
                problems.at(
                    line,
                    None,
                    format!("unreadable CSV: {}", csv_error_kind(&e)),
                );
                break;
            }
        }
        let line = lines.record_start(&data, record.position().map_or(0, |p| p.byte()));
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue; // blank line or a row of empty cells
        }
        if !header_seen {
            header_seen = true;
            match read_header(&record, line, rules, &mut problems) {
                Some(index) => header = Some((index, record.len())),
                None => return Err(fail(problems)),
            }
            continue;
        }
        let Some((index, width)) = &header else {
            unreachable!("the header is read before any row");
        };
        if record.len() != *width {
            problems.at(
                line,
                None,
                format!(
                    "expected {width} fields as in the header, found {}",
                    record.len()
                ),
            );
            continue;
        }
        if let Some(row) = read_row(&record, line, index, rules, &mut problems) {
            let mut source_repeats = false;
            let key = row.source_identity.to_lowercase();
            if let Some(first) = sources.get(&key) {
                source_repeats = true;
                problems.at(
                    line,
                    Some(index[&Column::SourceIdentity]),
                    format!(
                        "SourceIdentity {:?} repeats line {}",
                        row.source_identity, first.line
                    ),
                );
            } else {
                sources.insert(key, Seen { line });
            }
            let key = row.target_identity.to_lowercase();
            if let Some(first) = targets.get(&key) {
                if !source_repeats {
                    let (column, what) = match index.get(&Column::TargetIdentity) {
                        Some(&c) if has_text(&record, c) => (c, "TargetIdentity"),
                        _ => (
                            index[&Column::SourceIdentity],
                            "target (from SourceIdentity)",
                        ),
                    };
                    problems.at(
                        line,
                        Some(column),
                        format!(
                            "{what} {:?} is already the target of line {}",
                            row.target_identity, first.line
                        ),
                    );
                }
            } else {
                targets.insert(key, Seen { line });
            }
            rows.push(row);
        }
    }

    if header.is_some() && rows.is_empty() && problems.0.is_empty() {
        problems.at(
            reader.position().line().max(2),
            None,
            "no mailboxes: the file has a header row but no data rows",
        );
    }
    if problems.0.is_empty() {
        Ok(rows)
    } else {
        Err(fail(problems))
    }
}

/// CRLF and lone CR (old Mac Excel) become LF.
fn normalize_line_ends(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut bytes = data.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if b == b'\r' {
            if bytes.peek() == Some(&b'\n') {
                bytes.next();
            }
            out.push(b'\n');
        } else {
            out.push(b);
        }
    }
    out
}

/// Counts lines up to each record's first byte; records come in increasing byte order.
#[derive(Default)]
struct LineCounter {
    /// Bytes already counted.
    counted: usize,
    /// Line breaks in `data[..counted]`.
    breaks: u64,
}

impl LineCounter {
    /// The 1-based line of the record whose read started at `byte` (blank lines it skipped are
    /// not part of it).
    fn record_start(&mut self, data: &[u8], byte: u64) -> u64 {
        let mut start = (byte as usize).min(data.len());
        while data.get(start) == Some(&b'\n') {
            start += 1;
        }
        if start >= self.counted {
            self.breaks += memchr::memchr_iter(b'\n', &data[self.counted..start]).count() as u64;
            self.counted = start;
        }
        self.breaks + 1
    }
}

fn sorted(mut problems: Vec<Problem>) -> Vec<Problem> {
    problems.sort_by_key(|p| (p.line, p.column));
    problems
}

/// The kind of a CSV error, without the record contents it may quote.
fn csv_error_kind(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Io(io) => io.to_string(),
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".into(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("expected {expected_len} fields, found {len}")
        }
        _ => "malformed record".into(),
    }
}

fn has_text(record: &csv::ByteRecord, i: usize) -> bool {
    record
        .get(i)
        .is_some_and(|f| !f.iter().all(u8::is_ascii_whitespace))
}

/// Validates one data row; `None` when it has problems (recorded).
fn read_row(
    record: &csv::ByteRecord,
    line: u64,
    index: &ColumnIndex,
    rules: &ListRules,
    problems: &mut Problems,
) -> Option<MailboxRow> {
    let before = problems.0.len();
    // A field's text: `None` when the column is absent; a problem when it is not UTF-8.
    let mut field = |col: Column, trim: bool| -> Option<String> {
        let &i = index.get(&col)?;
        let raw = record.get(i).unwrap_or_default();
        match std::str::from_utf8(raw) {
            Ok(s) if trim => Some(s.trim().to_string()),
            Ok(s) => Some(s.to_string()),
            Err(_) => {
                problems.at(
                    line,
                    Some(i),
                    format!(
                        "{} is not valid UTF-8 (save the file as \"CSV UTF-8\")",
                        col.name()
                    ),
                );
                None
            }
        }
    };
    let source_identity = field(Column::SourceIdentity, true);
    let source_server = field(Column::SourceServer, true);
    let source_login_id = field(Column::SourceLoginId, true);
    // The password is taken as written: leading or trailing spaces may be part of it.
    let source_password = field(Column::SourcePassword, false).map(Secret::new);
    let target_identity = field(Column::TargetIdentity, true);
    let source_root_folder = field(Column::SourceRootFolder, true);
    // Secrets are taken as written, like the password; an empty one counts as absent.
    let mut secret = |col: Column| field(col, false).filter(|s| !s.is_empty()).map(Secret::new);
    let source_token = secret(Column::SourceToken);
    let target_password = secret(Column::TargetPassword);
    let target_token = secret(Column::TargetToken);
    if problems.0.len() > before {
        return None;
    }

    let mut require = |col: Column, empty: bool| {
        if empty {
            problems.at(line, Some(index[&col]), format!("{} is empty", col.name()));
        }
    };
    require(
        Column::SourceIdentity,
        source_identity.as_deref().is_none_or(str::is_empty),
    );
    require(
        Column::SourceLoginId,
        source_login_id.as_deref().is_none_or(str::is_empty),
    );
    require(
        Column::SourcePassword,
        rules.source_password_required && source_password.as_ref().is_none_or(Secret::is_empty),
    );

    for (col, text) in [
        (Column::SourceIdentity, &source_identity),
        (Column::SourceLoginId, &source_login_id),
        (Column::TargetIdentity, &target_identity),
    ] {
        if let Some(why) = text.as_deref().and_then(|t| name_problem(col, t)) {
            problems.at(line, Some(index[&col]), format!("{} {why}", col.name()));
        }
    }
    if source_password
        .as_ref()
        .is_some_and(|p| p.expose().contains(['\0', '\r', '\n']))
    {
        problems.at(
            line,
            Some(index[&Column::SourcePassword]),
            "SourcePassword contains a line break or NUL character, which no IMAP login can carry",
        );
    }

    let source_server = match source_server.filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => match text.parse::<Endpoint>() {
            Ok(endpoint) => Some(endpoint),
            Err(e) => {
                problems.at(
                    line,
                    Some(index[&Column::SourceServer]),
                    format!("SourceServer: {e}"),
                );
                None
            }
        },
    };
    let source_root_folder = source_root_folder.filter(|f| !f.is_empty());
    if let Some(root) = &source_root_folder {
        if let Err(why) = check_source_root(root) {
            problems.at(
                line,
                Some(index[&Column::SourceRootFolder]),
                format!("SourceRootFolder {root:?} {why}"),
            );
        }
    }
    if problems.0.len() > before {
        return None;
    }
    let source_identity = source_identity.unwrap_or_default();
    let target_identity = target_identity
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| source_identity.clone());
    Some(MailboxRow {
        line,
        source_identity,
        source_server,
        source_login_id: source_login_id.unwrap_or_default(),
        source_password: source_password.unwrap_or_else(|| Secret::new("")),
        target_identity,
        source_root_folder,
        source_token,
        target_password,
        target_token,
    })
}

/// Longest identity or login name accepted: an address is at most 254 characters (RFC 5321)
/// and a login name fits in the same; anything longer is a pasted paragraph, not a name.
const MAX_NAME_CHARS: usize = 320;

/// Why an identity or login name (trimmed) cannot be one, if it cannot. The value itself is never
/// repeated: a shifted column may have put a password here.
fn name_problem(col: Column, text: &str) -> Option<String> {
    let chars = text.chars().count();
    if text.contains(char::is_control) {
        return Some("contains a control character (a line break or tab inside the field)".into());
    }
    if chars > MAX_NAME_CHARS {
        return Some(format!(
            "is {chars} characters long; at most {MAX_NAME_CHARS}"
        ));
    }
    // Identities are addresses when they have an `@`: check the form an address must have.
    if col != Column::SourceLoginId {
        if let Some((local, domain)) = text.rsplit_once('@') {
            if local.is_empty() {
                return Some("has nothing before `@`".into());
            }
            if domain.is_empty() {
                return Some("has nothing after `@`".into());
            }
            if domain.contains(char::is_whitespace)
                || domain.starts_with('.')
                || domain.ends_with('.')
                || domain.contains("..")
            {
                return Some("has a malformed domain after `@`".into());
            }
        }
    }
    None
}

/// Why a (trimmed, non-empty) SourceRootFolder cannot name one folder, if it cannot. Levels are
/// separated by `/` (or the source's delimiter, which is only known once connected).
fn check_source_root(root: &str) -> Result<(), &'static str> {
    let root = root.trim_end_matches('/').trim_end();
    if root.is_empty() {
        Err("names no folder, only the separator `/`")
    } else if root.contains(char::is_control) {
        Err("contains a control character")
    } else if root.contains(['*', '%']) {
        Err("contains a wildcard (`*`, `%`); name the one folder that holds this mailbox")
    } else if root.contains("//") {
        Err("has an empty level (`//`)")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::Security;

    const HEADER: &str = "SourceIdentity,SourceServer,SourceLoginID,SourcePassword,TargetIdentity,SourceRootFolder\n";

    fn problems(csv: &str) -> Vec<String> {
        match parse_mailbox_list(csv.as_bytes(), "users.csv") {
            Ok(rows) => panic!("accepted {} rows", rows.len()),
            Err(e) => e.to_string().lines().map(str::to_string).collect(),
        }
    }

    fn one_problem(csv: &str) -> String {
        let p = problems(csv);
        assert_eq!(p.len(), 1, "{p:#?}");
        p.into_iter().next().unwrap()
    }

    #[test]
    fn reads_a_plain_list() {
        let csv = format!(
            "{HEADER}joe@a.com,imaps://mail.a.com,joe,pw1,joe@b.com,Archive\n\
             ann@a.com,,ann,pw2,,\n"
        );
        let rows = parse_mailbox_list(csv.as_bytes(), "users.csv").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].source_identity, "joe@a.com");
        let server = rows[0].source_server.as_ref().unwrap();
        assert_eq!(
            (server.host.as_str(), server.security),
            ("mail.a.com", Security::Tls)
        );
        assert_eq!(rows[0].source_login_id, "joe");
        assert_eq!(rows[0].source_password.expose(), "pw1");
        assert_eq!(rows[0].target_identity, "joe@b.com");
        assert_eq!(rows[0].source_root_folder.as_deref(), Some("Archive"));
        assert_eq!(rows[1].line, 3);
        assert!(rows[1].source_server.is_none());
        assert_eq!(rows[1].target_identity, "ann@a.com");
        assert!(rows[1].source_root_folder.is_none());
    }

    #[test]
    fn source_root_folder_is_checked_and_kept_as_written() {
        let csv = format!(
            "{HEADER}joe@a.com,,joe,pw1,, ~/mail/SourceUser01/ \n\
             ann@a.com,,ann,pw2,,\" \"\n"
        );
        let rows = parse_mailbox_list(csv.as_bytes(), "users.csv").unwrap();
        assert_eq!(
            rows[0].source_root_folder.as_deref(),
            Some("~/mail/SourceUser01/")
        );
        assert!(rows[1].source_root_folder.is_none(), "blank means none");
        let csv = format!(
            "{HEADER}a@a.com,,a,pw,,/\n\
             b@a.com,,b,pw,,Archive//b\n\
             c@a.com,,c,pw,,user/*\n\
             d@a.com,,d,pw,,\"Archive\tc\"\n"
        );
        assert_eq!(
            problems(&csv),
            [
                "users.csv:2:6: SourceRootFolder \"/\" names no folder, only the separator `/`",
                "users.csv:3:6: SourceRootFolder \"Archive//b\" has an empty level (`//`)",
                "users.csv:4:6: SourceRootFolder \"user/*\" contains a wildcard (`*`, `%`); name the one folder that holds this mailbox",
                "users.csv:5:6: SourceRootFolder \"Archive\\tc\" contains a control character",
            ]
        );
    }

    #[test]
    fn accepts_excel_output_bom_crlf_semicolons_quotes() {
        let csv = "\u{FEFF}\"Source Identity\";\"source_login_id\";\"SOURCEPASSWORD\";\"Target Identity\"\r\n\
                   \"joe@a.com\";\"joe\";\"p;w,\"\"x\";\"\"\r\n\
                   ann@a.com;ann;secret;ann@b.com\r\n\
                   ;;;\r\n";
        let rows = parse_mailbox_list(csv.as_bytes(), "users.csv").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].source_identity, "joe@a.com");
        assert_eq!(rows[0].source_password.expose(), "p;w,\"x");
        assert_eq!(rows[0].target_identity, "joe@a.com");
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[1].target_identity, "ann@b.com");
    }

    #[test]
    fn optional_columns_may_be_absent() {
        let csv = "SourceLoginID,SourceIdentity,SourcePassword\njoe,joe@a.com,pw\n";
        let rows = parse_mailbox_list(csv.as_bytes(), "users.csv").unwrap();
        assert_eq!(rows[0].source_identity, "joe@a.com");
        assert_eq!(rows[0].source_login_id, "joe");
        assert!(rows[0].source_server.is_none());
    }

    #[test]
    fn quoted_field_with_newline_keeps_row_start_line() {
        let csv = format!("{HEADER}joe,,joe,\"multi\nline\",,\nann,,,pw,,\n");
        assert_eq!(
            problems(&csv),
            [
                "users.csv:2:4: SourcePassword contains a line break or NUL character, which no IMAP login can carry",
                "users.csv:4:3: SourceLoginID is empty",
            ]
        );
    }

    #[test]
    fn empty_file() {
        assert_eq!(
            one_problem(""),
            format!(
                "users.csv:1: the file is empty; expected a header row with the columns {}",
                expected_columns()
            )
        );
        one_problem("\u{FEFF}\r\n  \r\n");
    }

    #[test]
    fn header_without_rows() {
        assert_eq!(
            one_problem(HEADER),
            "users.csv:2: no mailboxes: the file has a header row but no data rows"
        );
    }

    #[test]
    fn missing_required_header() {
        let p = problems("SourceIdentity,SourceServer\njoe,imaps://x\n");
        assert_eq!(
            p,
            [
                "users.csv:1: required column SourceLoginID is missing",
                "users.csv:1: required column SourcePassword is missing",
            ]
        );
    }

    #[test]
    fn unknown_and_repeated_header_columns() {
        let p =
            problems("SourceIdentity,SourceLoginID,SourcePassword,TargetIdentiy,source identity\n");
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(
            p[0].starts_with("users.csv:1:4: unknown column name"),
            "{}",
            p[0]
        );
        assert_eq!(
            p[1],
            "users.csv:1:5: column SourceIdentity repeats column 1"
        );
    }

    #[test]
    fn data_row_instead_of_header() {
        let p = one_problem("joe@a.com,joe,Tr0ub4dor&3\n");
        assert!(
            p.starts_with("users.csv:1: the first line is not a header row"),
            "{p}"
        );
        assert!(!p.contains("Tr0ub4dor&3"));
    }

    #[test]
    fn empty_source_identity() {
        let csv = format!("{HEADER}joe,,joe,pw,,\n  ,,ann,pw,,\n");
        assert_eq!(one_problem(&csv), "users.csv:3:1: SourceIdentity is empty");
    }

    #[test]
    fn line_numbers_count_blank_lines_and_crlf() {
        let csv = format!("{HEADER}\n\njoe,,joe,pw,,\n,,,,,\n\nann,,,pw,,\n").replace('\n', "\r\n");
        assert_eq!(one_problem(&csv), "users.csv:7:3: SourceLoginID is empty");
        let csv = "SourceIdentity,SourceLoginID,SourcePassword\r\r\rjoe,,pw\r";
        assert_eq!(one_problem(csv), "users.csv:4:2: SourceLoginID is empty");
    }

    #[test]
    fn empty_login_id() {
        let csv = format!("{HEADER}joe,,,pw,,\n");
        assert_eq!(one_problem(&csv), "users.csv:2:3: SourceLoginID is empty");
    }

    #[test]
    fn empty_password() {
        let csv = format!("{HEADER}joe,,joe,,,\n");
        assert_eq!(one_problem(&csv), "users.csv:2:4: SourcePassword is empty");
    }

    #[test]
    fn unparsable_source_server() {
        let csv = format!("{HEADER}joe,http://mail,joe,pw,,\nann,mail:99999,ann,pw,,\n");
        let p = problems(&csv);
        assert_eq!(p.len(), 2);
        assert!(
            p[0].starts_with("users.csv:2:2: SourceServer: invalid server address"),
            "{}",
            p[0]
        );
        assert!(
            p[1].starts_with("users.csv:3:2: SourceServer: invalid server address"),
            "{}",
            p[1]
        );
        assert!(p[1].contains("bad port"), "{}", p[1]);
    }

    #[test]
    fn duplicate_source_identity_ignores_case() {
        let csv = format!("{HEADER}joe@a.com,,joe,pw,x,\nann,,ann,pw,,\nJOE@a.com,,joe,pw,y,\n");
        assert_eq!(
            one_problem(&csv),
            "users.csv:4:1: SourceIdentity \"JOE@a.com\" repeats line 2"
        );
    }

    #[test]
    fn duplicate_target_identity() {
        let csv = format!("{HEADER}joe,,joe,pw,shared,\nann,,ann,pw,shared,\n");
        assert_eq!(
            one_problem(&csv),
            "users.csv:3:5: TargetIdentity \"shared\" is already the target of line 2"
        );
    }

    #[test]
    fn duplicate_defaulted_target_identity() {
        let csv = format!("{HEADER}joe,,joe,pw,ann,\nann,,ann,pw,,\n");
        assert_eq!(
            one_problem(&csv),
            "users.csv:3:1: target (from SourceIdentity) \"ann\" is already the target of line 2"
        );
    }

    #[test]
    fn wrong_field_count() {
        let csv = format!("{HEADER}joe,,joe,pw,,\nann,,ann,pw\nbob,,bob,pw,,,extra\n");
        assert_eq!(
            problems(&csv),
            [
                "users.csv:3: expected 6 fields as in the header, found 4",
                "users.csv:4: expected 6 fields as in the header, found 7",
            ]
        );
    }

    #[test]
    fn invalid_utf8_field() {
        let mut csv = HEADER.as_bytes().to_vec();
        csv.extend_from_slice(b"j\xF6rg,,joerg,pw,,\n");
        let e = parse_mailbox_list(&csv, "users.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "users.csv:2:1: SourceIdentity is not valid UTF-8 (save the file as \"CSV UTF-8\")"
        );
    }

    #[test]
    fn reports_every_problem_in_one_pass() {
        let csv =
            format!("{HEADER}joe,,,pw,,\n,,ann,,,\nbob,bad://x,bob,pw,,\njoe,,joe2,pw,,\nshort\n");
        assert_eq!(
            problems(&csv),
            [
                "users.csv:2:3: SourceLoginID is empty",
                "users.csv:3:1: SourceIdentity is empty",
                "users.csv:3:4: SourcePassword is empty",
                "users.csv:4:2: SourceServer: invalid server address \"bad://x\": unknown scheme (use imaps://, imap:// or imap+plain://)",
                "users.csv:6: expected 6 fields as in the header, found 1",
            ]
        );
        // Line 5 repeats joe of line 2, but line 2 was rejected, so there is no first sighting.
    }

    #[test]
    fn names_with_control_characters_bad_addresses_or_pasted_paragraphs() {
        let long = "x".repeat(400);
        let csv = format!(
            "{HEADER}\"jo\ne\",,joe,pw,,\n\
             ann,,\"a\tn\",pw,,\n\
             bob,,bob,pw,bob@,\n\
             @c.com,,c,pw,,\n\
             dee,,dee,pw,dee@b..com,\n\
             {long},,eve,pw,eve@b.com,\n\
             fay,,fay,\"p\rw\",,\n"
        );
        assert_eq!(
            problems(&csv),
            [
                "users.csv:2:1: SourceIdentity contains a control character (a line break or tab inside the field)",
                "users.csv:4:3: SourceLoginID contains a control character (a line break or tab inside the field)",
                "users.csv:5:5: TargetIdentity has nothing after `@`",
                "users.csv:6:1: SourceIdentity has nothing before `@`",
                "users.csv:7:5: TargetIdentity has a malformed domain after `@`",
                "users.csv:8:1: SourceIdentity is 400 characters long; at most 320",
                "users.csv:9:4: SourcePassword contains a line break or NUL character, which no IMAP login can carry",
            ]
        );
    }

    #[test]
    fn error_text_never_contains_a_password() {
        let pw = "S3cr3t-p@ss";
        let csv = format!(
            "SourceIdentity;SourceLoginID;SourcePassword;TargetIdentity;Bogus\r\n\
             joe;;{pw};;x\r\n\
             joe;joe;{pw};;x\r\n\
             joe;joe;{pw};;x\r\n\
             ann;ann;{pw}\r\n\
             {pw};{pw};{pw};{pw};{pw}\r\n"
        );
        let e = parse_mailbox_list(csv.as_bytes(), "users.csv").unwrap_err();
        let text = format!("{e}\n{e:?}");
        assert!(e.problems.len() >= 4, "{text}");
        assert!(!text.contains(pw), "{text}");
        let e = parse_mailbox_list(format!("{pw},{pw}\n").as_bytes(), "users.csv").unwrap_err();
        assert!(!format!("{e}\n{e:?}").contains(pw));
    }

    #[test]
    fn access_columns_are_optional_secrets_and_the_password_may_be_waived() {
        let data =
            b"SourceIdentity,SourceLoginID,SourcePassword,SourceToken,TargetPassword,TargetToken\n\
                     joe,joe,pw, tok-1 ,Dest-pw,\n\
                     ann,ann,pw,,,\n";
        let rows = parse_mailbox_list(data, "u.csv").unwrap();
        assert_eq!(
            rows[0].source_token.as_ref().map(Secret::expose),
            Some(" tok-1 ")
        );
        assert_eq!(
            rows[0].target_password.as_ref().map(Secret::expose),
            Some("Dest-pw")
        );
        assert!(rows[0].target_token.is_none() && rows[1].source_token.is_none());

        let no_passwords = b"SourceIdentity,SourceLoginID\njoe,joe\n";
        let waived = ListRules {
            source_password_required: false,
        };
        let rows = parse_mailbox_list_with(no_passwords, "u.csv", &waived).unwrap();
        assert!(rows[0].source_password.is_empty());
        let err = parse_mailbox_list(no_passwords, "u.csv").unwrap_err();
        assert_eq!(
            err.to_string(),
            "u.csv:1: required column SourcePassword is missing"
        );
        let empty = b"SourceIdentity,SourceLoginID,SourcePassword\njoe,joe,\n";
        assert!(parse_mailbox_list_with(empty, "u.csv", &waived).is_ok());
    }
}
