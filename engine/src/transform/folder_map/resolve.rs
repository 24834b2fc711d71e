//! Resolution: a rule's target placed at the destination, by SPECIAL-USE, by known names, or
//! as a path in the destination's delimiter.

use super::destination::DestinationFolders;
use super::map::{FolderMap, MapTarget, MatchedBy};
use super::special::SpecialFolder;
use crate::plan::folders::translate_name;

/// Where one source folder goes at the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The destination folder, decoded, levels joined with the destination's delimiter.
    pub name: String,
    /// The default folder it is, when the source maps to one.
    pub special: Option<SpecialFolder>,
    /// Which rule decided.
    pub matched_by: MatchedBy,
    /// Whether the destination already has the folder (else it is to be created).
    pub exists: bool,
}

impl FolderMap {
    /// Where a source folder goes at this destination.
    ///
    /// `source_name` is decoded, with `/` between levels, and `source_special_use` is its
    /// SPECIAL-USE attribute, as for [`rule_for`](Self::rule_for).
    /// A special folder becomes the destination's folder advertising its SPECIAL-USE
    /// attribute, else an existing folder with one of its known names, else its Exchange name
    /// (to be created). A path keeps its hierarchy, joined with the destination's delimiter
    /// (a level containing that delimiter gets `_` instead; `Inbox` as first level is `INBOX`).
    /// A folder no rule names, under a parent one does, moves with that parent
    /// ([`MatchedBy::Parent`]).
    pub fn resolve(
        &self,
        source_name: &str,
        source_special_use: Option<&str>,
        dest: &DestinationFolders,
    ) -> Target {
        let (target, matched_by) = self.rule_for(source_name, source_special_use);
        if matched_by == MatchedBy::Unmapped {
            let name = self.strip_root(source_name).unwrap_or(source_name);
            if let Some(under_parent) = self.resolve_under_parent(name, dest) {
                return under_parent;
            }
        }
        place(target, matched_by, dest)
    }

    /// A folder no rule names moves with its nearest parent that a rule or the default map
    /// names (`Sent/2019` → `Sent Items/2019`); `None` when there is none or nothing changes.
    fn resolve_under_parent(&self, name: &str, dest: &DestinationFolders) -> Option<Target> {
        let delimiter = dest.delimiter();
        let mut end = name.len();
        while let Some(slash) = name[..end].rfind('/') {
            end = slash;
            let (parent, rest) = (&name[..slash], &name[slash + 1..]);
            let (target, matched_by) = self.rule_for_stripped(parent, None);
            if parent.is_empty() || matched_by == MatchedBy::Unmapped {
                continue;
            }
            let parent = place(target, matched_by, dest);
            let mut moved = parent.name;
            for level in rest.split('/') {
                moved.push(delimiter);
                moved.extend(level.chars().map(|c| if c == delimiter { '_' } else { c }));
            }
            if moved == translate_name(name, Some('/'), delimiter) {
                return None;
            }
            return Some(Target {
                exists: dest.contains(&moved),
                name: moved,
                special: None,
                matched_by: MatchedBy::Parent,
            });
        }
        None
    }
}

/// Places a rule's target at the destination (see [`FolderMap::resolve`]).
fn place(target: MapTarget, matched_by: MatchedBy, dest: &DestinationFolders) -> Target {
    match target {
        MapTarget::Special(special) => {
            let found = dest.find_special(special);
            Target {
                name: found.unwrap_or(special.exchange_name()).to_string(),
                special: Some(special),
                matched_by,
                exists: found.is_some_and(|n| dest.contains(n)),
            }
        }
        MapTarget::Path(path) => {
            let name = translate_name(&path, Some('/'), dest.delimiter());
            Target {
                exists: dest.contains(&name),
                special: (name == "INBOX").then_some(SpecialFolder::Inbox),
                name,
                matched_by,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_foldermap_toml, DestinationFolders};
    use super::*;

    /// Exchange Online as its LIST shows it, with RFC 6154 attributes.
    fn exchange() -> DestinationFolders {
        DestinationFolders::new('/')
            .with_folder("INBOX", None)
            .with_folder("Sent Items", Some("\\Sent"))
            .with_folder("Drafts", Some("\\Drafts"))
            .with_folder("Deleted Items", Some("\\Trash"))
            .with_folder("Junk Email", Some("\\Junk"))
            .with_folder("Outbox", None)
            .with_folder("Calendar", None)
    }

    fn toml(text: &str) -> FolderMap {
        parse_foldermap_toml(text, "test.toml").unwrap()
    }

    #[test]
    fn seed_spam_goes_to_the_destinations_junk_folder_by_special_use() {
        let map = toml("[exact]\n\"Spam\" = { special = \"Junk E-mail\" }\n");
        let t = map.resolve("Spam", None, &exchange());
        assert_eq!(t.name, "Junk Email");
        assert_eq!(t.special, Some(SpecialFolder::JunkEmail));
        assert_eq!(t.matched_by, MatchedBy::Exact);
        assert!(t.exists);
    }

    #[test]
    fn seed_important_mail_goes_under_the_inbox() {
        let map = toml("[exact]\n\"Important Mail\" = \"Inbox/Important\"\n");
        let t = map.resolve("Important Mail", None, &exchange());
        assert_eq!(t.name, "INBOX/Important");
        assert_eq!(
            (t.special, t.matched_by, t.exists),
            (None, MatchedBy::Exact, false)
        );
        // Hierarchy is kept in the destination's delimiter.
        let dovecot = DestinationFolders::new('.').with_folder("INBOX", None);
        assert_eq!(
            map.resolve("important mail", None, &dovecot).name,
            "INBOX.Important"
        );
    }

    #[test]
    fn special_folder_without_special_use_finds_a_known_name_else_the_exchange_name() {
        let map = FolderMap::default();
        let dutch = DestinationFolders::new('/')
            .with_folder("INBOX", None)
            .with_folder("Verzonden items", None)
            .with_folder("Sent Items", None);
        // The Exchange name comes first among the known names.
        assert_eq!(map.resolve("Sent", None, &dutch).name, "Sent Items");
        let dutch_only = DestinationFolders::new('/').with_folder("Verzonden Items", None);
        let t = map.resolve("[Gmail]/Sent Mail", None, &dutch_only);
        assert_eq!((t.name.as_str(), t.exists), ("Verzonden Items", true));
        let bare = DestinationFolders::new('/').with_folder("INBOX", None);
        let t = map.resolve("Papierkorb", None, &bare);
        assert_eq!((t.name.as_str(), t.exists), ("Deleted Items", false));
        assert_eq!(map.resolve("Bulk Mail", None, &bare).name, "Junk E-mail");
    }

    #[test]
    fn special_use_beats_names_at_the_destination() {
        let dest = DestinationFolders::new('/')
            .with_folder("Junk E-mail", None)
            .with_folder("Spam", Some("\\Junk"));
        assert_eq!(
            FolderMap::default().resolve("Junk", None, &dest).name,
            "Spam"
        );
    }

    #[test]
    fn source_special_use_identifies_a_special_folder_under_any_name() {
        let map = FolderMap::default();
        let t = map.resolve("Gesendet von mir", Some("\\Sent"), &exchange());
        assert_eq!(t.name, "Sent Items");
        assert_eq!(t.matched_by, MatchedBy::SourceSpecialUse);
        // \All and \Archive have no Exchange counterpart: the name is kept.
        let t = map.resolve("[Gmail]/All Mail", Some("\\All"), &exchange());
        assert_eq!(
            (t.name.as_str(), t.matched_by),
            ("[Gmail]/All Mail", MatchedBy::Unmapped)
        );
    }

    #[test]
    fn exact_beats_regex_beats_default_map() {
        let map = toml(
            r#"
            [exact]
            "Trash" = "Old Trash"
            [regex]
            '^(Tr.*)$' = "Regex {1}"
            '^Sent$' = "Never reached"
            "#,
        );
        let dest = exchange();
        let t = map.resolve("trash", None, &dest);
        assert_eq!(
            (t.name.as_str(), t.matched_by),
            ("Old Trash", MatchedBy::Exact)
        );
        let t = map.resolve("Travel", None, &dest);
        assert_eq!(
            (t.name.as_str(), t.matched_by),
            ("Regex Travel", MatchedBy::Regex)
        );
        // The regex is tried before the default map, so "Sent" never reaches it...
        assert_eq!(map.resolve("Sent", None, &dest).name, "Never reached");
        // ...and a name no rule matches falls through to the default map.
        let t = map.resolve("Deleted Messages", None, &dest);
        assert_eq!(
            (t.name.as_str(), t.matched_by),
            ("Deleted Items", MatchedBy::DefaultName)
        );
    }

    #[test]
    fn regex_rules_apply_in_the_order_written() {
        let map = toml(
            r#"
            [regex]
            '^Archive/(\d{4})$' = "Archive {1}"
            '^Archive/(.*)$' = "Old/{1}"
            '^z' = "Z1"
            '^a' = "A2"
            '^[az]' = "AZ3"
            "#,
        );
        let dest = exchange();
        assert_eq!(
            map.resolve("Archive/2019", None, &dest).name,
            "Archive 2019"
        );
        assert_eq!(map.resolve("Archive/misc", None, &dest).name, "Old/misc");
        assert_eq!(map.resolve("zeta", None, &dest).name, "Z1");
        assert_eq!(map.resolve("alpha", None, &dest).name, "A2");
    }

    #[test]
    fn regex_to_special_folder_and_empty_render_falls_through() {
        let map = toml(
            r#"
            [regex]
            '(?i)^bulk' = { special = "Junk E-mail" }
            '^x(y)?$' = "{1}"
            "#,
        );
        let t = map.resolve("BULK stuff", None, &exchange());
        assert_eq!(
            (t.name.as_str(), t.matched_by),
            ("Junk Email", MatchedBy::Regex)
        );
        let t = map.resolve("xy", None, &exchange());
        assert_eq!(t.name, "y");
        // `{1}` is empty here: the rule does not apply and the name is kept.
        let t = map.resolve("x", None, &exchange());
        assert_eq!((t.name.as_str(), t.matched_by), ("x", MatchedBy::Unmapped));
    }

    #[test]
    fn default_map_can_be_turned_off() {
        let map = toml("default_map = false\n");
        assert!(!map.uses_default_map());
        let t = map.resolve("Sent", Some("\\Sent"), &exchange());
        assert_eq!(
            (t.name.as_str(), t.matched_by),
            ("Sent", MatchedBy::Unmapped)
        );
        let t = FolderMap::identity().resolve("inbox", None, &exchange());
        assert_eq!(
            (t.name.as_str(), t.special),
            ("INBOX", Some(SpecialFolder::Inbox))
        );
    }

    #[test]
    fn source_root_is_stripped_before_the_rules() {
        let map =
            toml("[exact]\n\"Important Mail\" = \"Inbox/Important\"\n").with_source_root("Archive");
        assert_eq!(map.source_root(), Some("Archive"));
        assert_eq!(map.strip_root("Archive/Spam"), Some("Spam"));
        assert_eq!(map.strip_root("Archive"), Some("INBOX"));
        assert_eq!(map.strip_root("Archived/Spam"), None);
        let dest = exchange();
        let root = map.resolve("Archive", None, &dest);
        assert_eq!(
            (root.name.as_str(), root.special),
            ("INBOX", Some(SpecialFolder::Inbox))
        );
        assert_eq!(map.resolve("Archive/Spam", None, &dest).name, "Junk Email");
        assert_eq!(
            map.resolve("Archive/Important Mail", None, &dest).name,
            "INBOX/Important"
        );
        assert_eq!(map.resolve("Archive/a/b", None, &dest).name, "a/b");
        assert_eq!(
            FolderMap::default().with_source_root(" / ").source_root(),
            None
        );
        assert_eq!(
            FolderMap::default()
                .with_source_root("inbox/joe/")
                .source_root(),
            Some("INBOX/joe")
        );
    }

    #[test]
    fn unmapped_names_keep_hierarchy_and_escape_the_destination_delimiter() {
        let dest = DestinationFolders::new('.');
        let t = FolderMap::default().resolve("Projects/v1.2", None, &dest);
        assert_eq!(
            (t.name.as_str(), t.matched_by),
            ("Projects.v1_2", MatchedBy::Unmapped)
        );
    }

    #[test]
    fn several_sources_onto_one_target_are_allowed() {
        let map = toml(
            "[exact]\n\"A\" = \"Merged\"\n\"B\" = { name = \"Merged\" }\n\"a\" = \"Merged\"\n",
        );
        let dest = exchange();
        assert_eq!(map.resolve("A", None, &dest), map.resolve("B", None, &dest));
        assert_eq!(map.exact_rules().count(), 2);
    }

    #[test]
    fn children_of_a_mapped_folder_move_with_it() {
        let map =
            toml("[exact]\n\"Important Mail\" = \"Inbox/Important\"\n").with_source_root("Archive");
        let dest = exchange();
        let t = map.resolve("Archive/Important Mail/2019/Q1", None, &dest);
        assert_eq!(
            (t.name.as_str(), t.matched_by, t.special),
            ("INBOX/Important/2019/Q1", MatchedBy::Parent, None)
        );
        let t = map.resolve("Archive/Sent/2019", None, &dest);
        assert_eq!(
            (t.name.as_str(), t.matched_by),
            ("Sent Items/2019", MatchedBy::Parent)
        );
        // Children of INBOX stay where they are, and say so.
        let t = map.resolve("inbox/Receipts", None, &dest);
        assert_eq!(
            (t.name.as_str(), t.matched_by),
            ("INBOX/Receipts", MatchedBy::Unmapped)
        );
        let t = map.resolve("Archive/Projects/Sent-ish", None, &dest);
        assert_eq!(
            (t.name.as_str(), t.matched_by),
            ("Projects/Sent-ish", MatchedBy::Unmapped)
        );
        let dovecot = DestinationFolders::new('.').with_folder("Sent", Some("\\Sent"));
        assert_eq!(
            map.resolve("Archive/Sent Messages/v1.2", None, &dovecot)
                .name,
            "Sent.v1_2"
        );
    }
}
