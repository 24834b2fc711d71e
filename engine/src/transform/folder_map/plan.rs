//! The folder map applied to a whole source folder list: (source → target) for each folder,
//! with merges flagged, for `--dry-run` and for the copier's folder plan.

use super::destination::DestinationFolders;
use super::map::FolderMap;
use super::resolve::Target;
use crate::imap::mutf7;
use crate::plan::folders::{translate_name, ListedFolder};
use std::collections::HashMap;

/// One source folder and its destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderMapping {
    /// The source name, decoded, as the source delimits it.
    pub source: String,
    /// The source name as the rules saw it: `/` between levels.
    pub source_path: String,
    /// Where it goes.
    pub target: Target,
    /// Whether other source folders go to the same target (their messages merge).
    pub merged: bool,
}

/// Maps every selectable source folder, in LIST order.
///
/// `\Noselect` containers are skipped (their children are mapped), as are folders outside the
/// map's SourceRootFolder; the root itself is the mailbox's INBOX. Two sources whose targets
/// are the same name (after resolution, so `Junk` and `Spam` both landing in `Junk Email`
/// count) are both flagged `merged`.
pub fn plan_folder_map(
    map: &FolderMap,
    source: &[ListedFolder],
    dest: &DestinationFolders,
) -> Vec<FolderMapping> {
    let mut plans: Vec<FolderMapping> = source
        .iter()
        .filter(|f| f.selectable())
        .filter_map(|f| {
            let decoded = mutf7::decode_lossless(&f.wire);
            let source_path = translate_name(&decoded, f.delimiter, '/');
            map.strip_root(&source_path)?;
            let target = map.resolve(&source_path, f.special_use(), dest);
            Some(FolderMapping {
                source: decoded,
                source_path,
                target,
                merged: false,
            })
        })
        .collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for p in &plans {
        *count.entry(p.target.name.as_str()).or_default() += 1;
    }
    let merged: Vec<bool> = plans
        .iter()
        .map(|p| count[p.target.name.as_str()] > 1)
        .collect();
    for (p, m) in plans.iter_mut().zip(merged) {
        p.merged = m;
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::super::{parse_foldermap_xml, MatchedBy, SpecialFolder};
    use super::*;

    fn listed(wire: &str, delim: char, attrs: &[&str]) -> ListedFolder {
        ListedFolder {
            wire: wire.into(),
            delimiter: Some(delim),
            attributes: attrs.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn exchange() -> DestinationFolders {
        DestinationFolders::new('/')
            .with_folder("INBOX", None)
            .with_folder("Sent Items", Some("\\Sent"))
            .with_folder("Drafts", Some("\\Drafts"))
            .with_folder("Deleted Items", Some("\\Trash"))
            .with_folder("Junk Email", Some("\\Junk"))
    }

    #[test]
    fn plans_a_dovecot_mailbox_onto_exchange_with_merges_flagged() {
        let src = vec![
            listed("INBOX", '.', &[]),
            listed("INBOX.Sent", '.', &["\\Sent"]),
            listed("Spam", '.', &[]),
            listed("Junk", '.', &["\\Junk"]),
            listed("Projects", '.', &["\\Noselect"]),
            listed("Projects.&AMk-t&AOk-", '.', &[]),
        ];
        let plan = plan_folder_map(&FolderMap::default(), &src, &exchange());
        let got: Vec<(&str, &str, bool)> = plan
            .iter()
            .map(|p| (p.source.as_str(), p.target.name.as_str(), p.merged))
            .collect();
        assert_eq!(
            got,
            [
                ("INBOX", "INBOX", false),
                ("INBOX.Sent", "Sent Items", false),
                ("Spam", "Junk Email", true),
                ("Junk", "Junk Email", true),
                ("Projects.Été", "Projects/Été", false),
            ]
        );
        assert_eq!(plan[1].source_path, "INBOX/Sent");
        assert_eq!(plan[1].target.matched_by, MatchedBy::SourceSpecialUse);
        assert_eq!(plan[2].target.matched_by, MatchedBy::DefaultName);
        assert!(plan[2].target.exists && !plan[4].target.exists);
    }

    #[test]
    fn source_root_strips_the_prefix_skips_folders_outside_it_and_is_the_inbox() {
        let src = vec![
            listed("INBOX", '/', &[]),
            listed("~/mail/SourceUser01", '/', &[]),
            listed("~/mail/SourceUser01/Sent", '/', &[]),
            listed("~/mail/SourceUser01/Important Mail", '/', &[]),
            listed("~/mail/SourceUser02/Sent", '/', &[]),
        ];
        let xml = r#"<Folder path="Important Mail"><Property Name="Inbox/Important"/></Folder>"#;
        let map = parse_foldermap_xml(xml, "map.xml")
            .unwrap()
            .with_source_root("~/mail/SourceUser01/");
        let plan = plan_folder_map(&map, &src, &exchange());
        let got: Vec<(&str, &str)> = plan
            .iter()
            .map(|p| (p.source.as_str(), p.target.name.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("~/mail/SourceUser01", "INBOX"),
                ("~/mail/SourceUser01/Sent", "Sent Items"),
                ("~/mail/SourceUser01/Important Mail", "INBOX/Important"),
            ]
        );
        assert_eq!(plan[0].target.special, Some(SpecialFolder::Inbox));
        assert_eq!(plan[1].target.special, Some(SpecialFolder::SentItems));
        assert!(plan.iter().all(|p| !p.merged));
    }
}
