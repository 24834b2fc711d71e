//! The mbsync (isync 1.4) configuration of one mailbox copy: the source as the far side, the
//! destination (logged in as `user*admin`) as the near side, pulled far to near, nothing
//! expunged, state kept in a scratch dir.

use std::path::PathBuf;

/// One IMAPS server account as mbsync sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MbsyncAccount {
    /// Host name or address; the server certificate must name it.
    pub host: String,
    /// The implicit-TLS port.
    pub port: u16,
    /// The login name (`user01`, or `user01*admin` for a master login).
    pub user: String,
    /// The password.
    pub password: String,
}

/// Everything one mbsync run needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MbsyncJob {
    /// The source, copied from.
    pub far: MbsyncAccount,
    /// The destination, copied to.
    pub near: MbsyncAccount,
    /// PEM of the CA that signed both servers' certificates.
    pub ca_file: PathBuf,
    /// Directory for the sync state files (must exist; a trailing `/` is added).
    pub sync_state_dir: PathBuf,
    /// Use COMPRESS=DEFLATE where offered; `false` disables the extension.
    pub compress: bool,
}

/// The name of the channel [`render`] defines, to pass on the command line.
pub const CHANNEL: &str = "copy";

/// Renders the configuration file.
pub fn render(job: &MbsyncJob) -> String {
    let mut config = String::new();
    for (name, account) in [("far", &job.far), ("near", &job.near)] {
        config.push_str(&format!("IMAPAccount {name}\n"));
        config.push_str(&format!("Host {}\n", account.host));
        config.push_str(&format!("Port {}\n", account.port));
        config.push_str(&format!("User {}\n", quote(&account.user)));
        config.push_str(&format!("Pass {}\n", quote(&account.password)));
        config.push_str("SSLType IMAPS\n");
        config.push_str(&format!(
            "CertificateFile {}\n",
            quote(&job.ca_file.display().to_string())
        ));
        config.push_str("AuthMechs LOGIN\n");
        if !job.compress {
            config.push_str("DisableExtension COMPRESS=DEFLATE\n");
        }
        config.push_str(&format!("\nIMAPStore {name}\nAccount {name}\n\n"));
    }
    config.push_str(&format!("Channel {CHANNEL}\n"));
    config.push_str("Far :far:\n");
    config.push_str("Near :near:\n");
    config.push_str("Patterns *\n");
    config.push_str("Create Near\n");
    config.push_str("Remove None\n");
    config.push_str("Expunge None\n");
    config.push_str("Sync Pull\n");
    config.push_str("CopyArrivalDate yes\n");
    config.push_str(&format!(
        "SyncState {}\n",
        quote(&format!("{}/", job.sync_state_dir.display()))
    ));
    config
}

/// A configuration value, double-quoted (mbsync unquotes `"..."` with `\` escapes).
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(compress: bool) -> MbsyncJob {
        let account = |port, user: &str| MbsyncAccount {
            host: "127.0.0.1".into(),
            port,
            user: user.into(),
            password: "pw".into(),
        };
        MbsyncJob {
            far: account(1993, "user01"),
            near: account(2993, "user01*admin"),
            ca_file: PathBuf::from("/tmp/x/ca.pem"),
            sync_state_dir: PathBuf::from("/tmp/x/state"),
            compress,
        }
    }

    #[test]
    fn pulls_far_to_near_with_master_login() {
        let text = render(&job(false));
        assert!(text.contains("IMAPAccount far\nHost 127.0.0.1\nPort 1993\nUser \"user01\"\n"));
        assert!(text.contains("Port 2993\nUser \"user01*admin\"\n"));
        assert!(text.contains("Far :far:\nNear :near:\nPatterns *\nCreate Near\n"));
        assert!(text.contains("Sync Pull\n"));
        assert!(text.contains("SyncState \"/tmp/x/state/\"\n"));
        assert_eq!(text.matches("DisableExtension COMPRESS=DEFLATE").count(), 2);
    }

    #[test]
    fn compress_keeps_the_extension() {
        assert!(!render(&job(true)).contains("DisableExtension"));
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
