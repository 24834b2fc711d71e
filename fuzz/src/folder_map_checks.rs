//! What both folder-map targets check, from the module's promises:
//! - never panics;
//! - an error names the origin, a position inside the text (or none), and reads
//!   `origin[:line:column]: problem`;
//! - a map that loads sends each of its exact rules' source names to that rule's target;
//! - resolving any usable source name (no empty level) at a destination gives a usable name in
//!   the destination's delimiter (no empty level); `exists` only when the destination has it;
//!   a special folder's name is the destination's folder of that kind, else its Exchange name.

use cutover_engine::transform::folder_map::{
    DestinationFolders, FolderMap, FolderMapError, MapTarget, MatchedBy,
};

const ORIGIN: &str = "fuzz.foldermap";

/// Source names every map is asked about, besides those taken from the text.
const PROBES: &[&str] = &[
    "INBOX",
    "Inbox/Sub",
    "Sent",
    "Sent/2019",
    "Spam",
    "Junk",
    "Important Mail",
    "Important Mail/Old",
    "Archive/2019",
    "[Gmail]/Spam",
    "Gesendete Elemente",
    "a.b/c",
];

/// Parses `text` with `parse` and checks the map or the error.
pub(crate) fn check(text: &str, parse: fn(&str, &str) -> Result<FolderMap, FolderMapError>) {
    match parse(text, ORIGIN) {
        Ok(map) => check_map(&map, text),
        Err(error) => check_error(&error, text),
    }
}

fn check_error(error: &FolderMapError, text: &str) {
    assert_eq!(error.origin, ORIGIN);
    let position = error.position;
    if position.line != 0 {
        let lines = text.split('\n').count();
        assert!(
            position.line <= lines && position.column >= 1,
            "position {}:{} outside the text's {lines} lines: {error}",
            position.line,
            position.column
        );
    }
    assert!(error.to_string().starts_with(ORIGIN), "{error}");
}

fn check_map(map: &FolderMap, text: &str) {
    for (source, target) in map.exact_rules() {
        assert_eq!(
            map.rule_for(source, None),
            (target.clone(), MatchedBy::Exact),
            "exact rule {source:?} does not apply to its own name"
        );
    }
    let from_text = text
        .split(['"', '\'', '<', '>', '=', '\n', '[', ']'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .take(32);
    let exact = map.exact_rules().map(|(source, _)| source);
    let mut sources: Vec<String> = Vec::new();
    for name in PROBES.iter().copied().chain(exact).chain(from_text) {
        sources.push(name.to_string());
        sources.push(format!("{name}/2019"));
    }
    sources.retain(|s| is_usable(s, '/'));

    let exchange = DestinationFolders::new('/')
        .with_folder("INBOX", None)
        .with_folder("Sent Items", Some("\\Sent"))
        .with_folder("Junk Email", Some("\\Junk"))
        .with_folder("Inbox/Important", None);
    let dovecot = DestinationFolders::new('.')
        .with_folder("INBOX", None)
        .with_folder("Sent", Some("\\Sent"))
        .with_folder("Trash", None);
    for dest in [&exchange, &dovecot] {
        for source in &sources {
            for special_use in [None, Some("\\Sent"), Some("\\Junk")] {
                check_resolved(map, source, special_use, dest);
            }
        }
    }
}

fn check_resolved(
    map: &FolderMap,
    source: &str,
    special_use: Option<&str>,
    dest: &DestinationFolders,
) {
    let target = map.resolve(source, special_use, dest);
    let context = format!("{source:?} ({special_use:?}) -> {target:?}");
    assert!(
        is_usable(&target.name, dest.delimiter()),
        "unusable destination name: {context}"
    );
    if target.exists {
        assert!(dest.contains(&target.name), "exists but absent: {context}");
    }
    if target.matched_by != MatchedBy::Parent {
        if let (MapTarget::Special(special), _) = map.rule_for(source, special_use) {
            let expected = dest
                .find_special(special)
                .unwrap_or(special.exchange_name());
            assert_eq!(target.name, expected, "special folder misplaced: {context}");
            assert_eq!(target.special, Some(special), "{context}");
        }
    }
}

/// At least one level, and no level empty or only whitespace.
fn is_usable(name: &str, delimiter: char) -> bool {
    !name.is_empty() && name.split(delimiter).all(|level| !level.trim().is_empty())
}
