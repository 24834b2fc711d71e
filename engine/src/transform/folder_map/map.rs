//! The folder map itself: exact rules, regex rules, the built-in default map, and resolution of
//! one source folder against the destination's folders.

use super::destination::DestinationFolders;
use super::error::Problem;
use super::special::{fold, SpecialFolder};
use super::template::Template;
use crate::plan::folders::translate_name;
use regex::Regex;
use std::fmt;

/// Where a rule sends a source folder, as the map file says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapTarget {
    /// One of Exchange's default folders (`SpecialFolder="Junk E-mail"`,
    /// `{ special = "Junk E-mail" }`): resolved to the destination's real folder of that kind.
    Special(SpecialFolder),
    /// A folder path with `/` between levels (`Name="Inbox/Important"`), created if missing.
    Path(String),
}

impl fmt::Display for MapTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapTarget::Special(s) => write!(f, "special folder {:?}", s.exchange_name()),
            MapTarget::Path(p) => write!(f, "{p:?}"),
        }
    }
}

/// Which rule decided a [`Target`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    /// An exact rule (a Foldermap.xml `<Folder>`, a TOML `[exact]` entry).
    Exact,
    /// A `[regex]` rule.
    Regex,
    /// The default map, through the source folder's SPECIAL-USE attribute.
    SourceSpecialUse,
    /// The default map, through the source folder's name.
    DefaultName,
    /// No rule names the folder but one names a parent level: it moves with its parent.
    Parent,
    /// No rule: the name is kept.
    Unmapped,
}

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

/// A `[regex]` rule: a pattern over the whole (root-stripped, `/`-separated) source name.
#[derive(Debug, Clone)]
struct RegexRule {
    regex: Regex,
    target: RegexTarget,
}

#[derive(Debug, Clone)]
enum RegexTarget {
    Special(SpecialFolder),
    Path(Template),
}

/// A folder map: how source folder names become destination folders.
///
/// Precedence: exact rules, then regex rules in the order written, then the built-in default
/// map (the source's SPECIAL-USE attribute, then its name), else the name is kept. See the
/// module docs for the details.
#[derive(Debug, Clone)]
pub struct FolderMap {
    /// Exact rules: (folded source name, source name as written, target).
    exact: Vec<(String, String, MapTarget)>,
    regex: Vec<RegexRule>,
    default_map: bool,
    source_root: Option<String>,
}

impl Default for FolderMap {
    /// The built-in default map alone.
    fn default() -> Self {
        FolderMap {
            exact: Vec::new(),
            regex: Vec::new(),
            default_map: true,
            source_root: None,
        }
    }
}

impl FolderMap {
    /// A map with no rules and without the default map: every name is kept.
    pub fn identity() -> Self {
        FolderMap {
            default_map: false,
            ..FolderMap::default()
        }
    }

    /// Strips this SourceRootFolder (the mailbox list's column, e.g. `~/mail/SourceUser01` or
    /// `Archive`) from source names before any rule sees them. A trailing `/` is ignored.
    pub fn with_source_root(mut self, root: &str) -> Self {
        let root = root.trim().trim_end_matches('/');
        self.source_root = (!root.is_empty()).then(|| root.to_string());
        self
    }

    /// The SourceRootFolder set by [`with_source_root`](Self::with_source_root).
    pub fn source_root(&self) -> Option<&str> {
        self.source_root.as_deref()
    }

    /// Whether the built-in default map applies after the rules (true unless a TOML map says
    /// `default_map = false`).
    pub fn uses_default_map(&self) -> bool {
        self.default_map
    }

    pub(crate) fn set_default_map(&mut self, on: bool) {
        self.default_map = on;
    }

    /// Adds an exact rule. The same name (case-insensitive) twice is fine with the same target
    /// and a [`Problem::Conflict`] with another.
    pub(crate) fn add_exact(&mut self, source: &str, target: MapTarget) -> Result<(), Problem> {
        let key = fold(source);
        if let Some((_, _, first)) = self.exact.iter().find(|(k, _, _)| *k == key) {
            return if *first == target {
                Ok(())
            } else {
                Err(Problem::Conflict {
                    source_name: source.to_string(),
                    first: first.to_string(),
                    second: target.to_string(),
                })
            };
        }
        self.exact.push((key, source.to_string(), target));
        Ok(())
    }

    /// Adds a regex rule after those already added; `target` is a template (`Archive {1}`).
    pub(crate) fn add_regex_path(&mut self, pattern: &str, target: &str) -> Result<(), Problem> {
        let regex = compile(pattern)?;
        let template = Template::parse(target, &regex).map_err(|message| Problem::BadTemplate {
            template: target.to_string(),
            message,
        })?;
        self.regex.push(RegexRule {
            regex,
            target: RegexTarget::Path(template),
        });
        Ok(())
    }

    /// Adds a regex rule whose matches all go to one special folder.
    pub(crate) fn add_regex_special(
        &mut self,
        pattern: &str,
        special: SpecialFolder,
    ) -> Result<(), Problem> {
        let regex = compile(pattern)?;
        self.regex.push(RegexRule {
            regex,
            target: RegexTarget::Special(special),
        });
        Ok(())
    }

    /// The exact rules, in the order written: (source name as written, target).
    pub fn exact_rules(&self) -> impl Iterator<Item = (&str, &MapTarget)> {
        self.exact.iter().map(|(_, s, t)| (s.as_str(), t))
    }

    /// The source name the rules see: `source_name` with the SourceRootFolder and the `/`
    /// after it removed, or `None` when the folder is not inside the root (or is the root).
    pub fn strip_root<'a>(&self, source_name: &'a str) -> Option<&'a str> {
        match &self.source_root {
            None => Some(source_name),
            Some(root) => source_name
                .strip_prefix(root.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .filter(|rest| !rest.is_empty()),
        }
    }

    /// What the rules say about a source folder, before the destination is consulted.
    ///
    /// `source_name` is decoded, with `/` between levels (translate other delimiters first,
    /// e.g. with [`translate_name`]); a folder outside the SourceRootFolder is taken as is.
    /// `source_special_use` is its SPECIAL-USE attribute (`\Sent`, ...), if the source has one.
    pub fn rule_for(
        &self,
        source_name: &str,
        source_special_use: Option<&str>,
    ) -> (MapTarget, MatchedBy) {
        let name = self.strip_root(source_name).unwrap_or(source_name);
        self.rule_for_stripped(name, source_special_use)
    }

    /// [`rule_for`](Self::rule_for) on a name the SourceRootFolder is already stripped from.
    fn rule_for_stripped(
        &self,
        name: &str,
        source_special_use: Option<&str>,
    ) -> (MapTarget, MatchedBy) {
        let key = fold(name);
        if let Some((_, _, target)) = self.exact.iter().find(|(k, _, _)| *k == key) {
            return (target.clone(), MatchedBy::Exact);
        }
        for rule in &self.regex {
            if let Some(captures) = rule.regex.captures(name) {
                let target = match &rule.target {
                    RegexTarget::Special(s) => MapTarget::Special(*s),
                    RegexTarget::Path(t) => MapTarget::Path(t.render(&captures)),
                };
                // A template that renders no usable path (only empty groups) does not apply.
                if matches!(&target, MapTarget::Path(p) if !is_usable_path(p)) {
                    continue;
                }
                return (target, MatchedBy::Regex);
            }
        }
        if self.default_map {
            if let Some(s) = source_special_use.and_then(SpecialFolder::from_special_use) {
                return (MapTarget::Special(s), MatchedBy::SourceSpecialUse);
            }
            if let Some(s) = SpecialFolder::from_known_name(name) {
                return (MapTarget::Special(s), MatchedBy::DefaultName);
            }
        }
        (MapTarget::Path(name.to_string()), MatchedBy::Unmapped)
    }

    /// Where a source folder goes at this destination.
    ///
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

/// A target path is usable when it has at least one level and no empty level.
pub(crate) fn is_usable_path(path: &str) -> bool {
    !path.is_empty() && path.split('/').all(|level| !level.trim().is_empty())
}

fn compile(pattern: &str) -> Result<Regex, Problem> {
    Regex::new(pattern).map_err(|e| Problem::BadRegex {
        pattern: pattern.to_string(),
        message: e.to_string(),
    })
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
        assert_eq!(map.strip_root("Archive"), None);
        assert_eq!(map.strip_root("Archived/Spam"), None);
        let dest = exchange();
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
