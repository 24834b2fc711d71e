//! Two Dovecots for a migration test: a source whose users log in with a password, and a
//! destination reached through a master user (`user*admin`). Holds the files the CLI needs (the
//! mailbox list, the admin password, the CA) in a temp dir, and builds `cutover migrate`.

use std::path::PathBuf;
use std::process::Command;

use cutover_harness::certs::TestCa;
use cutover_harness::dovecot::{Dovecot, DovecotConfig};
use cutover_harness::imap_account::{self, AccountSnapshot, SeedMessage, Session};

/// The source and destination servers of one test, and what the CLI needs to reach them.
pub(crate) struct Pair {
    pub(crate) source: Dovecot,
    pub(crate) dest: Dovecot,
    pub(crate) ca_pem: String,
    pub(crate) runtime: tokio::runtime::Runtime,
    password: String,
    admin_password: String,
    dir: tempfile::TempDir,
}

impl Pair {
    /// Starts both servers for `users`, all with `password` at the source; `dest` may change the
    /// destination's config (a quota, say). The mailbox list names every user, one row each.
    pub(crate) fn start(
        users: &[&str],
        password: &str,
        admin_password: &str,
        dest: impl FnOnce(&mut DovecotConfig),
    ) -> Pair {
        Pair::start_with(users, password, admin_password, |_| {}, dest)
    }

    /// [`Pair::start`], with `source` changing the source's config too (Maildir, say).
    pub(crate) fn start_with(
        users: &[&str],
        password: &str,
        admin_password: &str,
        source: impl FnOnce(&mut DovecotConfig),
        dest: impl FnOnce(&mut DovecotConfig),
    ) -> Pair {
        let ca = TestCa::new().unwrap();
        let cert = ca.server_cert(&["localhost", "127.0.0.1"]).unwrap();
        let mut source_config = DovecotConfig {
            users: users
                .iter()
                .map(|u| (u.to_string(), password.to_string()))
                .collect(),
            ..DovecotConfig::default()
        };
        source(&mut source_config);
        let source = Dovecot::start(source_config, &cert).expect("source dovecot");
        let mut dest_config = DovecotConfig {
            users: users
                .iter()
                .map(|u| (u.to_string(), "unused".to_string()))
                .collect(),
            master: Some(("admin".into(), admin_password.into())),
            ..DovecotConfig::default()
        };
        dest(&mut dest_config);
        let dest = Dovecot::start(dest_config, &cert).expect("dest dovecot");
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::from("SourceIdentity,SourceLoginID,SourcePassword\n");
        for u in users {
            csv.push_str(&format!("{u},{u},{password}\n"));
        }
        std::fs::write(dir.path().join("users.csv"), csv).unwrap();
        std::fs::write(dir.path().join("admin.pw"), admin_password).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.ca_pem()).unwrap();
        Pair {
            source,
            dest,
            ca_pem: ca.ca_pem(),
            runtime: tokio::runtime::Runtime::new().unwrap(),
            password: password.into(),
            admin_password: admin_password.into(),
            dir,
        }
    }

    /// A file in the test's temp dir.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `cutover migrate` from the source to the destination for the mailbox list, through the
    /// master user; the caller adds its own flags.
    pub(crate) fn migrate(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.arg("migrate")
            .arg("--users")
            .arg(self.path("users.csv"))
            .args(["--source", &self.source.imaps_url()])
            .args(["--dest", &self.dest.imaps_url()])
            .args(["--dest-admin", "admin"])
            .args(["--dest-login-form", "master-separator"])
            .arg("--dest-admin-password-file")
            .arg(self.path("admin.pw"))
            .arg("--ca-file")
            .arg(self.path("ca.pem"));
        c
    }

    /// A session as `user` at the source.
    pub(crate) fn source_session(&self, user: &str) -> Session {
        self.runtime
            .block_on(imap_account::login(
                "127.0.0.1",
                self.source.imaps_port(),
                &self.ca_pem,
                user,
                &self.password,
            ))
            .unwrap()
    }

    /// A session as `user` at the destination, through the master user.
    pub(crate) fn dest_session(&self, user: &str) -> Session {
        self.runtime
            .block_on(imap_account::login(
                "127.0.0.1",
                self.dest.imaps_port(),
                &self.ca_pem,
                &format!("{user}*admin"),
                &self.admin_password,
            ))
            .unwrap()
    }

    /// APPENDs `messages` to `folder` of `user` at the source.
    pub(crate) fn seed_source(&self, user: &str, folder: &str, messages: &[SeedMessage]) {
        let mut s = self.source_session(user);
        self.runtime.block_on(async {
            imap_account::seed(&mut s, folder, messages).await.unwrap();
            s.logout().await.ok();
        });
    }

    /// Everything `user` has at the source.
    pub(crate) fn source_snapshot(&self, user: &str) -> AccountSnapshot {
        let mut s = self.source_session(user);
        self.runtime
            .block_on(imap_account::snapshot(&mut s))
            .unwrap()
    }

    /// Everything `user` has at the destination.
    pub(crate) fn dest_snapshot(&self, user: &str) -> AccountSnapshot {
        let mut d = self.dest_session(user);
        self.runtime
            .block_on(imap_account::snapshot(&mut d))
            .unwrap()
    }
}

impl Pair {
    /// `cutover verify` of the mailbox list, with the same servers and logins as
    /// [`Pair::migrate`]; the caller adds its own flags (the folder map, `--report`...).
    pub(crate) fn verify(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.arg("verify")
            .arg("--users")
            .arg(self.path("users.csv"))
            .args(["--source", &self.source.imaps_url()])
            .args(["--dest", &self.dest.imaps_url()])
            .args(["--dest-admin", "admin"])
            .args(["--dest-login-form", "master-separator"])
            .arg("--dest-admin-password-file")
            .arg(self.path("admin.pw"))
            .arg("--ca-file")
            .arg(self.path("ca.pem"));
        c
    }
}
