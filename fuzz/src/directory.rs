//! `directory`: arbitrary text through both directory readers, LDIF and CSV. Checked:
//! - never panics;
//! - an error names the origin and a 1-based line inside the text, and reads
//!   `origin:line: problem`;
//! - a directory that loads answers lookups, ignoring ASCII case, and a rewriter built from it
//!   never panics on a message naming the text's values.

use cutover_engine::transform::address_rewrite::{
    AddressRewriter, Directory, DirectoryError, DomainMap,
};

const ORIGIN: &str = "fuzz.directory";

/// Reads `data` (lossily as UTF-8, as any text file) as LDIF and as CSV and checks the results.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for result in [
        Directory::from_ldif(&text, ORIGIN),
        Directory::from_csv(&text, ORIGIN),
    ] {
        match result {
            Ok(directory) => check_directory(directory, &text),
            Err(error) => check_error(&error, &text),
        }
    }
}

fn check_error(error: &DirectoryError, text: &str) {
    assert_eq!(error.origin, ORIGIN);
    let lines = text.lines().count();
    assert!(
        (1..=lines + 1).contains(&error.line),
        "error line {} outside the text's {lines} lines: {error}",
        error.line
    );
    let prefix = format!("{ORIGIN}:{}: ", error.line);
    assert!(error.to_string().starts_with(&prefix), "{error}");
}

fn check_directory(directory: Directory, text: &str) {
    // Probe with the text's own values: `attr: value` and the CSV cells.
    let values: Vec<&str> = text
        .lines()
        .flat_map(|line| line.split([':', ',', ';']))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .take(64)
        .collect();
    for value in &values {
        let found = directory.resolve_dn(value);
        assert_eq!(
            directory.resolve_dn(&value.to_ascii_uppercase()),
            found,
            "lookup is not case-insensitive for {value:?}"
        );
        let _ = directory.resolve_proxy("X500", value);
    }
    let mut message = String::new();
    for value in &values {
        message.push_str(&format!("To: <{value}>, <EX:{value}>\r\n"));
    }
    message.push_str("\r\nbody\r\n");
    let domains: DomainMap = [("adatum.com", "contoso.com")].into_iter().collect();
    let _ = AddressRewriter::new(directory, domains, true).rewrite(message.as_bytes());
}
