//! SourceIdentity → TargetIdentity: the batch's users whose address changes
//! (`joe@adatum.com` → `joe.smith@contoso.com`), applied to whole addresses in every mailbox of
//! the batch, so that a colleague's old address in someone else's mail becomes their new one and
//! replies reach them.
//!
//! The rewriter consults it after the directory has turned an X.500 / IMCEA address into SMTP
//! and before the domain map: an exact rename beats a whole-domain one. It applies once; renames
//! are never chained (`a → b` and `b → c` send `a` to `b`).

use std::collections::HashMap;

use crate::plan::mailbox_list::MailboxRow;

/// A case-insensitive map of whole addresses.
#[derive(Debug, Clone, Default)]
pub struct IdentityMap {
    /// Lowercased source address → target address as given.
    addresses: HashMap<String, String>,
}

impl IdentityMap {
    /// An empty map: no address is renamed.
    pub fn new() -> Self {
        Self::default()
    }

    /// The renames a mailbox list implies: every row whose SourceIdentity and TargetIdentity
    /// are both email addresses and differ (ignoring case). Rows without a TargetIdentity, or
    /// whose identities are login names (`joe`), imply none.
    pub fn from_mailbox_list(rows: &[MailboxRow]) -> Self {
        let mut map = IdentityMap::new();
        for row in rows {
            let (source, target) = (&row.source_identity, &row.target_identity);
            if is_address(source)
                && is_address(target)
                && source.to_lowercase() != target.to_lowercase()
            {
                map.insert(source, target);
            }
        }
        map
    }

    /// Adds `source → target`; a later pair for the same source replaces the earlier one.
    pub fn insert(&mut self, source: &str, target: &str) {
        self.addresses
            .insert(source.trim().to_lowercase(), target.trim().to_owned());
    }

    /// The new address for `address` (compared ignoring case), if it is renamed.
    pub fn get(&self, address: &str) -> Option<&str> {
        if self.addresses.is_empty() {
            return None;
        }
        self.addresses
            .get(&address.to_lowercase())
            .map(String::as_str)
    }

    /// The domains of the renamed addresses, lowercased, each once: the rewriter's fast path
    /// scans headers for them.
    pub fn source_domains(&self) -> impl Iterator<Item = &str> {
        let mut domains: Vec<&str> = self
            .addresses
            .keys()
            .filter_map(|a| a.rsplit_once('@').map(|(_, d)| d))
            .collect();
        domains.sort_unstable();
        domains.dedup();
        domains.into_iter()
    }

    /// How many addresses are renamed.
    pub fn len(&self) -> usize {
        self.addresses.len()
    }

    /// True when no address is renamed.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }
}

impl<S: AsRef<str>, T: AsRef<str>> FromIterator<(S, T)> for IdentityMap {
    fn from_iter<I: IntoIterator<Item = (S, T)>>(pairs: I) -> Self {
        let mut map = IdentityMap::new();
        for (source, target) in pairs {
            map.insert(source.as_ref(), target.as_ref());
        }
        map
    }
}

/// Whether an identity from the mailbox list is an email address (`local@domain`, nothing a
/// header would need to quote), rather than a login name.
fn is_address(identity: &str) -> bool {
    let Some((local, domain)) = identity.rsplit_once('@') else {
        return false;
    };
    let plain = |part: &str| {
        !part.is_empty()
            && !part
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\@".contains(c))
    };
    plain(local) && plain(domain) && !domain.starts_with('.') && !domain.ends_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::mailbox_list::parse_mailbox_list;

    #[test]
    fn pairs_come_from_rows_whose_identities_are_differing_addresses() {
        let csv = "SourceIdentity,SourceLoginID,SourcePassword,TargetIdentity\n\
                   joe@adatum.com,joe,pw,joe.smith@contoso.com\n\
                   mary@adatum.com,mary,pw,\n\
                   ann@adatum.com,ann,pw,ANN@adatum.com\n\
                   kim,kim,pw,kim@contoso.com\n\
                   lee@fabrikam.com,lee,pw,lee\n\
                   \"bo b@adatum.com\",bob,pw,bob@contoso.com\n";
        let rows = parse_mailbox_list(csv.as_bytes(), "users.csv").unwrap();
        let map = IdentityMap::from_mailbox_list(&rows);
        assert_eq!(map.len(), 1, "{map:?}");
        assert_eq!(map.get("joe@adatum.com"), Some("joe.smith@contoso.com"));
        assert_eq!(map.get("mary@adatum.com"), None, "no TargetIdentity");
        assert_eq!(map.get("ann@adatum.com"), None, "same address");
    }

    #[test]
    fn whole_addresses_match_ignoring_case() {
        let map: IdentityMap = [
            ("Joe@Adatum.com", "Joe.Smith@contoso.com"),
            ("lee@fabrikam.com", "lee.chen@contoso.com"),
            ("jo@adatum.com", "jo.jones@contoso.com"),
        ]
        .into_iter()
        .collect();
        assert_eq!(map.get("JOE@ADATUM.COM"), Some("Joe.Smith@contoso.com"));
        assert_eq!(map.get("joe@adatum.co"), None);
        assert_eq!(map.get("joe@mail.adatum.com"), None);
        assert_eq!(map.get("xjoe@adatum.com"), None);
        assert_eq!(
            map.source_domains().collect::<Vec<_>>(),
            ["adatum.com", "fabrikam.com"]
        );
        assert!(IdentityMap::new().get("joe@adatum.com").is_none());
    }

    #[test]
    fn identities_that_are_not_plain_addresses_are_not_pairs() {
        for bad in [
            "joe",
            "@adatum.com",
            "joe@",
            "joe smith@adatum.com",
            "<joe@adatum.com>",
            "joe@adatum.com.",
            "joe@adatum,com",
        ] {
            assert!(!is_address(bad), "{bad:?}");
        }
        assert!(is_address("joe.smith+x@contoso.com"));
        assert!(is_address("jörg@bücher.example"));
    }
}
