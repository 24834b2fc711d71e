//! The folder map itself: exact rules, regex rules and the built-in default map, and what
//! they say about one source name ([`FolderMap::rule_for`]).

use super::error::Problem;
use super::special::{fold, SpecialFolder};
use super::template::Template;
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

/// Which rule decided a [`Target`](super::Target).
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
    /// `Archive`) from source names before any rule sees them: only the root and the folders
    /// under it belong to the mailbox (see [`strip_root`](Self::strip_root)). Levels are
    /// separated by `/`; a trailing `/` is ignored and a first level `inbox` is `INBOX`.
    pub fn with_source_root(mut self, root: &str) -> Self {
        let root = root.trim().trim_end_matches('/');
        self.source_root =
            (!root.is_empty()).then(|| crate::plan::folders::translate_name(root, Some('/'), '/'));
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
    /// after it removed, `INBOX` for the root itself, or `None` when the folder is outside the
    /// root (and so not part of this mailbox). See [`strip_source_root`].
    pub fn strip_root<'a>(&self, source_name: &'a str) -> Option<&'a str> {
        match &self.source_root {
            None => Some(source_name),
            Some(root) => strip_source_root(root, source_name),
        }
    }

    /// What the rules say about a source folder, before the destination is consulted.
    ///
    /// `source_name` is decoded, with `/` between levels (translate other delimiters first,
    /// e.g. with [`translate_name`](crate::plan::folders::translate_name)); a folder outside the SourceRootFolder is taken as is.
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
    pub(super) fn rule_for_stripped(
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
}

/// A mailbox under a SourceRootFolder (guide 3.5.6.2.2: the admin logs in and reaches each
/// mailbox relative to its root folder): `path` as the mailbox sees it, or `None` when it lies
/// outside `root`. Both are `/`-separated.
///
/// The root is the top of the mailbox, so its own messages are the mailbox's `INBOX` (as Cyrus
/// shows an admin `user/joe` for Joe's INBOX and `user/joe/Sent` for his Sent folder), and
/// `root/Sent` is `Sent`. A folder that merely starts with the same letters (`Archive/joe2`
/// under `Archive/joe`) is outside.
///
/// ```
/// use cutover_engine::transform::folder_map::strip_source_root;
///
/// assert_eq!(strip_source_root("Archive/joe", "Archive/joe/Sent"), Some("Sent"));
/// assert_eq!(strip_source_root("Archive/joe", "Archive/joe"), Some("INBOX"));
/// assert_eq!(strip_source_root("Archive/joe", "Archive/joe2"), None);
/// assert_eq!(strip_source_root("Archive/joe", "INBOX"), None);
/// ```
pub fn strip_source_root<'a>(root: &str, path: &'a str) -> Option<&'a str> {
    let rest = path.strip_prefix(root)?;
    if rest.is_empty() {
        return Some("INBOX");
    }
    rest.strip_prefix('/').filter(|rest| !rest.is_empty())
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
