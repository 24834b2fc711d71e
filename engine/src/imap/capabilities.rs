//! The server capabilities the copier acts on, read once after login.

/// What a server offers that changes how we talk to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    /// LITERAL+ (RFC 7888): non-synchronizing literals of any size.
    pub literal_plus: bool,
    /// LITERAL- (RFC 7888): non-synchronizing literals up to 4,096 bytes.
    pub literal_minus: bool,
    /// MULTIAPPEND (RFC 3502): several messages in one APPEND.
    pub multiappend: bool,
    /// UIDPLUS (RFC 4315): APPENDUID in the APPEND response.
    pub uidplus: bool,
    /// SPECIAL-USE (RFC 6154) attributes on LIST.
    pub special_use: bool,
    /// COMPRESS=DEFLATE (RFC 4978).
    pub compress_deflate: bool,
    /// LIST-STATUS (RFC 5819): STATUS of every folder in one LIST.
    pub list_status: bool,
    /// APPENDLIMIT=N (RFC 7889): the largest message the server accepts.
    pub append_limit: Option<u64>,
    /// Everything else, upper-cased, for reports.
    pub all: Vec<String>,
}

impl Capabilities {
    /// Reads the capability atoms as the server sent them.
    pub fn from_atoms<'a>(atoms: impl IntoIterator<Item = &'a str>) -> Self {
        let mut c = Capabilities::default();
        for atom in atoms {
            let up = atom.to_ascii_uppercase();
            match up.as_str() {
                "LITERAL+" => c.literal_plus = true,
                "LITERAL-" => c.literal_minus = true,
                "MULTIAPPEND" => c.multiappend = true,
                "UIDPLUS" => c.uidplus = true,
                "SPECIAL-USE" => c.special_use = true,
                "COMPRESS=DEFLATE" => c.compress_deflate = true,
                "LIST-STATUS" => c.list_status = true,
                _ => {
                    if let Some(n) = up.strip_prefix("APPENDLIMIT=") {
                        c.append_limit = n.parse().ok();
                    }
                }
            }
            c.all.push(up);
        }
        c
    }

    /// Largest literal that may be sent without waiting for the server's `+`.
    pub fn max_non_sync_literal(&self) -> Option<u64> {
        if self.literal_plus {
            Some(u64::MAX)
        } else if self.literal_minus {
            Some(4096)
        } else {
            None
        }
    }
}

impl From<&async_imap::types::Capabilities> for Capabilities {
    fn from(caps: &async_imap::types::Capabilities) -> Self {
        use async_imap::types::Capability;
        let atoms: Vec<String> = caps
            .iter()
            .map(|c| match c {
                Capability::Imap4rev1 => "IMAP4REV1".to_string(),
                Capability::Auth(m) => format!("AUTH={m}"),
                Capability::Atom(a) => a.to_string(),
            })
            .collect();
        Capabilities::from_atoms(atoms.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_extensions_that_change_framing() {
        let c = Capabilities::from_atoms(
            "IMAP4rev1 literal+ MULTIAPPEND UIDPLUS COMPRESS=DEFLATE APPENDLIMIT=35651584"
                .split(' '),
        );
        assert!(c.literal_plus && c.multiappend && c.uidplus && c.compress_deflate);
        assert_eq!(c.append_limit, Some(35651584));
        assert_eq!(c.max_non_sync_literal(), Some(u64::MAX));
        let c = Capabilities::from_atoms(["LITERAL-"]);
        assert_eq!(c.max_non_sync_literal(), Some(4096));
        assert_eq!(
            Capabilities::from_atoms(["IMAP4rev1"]).max_non_sync_literal(),
            None
        );
    }
}
