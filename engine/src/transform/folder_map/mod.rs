//! Folder mapping: which destination folder each source folder's messages go to.
//!
//! A [`FolderMap`] comes from the Microsoft migration tools' Foldermap.xml
//! ([`parse_foldermap_xml`], guide 3.6.4.1), from cutover's TOML form ([`parse_foldermap_toml`],
//! which adds regex rules), or is the built-in default ([`FolderMap::default`], printable with
//! [`render_default`]). Everything here is pure: text in, names out; no I/O.
//!
//! Resolving one source folder ([`FolderMap::resolve`]):
//! 1. The SourceRootFolder, if set, is stripped (`~/mail/SourceUser01/Spam` → `Spam`; the root
//!    itself is the mailbox's `INBOX`; folders outside it are not the mailbox's).
//! 2. **Exact rules** (Foldermap.xml `<Folder>`, TOML `[exact]`): name compared
//!    case-insensitively, whitespace folded.
//! 3. **Regex rules** (TOML `[regex]`), first match in the order written; `{1}` etc. insert
//!    capture groups.
//! 4. **The default map**: the source's SPECIAL-USE attribute (`\Sent`, `\Drafts`, `\Junk`,
//!    `\Trash`), then the known names of Exchange's default folders (Inbox, Outbox, Sent Items,
//!    Drafts, Deleted Items, Junk E-mail, Journal, Notes, Calendar) in Gmail, Dovecot, Courier,
//!    Cyrus, Zimbra, Exchange and Thunderbird spellings and in Dutch, German, French, Spanish
//!    and Portuguese.
//! 5. Otherwise, if a parent level matches one of the above, the folder moves with its nearest
//!    such parent (`Sent/2019` → `Sent Items/2019`, `Important Mail/Old` →
//!    `Inbox/Important/Old`); else the name is kept.
//!
//! A special folder then becomes the destination's folder with the same SPECIAL-USE attribute,
//! else an existing folder with one of its known names, else its Exchange name (`Sent Items`).
//! A path target (`Inbox/Important`) keeps its hierarchy in the destination's delimiter.
//! Several sources may map onto one target: their messages merge ([`plan_folder_map`] flags it).
//!
//! ```
//! use cutover_engine::transform::folder_map::{parse_foldermap_xml, DestinationFolders};
//!
//! let xml = r#"<Folder path="Spam"><Property SpecialFolder="Junk E-mail" /></Folder>
//!              <Folder path="Important Mail"><Property Name="Inbox/Important" /></Folder>"#;
//! let map = parse_foldermap_xml(xml, "Foldermap.xml")?;
//! let exchange = DestinationFolders::new('/')
//!     .with_folder("INBOX", None)
//!     .with_folder("Junk Email", Some("\\Junk"));
//! assert_eq!(map.resolve("Spam", None, &exchange).name, "Junk Email");
//! assert_eq!(map.resolve("Important Mail", None, &exchange).name, "INBOX/Important");
//! assert_eq!(map.resolve("Sent Messages", None, &exchange).name, "Sent Items");
//! # Ok::<(), cutover_engine::transform::folder_map::FolderMapError>(())
//! ```

mod destination;
mod error;
mod map;
mod plan;
mod resolve;
mod special;
mod template;
mod toml_form;
mod xml;

pub use destination::DestinationFolders;
pub use error::{FolderMapError, Position, Problem};
pub use map::{strip_source_root, FolderMap, MapTarget, MatchedBy};
pub use plan::{plan_folder_map, FolderMapping};
pub use resolve::Target;
pub use special::{fold, SpecialFolder};
pub use toml_form::{parse_foldermap_toml, render_default};
pub use xml::parse_foldermap_xml;
