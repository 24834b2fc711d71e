//! What the destination's LIST showed: folder names and their SPECIAL-USE attributes.

use super::special::{fold, SpecialFolder};
use crate::imap::mutf7;
use crate::plan::folders::ListedFolder;

/// The destination's folders, as its LIST (with RFC 6154 SPECIAL-USE) showed them.
///
/// Names are decoded (not modified UTF-7) and use the destination's hierarchy delimiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationFolders {
    delimiter: char,
    folders: Vec<(String, Option<String>)>,
}

impl DestinationFolders {
    /// No folders yet, with the destination's hierarchy delimiter (`/` on Exchange).
    pub fn new(delimiter: char) -> Self {
        DestinationFolders {
            delimiter,
            folders: Vec::new(),
        }
    }

    /// Adds a folder by its decoded name and its SPECIAL-USE attribute (`\Sent`, ...), if any.
    pub fn push(&mut self, name: impl Into<String>, special_use: Option<&str>) {
        self.folders
            .push((name.into(), special_use.map(str::to_string)));
    }

    /// [`push`](Self::push), builder style (handy in tests and examples).
    pub fn with_folder(mut self, name: impl Into<String>, special_use: Option<&str>) -> Self {
        self.push(name, special_use);
        self
    }

    /// From the destination's LIST responses; the delimiter is the first one listed (`/` if
    /// none is).
    pub fn from_listed(listed: &[ListedFolder]) -> Self {
        let delimiter = listed.iter().find_map(|f| f.delimiter).unwrap_or('/');
        let mut dest = DestinationFolders::new(delimiter);
        for f in listed {
            dest.push(mutf7::decode_lossless(&f.wire), f.special_use());
        }
        dest
    }

    /// The destination's hierarchy delimiter.
    pub fn delimiter(&self) -> char {
        self.delimiter
    }

    /// Whether a folder of exactly this name exists (`INBOX` in any case).
    pub fn contains(&self, name: &str) -> bool {
        self.folders.iter().any(|(n, _)| {
            n == name || (n.eq_ignore_ascii_case("INBOX") && name.eq_ignore_ascii_case("INBOX"))
        })
    }

    /// The destination's folder of this special kind: the one advertising its SPECIAL-USE
    /// attribute, else the first existing folder with one of its known names (the Exchange
    /// name first). `None` when the destination has neither.
    pub fn find_special(&self, special: SpecialFolder) -> Option<&str> {
        if special == SpecialFolder::Inbox {
            return Some("INBOX");
        }
        if let Some(attr) = special.special_use() {
            let by_use = self
                .folders
                .iter()
                .find(|(_, u)| u.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(attr)));
            if let Some((name, _)) = by_use {
                return Some(name);
            }
        }
        special.known_names().iter().find_map(|known| {
            let known = fold(known);
            self.folders
                .iter()
                .find(|(n, _)| fold(n) == known)
                .map(|(n, _)| n.as_str())
        })
    }
}
