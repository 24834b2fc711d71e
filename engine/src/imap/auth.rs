//! How a connection proves who it is.
//!
//! IMAP has no standard administrative access, so the migration tools log in to each mailbox in
//! one of several ways (guide 3.5.6.2): the user's own password, an admin acting for the user
//! through SASL PLAIN's authorization identity (RFC 4616), a login name that combines the admin
//! and the user (Dovecot's `user*admin`, Exchange's `Domain/Admin/User`), or a bearer token
//! (XOAUTH2, OAUTHBEARER: RFC 7628).
//!
//! Every variant names its *credential owner*: the account whose password or token the server
//! checks. The lockout guard counts failures per credential owner, so a wrong admin password
//! tried for 2,000 mailboxes costs the admin account at most the allowed few attempts.

use crate::secret::Secret;

/// Credentials for one mailbox on one server.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `LOGIN user password`: the user's own password.
    Login {
        /// The login name as the server expects it.
        user: String,
        /// The password.
        password: Secret,
    },
    /// `LOGIN` with a login name that combines the mailbox and the admin (Dovecot's master-user
    /// form `joe*admin`, Exchange's combined form `Domain/Admin/joe`) and the admin's password.
    CombinedLogin {
        /// The login name as sent, e.g. `joe*admin` or `corp/admin/joe`.
        login: String,
        /// The mailbox it opens.
        mailbox: String,
        /// The admin whose password is given.
        admin: String,
        /// The admin's password.
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
    /// `AUTHENTICATE XOAUTH2` (Google's and Microsoft's SASL form) or `AUTHENTICATE
    /// OAUTHBEARER` (RFC 7628) with a bearer token issued for `user`.
    Bearer {
        /// Which of the two SASL mechanisms.
        mechanism: BearerMechanism,
        /// The mailbox the token opens (the token's owner).
        user: String,
        /// The OAuth 2.0 access token.
        token: Secret,
    },
}

/// The SASL mechanisms that carry an OAuth 2.0 bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerMechanism {
    /// `XOAUTH2`: `user=U ^A auth=Bearer T ^A ^A` (Gmail, Exchange Online).
    XOAuth2,
    /// `OAUTHBEARER` (RFC 7628): `n,a=U, ^A auth=Bearer T ^A ^A`.
    OAuthBearer,
}

impl BearerMechanism {
    /// The SASL mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            BearerMechanism::XOAuth2 => "XOAUTH2",
            BearerMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

impl Auth {
    /// The identity whose mailbox this opens, for messages and reports (never the password).
    pub fn mailbox_identity(&self) -> &str {
        match self {
            Auth::Login { user, .. } => user,
            Auth::CombinedLogin { mailbox, .. } => mailbox,
            Auth::PlainAs { authzid, .. } => authzid,
            Auth::Bearer { user, .. } => user,
        }
    }

    /// The name that goes on the wire to authenticate (`joe*admin` for a combined login, the
    /// admin for PLAIN with authzid).
    pub fn login_identity(&self) -> &str {
        match self {
            Auth::Login { user, .. } => user,
            Auth::CombinedLogin { login, .. } => login,
            Auth::PlainAs { authcid, .. } => authcid,
            Auth::Bearer { user, .. } => user,
        }
    }

    /// The account whose password or token the server checks: the admin for every proxy form,
    /// else the user. Failed logins are counted against it (see the module doc).
    pub fn credential_owner(&self) -> &str {
        match self {
            Auth::Login { user, .. } => user,
            Auth::CombinedLogin { admin, .. } => admin,
            Auth::PlainAs { authcid, .. } => authcid,
            Auth::Bearer { user, .. } => user,
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

    /// The initial client response of XOAUTH2 or OAUTHBEARER for `user` and `token`.
    pub(crate) fn sasl_bearer(mechanism: BearerMechanism, user: &str, token: &Secret) -> Vec<u8> {
        let head = match mechanism {
            BearerMechanism::XOAuth2 => format!("user={user}\x01"),
            // RFC 7628 3.1: gs2-header `n,a=authzid,`; `,` and `=` in the name are escaped.
            BearerMechanism::OAuthBearer => {
                format!("n,a={},\x01", user.replace('=', "=3D").replace(',', "=2C"))
            }
        };
        let mut m = head.into_bytes();
        m.extend_from_slice(b"auth=Bearer ");
        m.extend_from_slice(token.expose().as_bytes());
        m.extend_from_slice(b"\x01\x01");
        m
    }
}

/// How an admin's login is formed when acting for a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyLoginForm {
    /// SASL PLAIN with the mailbox as authorization identity (RFC 4616).
    #[default]
    Authzid,
    /// `LOGIN mailbox<sep>admin password`, Dovecot's master-user form (`*` by default).
    MasterSeparator(char),
    /// `LOGIN admin<sep>mailbox password`, the combined Administrator/User form (`/` by
    /// default; Exchange's `Domain/Admin/User` is the admin `Domain/Admin` with `/`).
    AdminFirst(char),
}

impl ProxyLoginForm {
    /// Credentials that let `admin` open `mailbox`.
    pub fn auth_for(self, mailbox: &str, admin: &str, password: &Secret) -> Auth {
        let combined = |login: String| Auth::CombinedLogin {
            login,
            mailbox: mailbox.to_string(),
            admin: admin.to_string(),
            password: password.clone(),
        };
        match self {
            ProxyLoginForm::Authzid => Auth::PlainAs {
                authzid: mailbox.to_string(),
                authcid: admin.to_string(),
                password: password.clone(),
            },
            ProxyLoginForm::MasterSeparator(sep) => combined(format!("{mailbox}{sep}{admin}")),
            ProxyLoginForm::AdminFirst(sep) => combined(format!("{admin}{sep}{mailbox}")),
        }
    }

    /// Splits a login name already combined in the master-user form (`joe*admin`, the mailbox
    /// list's manually combined SourceLoginID) at the last `sep`; `None` when it has no mailbox
    /// or no admin part.
    pub fn split_master_login(login: &str, sep: char) -> Option<(&str, &str)> {
        let (mailbox, admin) = login.rsplit_once(sep)?;
        (!mailbox.is_empty() && !admin.is_empty()).then_some((mailbox, admin))
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
        assert_eq!(a.mailbox_identity(), "joe");
        assert_eq!(a.credential_owner(), "admin");
    }

    #[test]
    fn admin_first_keeps_slashes_of_the_admin_name() {
        let a = ProxyLoginForm::AdminFirst('/').auth_for("joe", "corp/admin", &Secret::new("x"));
        assert_eq!(a.login_identity(), "corp/admin/joe");
        assert_eq!(a.credential_owner(), "corp/admin");
    }

    #[test]
    fn the_credential_owner_is_whoever_proves_the_secret() {
        let pw = Secret::new("x");
        let plain = ProxyLoginForm::Authzid.auth_for("joe", "admin", &pw);
        assert_eq!(
            (plain.mailbox_identity(), plain.credential_owner()),
            ("joe", "admin")
        );
        let own = Auth::Login {
            user: "joe".into(),
            password: pw.clone(),
        };
        assert_eq!(own.credential_owner(), "joe");
        let bearer = Auth::Bearer {
            mechanism: BearerMechanism::XOAuth2,
            user: "joe@a.com".into(),
            token: pw,
        };
        assert_eq!(bearer.credential_owner(), "joe@a.com");
    }

    #[test]
    fn bearer_messages_follow_their_specifications() {
        let t = Secret::new("ya29.tok");
        assert_eq!(
            Auth::sasl_bearer(BearerMechanism::XOAuth2, "joe@a.com", &t),
            b"user=joe@a.com\x01auth=Bearer ya29.tok\x01\x01"
        );
        assert_eq!(
            Auth::sasl_bearer(BearerMechanism::OAuthBearer, "j,o=e", &t),
            b"n,a=j=2Co=3De,\x01auth=Bearer ya29.tok\x01\x01"
        );
    }

    #[test]
    fn master_logins_split_at_the_last_separator() {
        assert_eq!(
            ProxyLoginForm::split_master_login("joe*admin", '*'),
            Some(("joe", "admin"))
        );
        assert_eq!(ProxyLoginForm::split_master_login("joe*", '*'), None);
        assert_eq!(ProxyLoginForm::split_master_login("joe", '*'), None);
    }
}
