//! How a connection proves who it is.
//!
//! IMAP has no standard administrative access, so the migration tools log in to each mailbox in
//! one of several ways (guide 3.5.6.2): the user's own password, an admin acting for the user
//! through SASL PLAIN's authorization identity (RFC 4616), or a master-user login name such as
//! Dovecot's `user*admin`. Later access methods (combined `Admin/User`, XOAUTH2) are further
//! variants here.

use crate::secret::Secret;

/// Credentials for one mailbox on one server.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `LOGIN user password`. Also the master-user form, where `user` is `target*admin`.
    Login {
        /// The login name as the server expects it.
        user: String,
        /// The password.
        password: Secret,
    },
    /// `AUTHENTICATE PLAIN` with an authorization identity: `authcid` (the admin) logs in and
    /// acts as `authzid` (the mailbox owner).
    PlainAs {
        /// The mailbox to act as.
        authzid: String,
        /// The account whose password is given (the admin).
        authcid: String,
        /// The admin's password.
        password: Secret,
    },
}

impl Auth {
    /// The identity whose mailbox this opens, for messages and reports (never the password).
    pub fn mailbox_identity(&self) -> &str {
        match self {
            Auth::Login { user, .. } => user,
            Auth::PlainAs { authzid, .. } => authzid,
        }
    }

    /// The account that authenticates (the admin for proxy logins).
    pub fn login_identity(&self) -> &str {
        match self {
            Auth::Login { user, .. } => user,
            Auth::PlainAs { authcid, .. } => authcid,
        }
    }

    /// The SASL PLAIN message `authzid NUL authcid NUL password` (RFC 4616).
    pub(crate) fn sasl_plain(authzid: &str, authcid: &str, password: &Secret) -> Vec<u8> {
        let mut m = Vec::with_capacity(authzid.len() + authcid.len() + password.expose().len() + 2);
        m.extend_from_slice(authzid.as_bytes());
        m.push(0);
        m.extend_from_slice(authcid.as_bytes());
        m.push(0);
        m.extend_from_slice(password.expose().as_bytes());
        m
    }
}

/// How the destination admin's login is formed when acting for a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyLoginForm {
    /// SASL PLAIN with the mailbox as authorization identity (RFC 4616).
    #[default]
    Authzid,
    /// `LOGIN mailbox<sep>admin password`, Dovecot's master-user form (`*` by default).
    MasterSeparator(char),
}

impl ProxyLoginForm {
    /// Credentials that let `admin` open `mailbox`.
    pub fn auth_for(self, mailbox: &str, admin: &str, password: &Secret) -> Auth {
        match self {
            ProxyLoginForm::Authzid => Auth::PlainAs {
                authzid: mailbox.to_string(),
                authcid: admin.to_string(),
                password: password.clone(),
            },
            ProxyLoginForm::MasterSeparator(sep) => Auth::Login {
                user: format!("{mailbox}{sep}{admin}"),
                password: password.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_plain_message_has_three_fields() {
        let m = Auth::sasl_plain("joe", "admin", &Secret::new("pw"));
        assert_eq!(m, b"joe\0admin\0pw");
    }

    #[test]
    fn master_separator_builds_user_star_admin() {
        let a = ProxyLoginForm::MasterSeparator('*').auth_for("joe", "admin", &Secret::new("x"));
        assert_eq!(a.login_identity(), "joe*admin");
    }
}
