//! Source domain → target domain, applied to SMTP addresses (also after directory resolution):
//! the user's own `joe@adatum.com` becomes `joe@contoso.com`.

use std::collections::HashMap;

/// A case-insensitive map of whole domains. Subdomains are not implied: `mail.adatum.com` is
/// rewritten only when it is listed itself.
#[derive(Debug, Clone, Default)]
pub struct DomainMap {
    /// Lowercased source domain → target domain as given.
    domains: HashMap<String, String>,
}

impl DomainMap {
    /// An empty map: no domain is rewritten.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `source → target` (e.g. from `--rewrite-domain adatum.com=contoso.com`). A later pair
    /// for the same source replaces the earlier one.
    pub fn insert(&mut self, source: &str, target: &str) {
        self.domains
            .insert(source.to_ascii_lowercase(), target.to_owned());
    }

    /// The target domain for `domain`, if it is mapped.
    pub fn get(&self, domain: &str) -> Option<&str> {
        if self.domains.is_empty() {
            return None;
        }
        self.domains
            .get(&domain.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// `address` with its domain mapped, or `None` when the domain is not mapped (or there is no
    /// `@`).
    pub fn apply(&self, address: &str) -> Option<String> {
        let (local, domain) = address.rsplit_once('@')?;
        self.get(domain).map(|target| format!("{local}@{target}"))
    }

    /// The source domains, lowercased: the rewriter's fast path scans for them.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.domains.keys().map(String::as_str)
    }

    /// True when no domain is mapped.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

impl<S: AsRef<str>, T: AsRef<str>> FromIterator<(S, T)> for DomainMap {
    fn from_iter<I: IntoIterator<Item = (S, T)>>(pairs: I) -> Self {
        let mut map = DomainMap::new();
        for (source, target) in pairs {
            map.insert(source.as_ref(), target.as_ref());
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_whole_domains_case_insensitively() {
        let map: DomainMap = [("adatum.com", "contoso.com")].into_iter().collect();
        assert_eq!(
            map.apply("Joe@ADATUM.com").as_deref(),
            Some("Joe@contoso.com")
        );
        assert_eq!(map.apply("joe@mail.adatum.com"), None);
        assert_eq!(map.apply("joe"), None);
        assert!(DomainMap::new().apply("joe@adatum.com").is_none());
    }
}
