//! The Exchange default folders and the names other servers give them.
//!
//! The table is the built-in default map: a source folder whose name (case-insensitive,
//! whitespace folded) is listed here is that special folder. Names are written with `/` as the
//! hierarchy delimiter; Dovecot/Courier/Cyrus `INBOX.`-style names are listed as such too, so
//! they match whether or not the caller translated the source delimiter first.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

/// One of the default folders Exchange creates with every mailbox (guide 3.6.4.1.1).
///
/// They get special handling: a source folder mapped to one lands in the destination's real
/// folder of that kind, whatever the destination calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpecialFolder {
    /// `Inbox` (always `INBOX` over IMAP).
    Inbox,
    /// `Outbox`.
    Outbox,
    /// `Sent Items` (`\Sent`).
    SentItems,
    /// `Drafts` (`\Drafts`).
    Drafts,
    /// `Deleted Items` (`\Trash`).
    DeletedItems,
    /// `Junk E-mail` (`\Junk`).
    JunkEmail,
    /// `Journal`.
    Journal,
    /// `Notes`.
    Notes,
    /// `Calendar`.
    Calendar,
}

impl SpecialFolder {
    /// Every special folder, in the guide's order.
    pub const ALL: [SpecialFolder; 9] = [
        SpecialFolder::Inbox,
        SpecialFolder::Outbox,
        SpecialFolder::SentItems,
        SpecialFolder::Drafts,
        SpecialFolder::DeletedItems,
        SpecialFolder::JunkEmail,
        SpecialFolder::Journal,
        SpecialFolder::Notes,
        SpecialFolder::Calendar,
    ];

    /// The Exchange (English) name, as Foldermap.xml's `SpecialFolder` attribute spells it.
    pub fn exchange_name(self) -> &'static str {
        match self {
            SpecialFolder::Inbox => "Inbox",
            SpecialFolder::Outbox => "Outbox",
            SpecialFolder::SentItems => "Sent Items",
            SpecialFolder::Drafts => "Drafts",
            SpecialFolder::DeletedItems => "Deleted Items",
            SpecialFolder::JunkEmail => "Junk E-mail",
            SpecialFolder::Journal => "Journal",
            SpecialFolder::Notes => "Notes",
            SpecialFolder::Calendar => "Calendar",
        }
    }

    /// The RFC 6154 SPECIAL-USE attribute that marks this folder, where there is one.
    pub fn special_use(self) -> Option<&'static str> {
        match self {
            SpecialFolder::SentItems => Some("\\Sent"),
            SpecialFolder::Drafts => Some("\\Drafts"),
            SpecialFolder::DeletedItems => Some("\\Trash"),
            SpecialFolder::JunkEmail => Some("\\Junk"),
            _ => None,
        }
    }

    /// The special folder a SPECIAL-USE attribute (`\Sent`, `\Drafts`, `\Junk`, `\Trash`,
    /// any case) stands for. `\All`, `\Archive` and `\Flagged` have no Exchange counterpart.
    pub fn from_special_use(attribute: &str) -> Option<SpecialFolder> {
        SpecialFolder::ALL.into_iter().find(|s| {
            s.special_use()
                .is_some_and(|u| u.eq_ignore_ascii_case(attribute.trim()))
        })
    }

    /// Parses a `SpecialFolder` value: the Exchange name, tolerant of case, spaces, `-` and `_`
    /// (`Junk E-mail`, `junk e - mail`, `JunkEmail`, `junk_email` all work; the guide's own
    /// example prints `Junk E - mail`).
    pub fn from_exchange_name(name: &str) -> Option<SpecialFolder> {
        let want = compact(name);
        SpecialFolder::ALL
            .into_iter()
            .find(|s| compact(s.exchange_name()) == want)
    }

    /// The source names the default map knows for this folder, the Exchange name first.
    pub fn known_names(self) -> &'static [&'static str] {
        match self {
            SpecialFolder::Inbox => &["Inbox"],
            SpecialFolder::Outbox => &[
                "Outbox",
                "INBOX.Outbox",
                "INBOX/Outbox",
                "Postvak UIT",
                "Postausgang",
                "Boîte d'envoi",
                "Bandeja de salida",
                "Caixa de Saída",
            ],
            SpecialFolder::SentItems => &[
                "Sent Items",
                "Sent",
                "Sent Messages",
                "Sent Mail",
                "Sent-Mail",
                "[Gmail]/Sent Mail",
                "[Google Mail]/Sent Mail",
                "INBOX.Sent",
                "INBOX/Sent",
                "INBOX.Sent Items",
                "INBOX/Sent Items",
                "INBOX.Sent Messages",
                "INBOX/Sent Messages",
                "INBOX.Sent Mail",
                "INBOX/Sent Mail",
                "Verzonden items",
                "Verzonden",
                "Gesendete Elemente",
                "Gesendete Objekte",
                "Gesendet",
                "Éléments envoyés",
                "Messages envoyés",
                "Envoyés",
                "Elementos enviados",
                "Enviados",
                "Itens Enviados",
            ],
            SpecialFolder::Drafts => &[
                "Drafts",
                "[Gmail]/Drafts",
                "[Google Mail]/Drafts",
                "INBOX.Drafts",
                "INBOX/Drafts",
                "Concepten",
                "Entwürfe",
                "Brouillons",
                "Borradores",
                "Rascunhos",
            ],
            SpecialFolder::DeletedItems => &[
                "Deleted Items",
                "Trash",
                "Deleted Messages",
                "Deleted",
                "[Gmail]/Trash",
                "[Gmail]/Bin",
                "[Google Mail]/Trash",
                "[Google Mail]/Bin",
                "INBOX.Trash",
                "INBOX/Trash",
                "INBOX.Deleted Items",
                "INBOX/Deleted Items",
                "INBOX.Deleted Messages",
                "INBOX/Deleted Messages",
                "Verwijderde items",
                "Prullenbak",
                "Gelöschte Elemente",
                "Gelöschte Objekte",
                "Papierkorb",
                "Éléments supprimés",
                "Corbeille",
                "Elementos eliminados",
                "Papelera",
                "Itens Excluídos",
                "Itens Eliminados",
                "Lixeira",
            ],
            SpecialFolder::JunkEmail => &[
                "Junk E-mail",
                "Junk Email",
                "Junk",
                "Junk Mail",
                "Spam",
                "Bulk Mail",
                "Bulk",
                "[Gmail]/Spam",
                "[Google Mail]/Spam",
                "INBOX.Junk",
                "INBOX/Junk",
                "INBOX.Spam",
                "INBOX/Spam",
                "Ongewenste e-mail",
                "Junk-E-Mail",
                "Courrier indésirable",
                "Pourriel",
                "Correo no deseado",
                "Lixo Eletrônico",
                "Lixo Electrónico",
            ],
            SpecialFolder::Journal => &["Journal", "Logboek", "Diario", "Diário"],
            SpecialFolder::Notes => &["Notes", "Notities", "Notizen", "Notas"],
            SpecialFolder::Calendar => &[
                "Calendar",
                "Agenda",
                "Kalender",
                "Calendrier",
                "Calendario",
                "Calendário",
            ],
        }
    }

    /// The special folder whose known names include `name` (see [`fold`] for the comparison).
    /// `INBOX` in any case is the Inbox.
    pub fn from_known_name(name: &str) -> Option<SpecialFolder> {
        static BY_FOLDED_NAME: LazyLock<HashMap<String, SpecialFolder>> = LazyLock::new(|| {
            SpecialFolder::ALL
                .into_iter()
                .flat_map(|s| s.known_names().iter().map(move |n| (fold(n), s)))
                .collect()
        });
        BY_FOLDED_NAME.get(&fold(name)).copied()
    }
}

impl fmt::Display for SpecialFolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.exchange_name())
    }
}

/// How folder names are compared by the default map and by exact rules: Unicode lowercase,
/// whitespace runs folded to one space and trimmed, and no spaces around `-` (so the guide's
/// `Junk E - mail` is `Junk E-mail`).
pub fn fold(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    words
        .join(" ")
        .replace(" -", "-")
        .replace("- ", "-")
        .to_lowercase()
}

/// Lowercase with whitespace, `-` and `_` removed: the loose form used for `SpecialFolder`
/// values.
fn compact(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_known_name_belongs_to_two_folders() {
        let mut owner = HashMap::new();
        for s in SpecialFolder::ALL {
            assert_eq!(s.known_names()[0], s.exchange_name());
            for n in s.known_names() {
                if let Some(other) = owner.insert(fold(n), s) {
                    panic!("{n:?} is listed for both {other} and {s}");
                }
            }
        }
    }

    #[test]
    fn parses_exchange_names_loosely() {
        for s in SpecialFolder::ALL {
            assert_eq!(
                SpecialFolder::from_exchange_name(s.exchange_name()),
                Some(s)
            );
        }
        let junk = Some(SpecialFolder::JunkEmail);
        assert_eq!(SpecialFolder::from_exchange_name("Junk E - mail"), junk);
        assert_eq!(SpecialFolder::from_exchange_name("junk_email"), junk);
        assert_eq!(SpecialFolder::from_exchange_name(" JunkEmail "), junk);
        assert_eq!(SpecialFolder::from_exchange_name("Spam"), None);
    }

    #[test]
    fn special_use_attributes_round_trip_any_case() {
        assert_eq!(
            SpecialFolder::from_special_use("\\sent"),
            Some(SpecialFolder::SentItems)
        );
        assert_eq!(
            SpecialFolder::from_special_use("\\JUNK"),
            Some(SpecialFolder::JunkEmail)
        );
        assert_eq!(
            SpecialFolder::from_special_use("\\Trash"),
            Some(SpecialFolder::DeletedItems)
        );
        assert_eq!(SpecialFolder::from_special_use("\\All"), None);
        assert_eq!(SpecialFolder::from_special_use("\\Archive"), None);
    }

    #[test]
    fn known_names_match_case_insensitively_in_six_languages() {
        use SpecialFolder::*;
        let cases = [
            ("INBOX", Inbox),
            ("inbox", Inbox),
            ("[Gmail]/Sent Mail", SentItems),
            ("INBOX.Sent", SentItems),
            ("sent messages", SentItems),
            ("Verzonden Items", SentItems),
            ("Gesendete Elemente", SentItems),
            ("ÉLÉMENTS ENVOYÉS", SentItems),
            ("Elementos enviados", SentItems),
            ("Itens Enviados", SentItems),
            ("Verwijderde items", DeletedItems),
            ("Gelöschte Elemente", DeletedItems),
            ("Éléments supprimés", DeletedItems),
            ("Elementos eliminados", DeletedItems),
            ("Itens Excluídos", DeletedItems),
            ("[Gmail]/Trash", DeletedItems),
            ("Deleted Messages", DeletedItems),
            ("Ongewenste E-mail", JunkEmail),
            ("Junk-E-Mail", JunkEmail),
            ("Courrier indésirable", JunkEmail),
            ("Correo no deseado", JunkEmail),
            ("Lixo Eletrônico", JunkEmail),
            ("Bulk Mail", JunkEmail),
            ("Junk E - mail", JunkEmail),
            ("Concepten", Drafts),
            ("Entwürfe", Drafts),
            ("Brouillons", Drafts),
            ("Borradores", Drafts),
            ("Rascunhos", Drafts),
            ("  Sent   Items ", SentItems),
        ];
        for (name, want) in cases {
            assert_eq!(SpecialFolder::from_known_name(name), Some(want), "{name}");
        }
        assert_eq!(SpecialFolder::from_known_name("Archive"), None);
        assert_eq!(SpecialFolder::from_known_name("Projects/Sent"), None);
    }
}
