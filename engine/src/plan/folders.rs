//! Folder plan: which source folders exist, what they are called at the destination, which to
//! create and subscribe.
//!
//! Names are decoded from modified UTF-7, split on the source's hierarchy delimiter and joined
//! with the destination's. A name component that contains the destination's delimiter gets that
//! character replaced with `_`, since it would otherwise invent a level of hierarchy. `INBOX` is
//! case-insensitive (RFC 3501) and always spelled `INBOX`. `\Noselect` containers are not copied
//! (their children are; the server creates the hierarchy).

use crate::imap::mutf7;
use crate::transform::folder_map::{DestinationFolders, FolderMap};
use std::borrow::Cow;
use std::collections::HashSet;

/// One LIST response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFolder {
    /// The name as on the wire (modified UTF-7).
    pub wire: String,
    /// Hierarchy delimiter (`None` for a flat namespace).
    pub delimiter: Option<char>,
    /// Attributes such as `\Noselect`, `\HasChildren`, `\Sent`, as sent.
    pub attributes: Vec<String>,
}

impl ListedFolder {
    /// False for `\Noselect` and `\NonExistent` entries.
    pub fn selectable(&self) -> bool {
        !self.attributes.iter().any(|a| {
            a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
        })
    }

    /// The RFC 6154 special-use attribute, if any.
    pub fn special_use(&self) -> Option<&str> {
        const USES: [&str; 7] = [
            "\\All",
            "\\Archive",
            "\\Drafts",
            "\\Flagged",
            "\\Junk",
            "\\Sent",
            "\\Trash",
        ];
        self.attributes
            .iter()
            .find(|a| USES.iter().any(|u| u.eq_ignore_ascii_case(a)))
            .map(String::as_str)
    }
}

/// One source folder and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderPlan {
    /// Source wire name.
    pub source_wire: String,
    /// Source name, decoded.
    pub source_name: String,
    /// Destination wire name.
    pub dest_wire: String,
    /// Destination name, decoded.
    pub dest_name: String,
    /// Special use at the source (`\Sent`, ...).
    pub special_use: Option<String>,
    /// Subscribed at the source.
    pub subscribed: bool,
}

/// Translates one decoded name between hierarchy delimiters.
pub fn translate_name(name: &str, from: Option<char>, to: char) -> String {
    let parts: Vec<&str> = match from {
        Some(d) => name.split(d).collect(),
        None => vec![name],
    };
    let mut out = String::with_capacity(name.len());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(to);
        }
        if i == 0 && part.eq_ignore_ascii_case("INBOX") {
            out.push_str("INBOX");
        } else if Some(to) != from {
            out.extend(part.chars().map(|c| if c == to { '_' } else { c }));
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Plans the selectable source folders, in LIST order.
pub fn plan_folders(
    source: &[ListedFolder],
    subscribed_wire: &HashSet<String>,
    dest_delimiter: char,
) -> Vec<FolderPlan> {
    plan_with(source, subscribed_wire, |f, name| {
        Some(translate_name(name, f.delimiter, dest_delimiter))
    })
}

/// Plans the selectable source folders through a folder map (Foldermap.xml or TOML, see
/// [`crate::transform::folder_map`]), in LIST order. A folder outside the map's source root is
/// not copied; several sources may meet at one destination folder (they merge). Special
/// folders go to the destination's folder of the same SPECIAL-USE, as listed in `dest`.
pub fn plan_folders_mapped(
    source: &[ListedFolder],
    subscribed_wire: &HashSet<String>,
    dest: &[ListedFolder],
    dest_delimiter: char,
    map: &FolderMap,
) -> Vec<FolderPlan> {
    let mut dest_folders = DestinationFolders::new(dest_delimiter);
    for f in dest {
        dest_folders.push(mutf7::decode_lossless(&f.wire), f.special_use());
    }
    plan_with(source, subscribed_wire, |f, name| {
        let path = translate_name(name, f.delimiter, '/');
        map.strip_root(&path)?;
        Some(map.resolve(&path, f.special_use(), &dest_folders).name)
    })
}

/// The folder map one mailbox is planned with: the run's `map` (`None` keeps every name) with
/// the mailbox's SourceRootFolder applied, so that only the root and the folders under it are
/// copied, the root into INBOX (see [`strip_source_root`]). `None` when there is neither.
///
/// The root may be written with `/` between levels or with the source's own hierarchy
/// delimiter (`Archive.joe` on a server whose delimiter is `.`); `listed` (the source's LIST)
/// tells which.
///
/// [`strip_source_root`]: crate::transform::folder_map::strip_source_root
pub fn mailbox_folder_map<'a>(
    map: Option<&'a FolderMap>,
    source_root: Option<&str>,
    listed: &[ListedFolder],
) -> Option<Cow<'a, FolderMap>> {
    let Some(root) = source_root else {
        return map.map(Cow::Borrowed);
    };
    let root = match listed.iter().find_map(|f| f.delimiter) {
        Some(d) if d != '/' => root.replace(d, "/"),
        _ => root.to_string(),
    };
    let map = map.cloned().unwrap_or_else(FolderMap::identity);
    Some(Cow::Owned(map.with_source_root(&root)))
}

/// Whether the map's SourceRootFolder, if it has one, is a folder of `listed` or the parent of
/// one. A root that names nothing is a mistake in the mailbox list, not an empty mailbox.
pub fn source_root_found(listed: &[ListedFolder], map: &FolderMap) -> bool {
    map.source_root().is_none()
        || listed.iter().any(|f| {
            let path = translate_name(&mutf7::decode_lossless(&f.wire), f.delimiter, '/');
            map.strip_root(&path).is_some()
        })
}

/// The plan of every selectable source folder that `dest_name(folder, decoded name)` names.
/// Two source folders that meet at one destination name (INBOX vs inbox) merge.
fn plan_with(
    source: &[ListedFolder],
    subscribed_wire: &HashSet<String>,
    dest_name: impl Fn(&ListedFolder, &str) -> Option<String>,
) -> Vec<FolderPlan> {
    let mut seen = HashSet::new();
    source
        .iter()
        .filter(|f| f.selectable())
        .filter_map(|f| {
            let source_name = mutf7::decode_lossless(&f.wire);
            let dest_name = dest_name(f, &source_name)?;
            let plan = FolderPlan {
                source_wire: f.wire.clone(),
                dest_wire: mutf7::encode(&dest_name),
                special_use: f.special_use().map(str::to_string),
                subscribed: subscribed_wire.contains(&f.wire),
                source_name,
                dest_name,
            };
            seen.insert((plan.source_wire.clone(), plan.dest_wire.clone()))
                .then_some(plan)
        })
        .collect()
}

/// Destination folders to create, parents before children, skipping those that exist
/// (INBOX always exists).
pub fn folders_to_create(
    plans: &[FolderPlan],
    dest_existing_wire: &HashSet<String>,
    dest_delimiter: char,
) -> Vec<String> {
    let mut want: Vec<&FolderPlan> = plans
        .iter()
        .filter(|p| !p.dest_wire.eq_ignore_ascii_case("INBOX"))
        .filter(|p| !dest_existing_wire.contains(&p.dest_wire))
        .collect();
    want.sort_by_key(|p| p.dest_name.matches(dest_delimiter).count());
    let mut seen = HashSet::new();
    want.into_iter()
        .filter(|p| seen.insert(p.dest_wire.clone()))
        .map(|p| p.dest_wire.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(wire: &str, delim: char, attrs: &[&str]) -> ListedFolder {
        ListedFolder {
            wire: wire.into(),
            delimiter: Some(delim),
            attributes: attrs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn translates_delimiters_and_keeps_inbox() {
        assert_eq!(
            translate_name("Archive.2024", Some('.'), '/'),
            "Archive/2024"
        );
        assert_eq!(translate_name("inbox.Sub", Some('.'), '/'), "INBOX/Sub");
        assert_eq!(translate_name("a/b.c", Some('.'), '/'), "a_b/c");
        assert_eq!(translate_name("a/b", Some('/'), '/'), "a/b");
        assert_eq!(translate_name("v1.2", None, '.'), "v1_2");
    }

    #[test]
    fn plans_selectable_folders_with_unicode_names() {
        let src = vec![
            listed("INBOX", '.', &[]),
            listed("Projets", '.', &["\\Noselect", "\\HasChildren"]),
            listed("Projets.&AMk-t&AOk-", '.', &["\\HasNoChildren"]),
            listed("Sent", '.', &["\\Sent"]),
        ];
        let subs: HashSet<String> = ["Sent".to_string()].into();
        let plans = plan_folders(&src, &subs, '/');
        let names: Vec<_> = plans.iter().map(|p| p.dest_name.as_str()).collect();
        assert_eq!(names, ["INBOX", "Projets/Été", "Sent"]);
        assert_eq!(plans[1].dest_wire, "Projets/&AMk-t&AOk-");
        assert_eq!(plans[2].special_use.as_deref(), Some("\\Sent"));
        assert!(plans[2].subscribed && !plans[0].subscribed);
    }

    #[test]
    fn a_source_root_copies_only_its_subtree_with_or_without_a_folder_map() {
        // Cyrus as an admin sees it, with '.' between levels; the list writes the root with '/'.
        let src = vec![
            listed("INBOX", '.', &[]),
            listed("user", '.', &["\\Noselect"]),
            listed("user.joe", '.', &[]),
            listed("user.joe.Sent", '.', &[]),
            listed("user.joe.Projects.2024", '.', &[]),
            listed("user.joey", '.', &[]),
            listed("user.ann.Sent", '.', &[]),
        ];
        let dest = [
            listed("INBOX", '/', &[]),
            listed("Sent Items", '/', &["\\Sent"]),
        ];
        let plan = |map: Option<&FolderMap>, root: Option<&str>| -> Vec<(String, String)> {
            let map = mailbox_folder_map(map, root, &src);
            let plans = match &map {
                Some(map) => plan_folders_mapped(&src, &HashSet::new(), &dest, '/', map),
                None => plan_folders(&src, &HashSet::new(), '/'),
            };
            plans
                .into_iter()
                .map(|p| (p.source_name, p.dest_name))
                .collect()
        };
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        // No folder map: names kept under the root, the root itself into INBOX.
        let want = pairs(&[
            ("user.joe", "INBOX"),
            ("user.joe.Sent", "Sent"),
            ("user.joe.Projects.2024", "Projects/2024"),
        ]);
        assert_eq!(plan(None, Some("user/joe")), want);
        assert_eq!(
            plan(None, Some("user.joe")),
            want,
            "the source's delimiter works too"
        );
        // The default map: Sent finds the destination's \Sent folder.
        let map = FolderMap::default();
        assert_eq!(
            plan(Some(&map), Some("user/joe/"))[1],
            ("user.joe.Sent".to_string(), "Sent Items".to_string())
        );
        // No root: the map as it is, every folder.
        assert_eq!(plan(None, None).len(), 6);
        assert!(mailbox_folder_map(Some(&map), None, &src)
            .is_some_and(|m| matches!(m, Cow::Borrowed(_))));
        // A root that names nothing is caught; a \Noselect parent counts as found.
        let found = |root: &str| {
            source_root_found(&src, &mailbox_folder_map(None, Some(root), &src).unwrap())
        };
        assert!(found("user/joe") && found("user/ann") && found("user"));
        assert!(!found("user/jo") && !found("users/joe"));
    }

    #[test]
    fn creates_parents_first_and_skips_existing() {
        let src = vec![
            listed("a.b.c", '.', &[]),
            listed("a", '.', &[]),
            listed("a.b", '.', &[]),
            listed("INBOX", '.', &[]),
            listed("x", '.', &[]),
        ];
        let plans = plan_folders(&src, &HashSet::new(), '/');
        let existing: HashSet<String> = ["x".to_string()].into();
        assert_eq!(
            folders_to_create(&plans, &existing, '/'),
            ["a", "a/b", "a/b/c"]
        );
    }

    #[test]
    fn a_folder_map_sends_spam_to_the_junk_folder_and_keeps_the_rest() {
        let listed = |wire: &str, attrs: &[&str]| ListedFolder {
            wire: wire.into(),
            delimiter: Some('.'),
            attributes: attrs.iter().map(|a| a.to_string()).collect(),
        };
        let source = vec![
            listed("INBOX", &[]),
            listed("Spam", &[]),
            listed("Important Mail", &[]),
            listed("Projects.2024", &[]),
        ];
        let dest = vec![
            ListedFolder {
                delimiter: Some('/'),
                ..listed("INBOX", &[])
            },
            ListedFolder {
                delimiter: Some('/'),
                ..listed("Junk", &["\\Junk"])
            },
        ];
        let xml = r#"<Folders>
            <Folder path="Spam"><Property SpecialFolder="Junk E-mail" /></Folder>
            <Folder path="Important Mail"><Property Name="Inbox/Important" /></Folder>
        </Folders>"#;
        let map = crate::transform::folder_map::parse_foldermap_xml(xml, "Foldermap.xml").unwrap();
        let plans = plan_folders_mapped(&source, &HashSet::new(), &dest, '/', &map);
        let names: Vec<(&str, &str)> = plans
            .iter()
            .map(|p| (p.source_name.as_str(), p.dest_name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("INBOX", "INBOX"),
                ("Spam", "Junk"),
                ("Important Mail", "INBOX/Important"),
                ("Projects.2024", "Projects/2024"),
            ]
        );
    }
}
