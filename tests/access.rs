//! Every access method of issue 7 migrates a real mailbox end to end through `cutover migrate`,
//! and the destination then holds exactly what the source held (per folder: bodies, flags,
//! INTERNALDATE). Against Dovecot: individual, combined (`corp/admin/joe`), master with `/` as
//! Dovecot's master-user separator, manually combined `joe*admin`, SASL PLAIN with authzid, and
//! a source root folder of an admin account. Against the mock: XOAUTH2 and OAUTHBEARER, and a
//! refused token. And the lockout fix: a wrong admin password shared by many mailboxes reaches
//! the server at most `--max-failed-logins` times in total, whichever form carries it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeZone};
use cutover_harness::certs::{ServerCert, TestCa};
use cutover_harness::dovecot::{Dovecot, DovecotConfig};
use cutover_harness::imap_account::{self, AccountSnapshot, SeedMessage};
use cutover_harness::mock_server::{MockConfig, MockServer, MockStore, MockTls};

use crate::cli::run_with_timeout;

const JOE_PW: &str = "Joe-0wn-pw-4K";
const ADMIN_PW: &str = "Src-Adm1n-pw-8J";
const DEST_ADMIN_PW: &str = "Dst-Adm1n-pw-2M";
const DEST_JOE_PW: &str = "Joe-Dest-pw-6T";

fn date(day: u32) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(3600)
        .unwrap()
        .with_ymd_and_hms(2025, 3, day, 9, 30, 0)
        .unwrap()
}

fn messages(tag: &str, n: u32) -> Vec<SeedMessage> {
    (1..=n)
        .map(|i| SeedMessage {
            flags: if i % 2 == 0 {
                vec!["\\Seen".into(), "$label1".into()]
            } else {
                vec!["\\Flagged".into()]
            },
            internaldate: date(i),
            body: format!(
                "From: a@example.org\r\nSubject: {tag} {i}\r\nMessage-ID: <{tag}.{i}@access.test>\r\n\r\nbody {tag} {i}\r\n"
            )
            .into_bytes(),
        })
        .collect()
}

/// Per folder name: the sorted (sha256, date, flags) of its messages; folders without messages
/// are left out (placeholders, empty special folders).
type Content = BTreeMap<String, Vec<([u8; 32], DateTime<FixedOffset>, Vec<String>)>>;

fn content(snapshot: &AccountSnapshot, rename: impl Fn(&str) -> Option<String>) -> Content {
    let mut out = Content::new();
    for (name, folder) in &snapshot.folders {
        let Some(name) = rename(name) else { continue };
        if folder.messages.is_empty() {
            continue;
        }
        let mut v: Vec<_> = folder
            .messages
            .iter()
            .map(|m| (m.sha256, m.internaldate, m.flags.iter().cloned().collect()))
            .collect();
        v.sort();
        out.insert(name, v);
    }
    out
}

/// A source and a destination Dovecot, the CA, and a temp dir for the list and password files.
struct Servers {
    source: Dovecot,
    dest: Dovecot,
    ca_pem: String,
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

fn cert(ca: &TestCa) -> ServerCert {
    ca.server_cert(&["localhost", "127.0.0.1"]).unwrap()
}

impl Servers {
    /// The source as `source` says; the destination has `joe` (password [`DEST_JOE_PW`]) and
    /// the master user `admin` ([`DEST_ADMIN_PW`], `joe*admin`).
    fn start(source: DovecotConfig) -> Servers {
        let ca = TestCa::new().unwrap();
        let source = Dovecot::start(source, &cert(&ca)).expect("source dovecot");
        let dest = Dovecot::start(
            DovecotConfig {
                users: vec![("joe".into(), DEST_JOE_PW.into())],
                master: Some(("admin".into(), DEST_ADMIN_PW.into())),
                ..DovecotConfig::default()
            },
            &cert(&ca),
        )
        .expect("dest dovecot");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.ca_pem()).unwrap();
        std::fs::write(dir.path().join("src-admin.pw"), format!("{ADMIN_PW}\n")).unwrap();
        std::fs::write(
            dir.path().join("dst-admin.pw"),
            format!("{DEST_ADMIN_PW}\n"),
        )
        .unwrap();
        Servers {
            source,
            dest,
            ca_pem: ca.ca_pem(),
            dir,
            runtime: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Seeds `folders` (name, messages) as `login` / `password` at the source.
    fn seed(&self, login: &str, password: &str, folders: &[(&str, Vec<SeedMessage>)]) {
        self.runtime.block_on(async {
            let mut s = imap_account::login(
                "127.0.0.1",
                self.source.imaps_port(),
                &self.ca_pem,
                login,
                password,
            )
            .await
            .expect("seed login");
            for (folder, msgs) in folders {
                imap_account::seed(&mut s, folder, msgs)
                    .await
                    .expect("seed");
            }
            s.logout().await.ok();
        });
    }

    fn snapshot(&self, server: &Dovecot, login: &str, password: &str) -> AccountSnapshot {
        self.runtime.block_on(async {
            let mut s = imap_account::login(
                "127.0.0.1",
                server.imaps_port(),
                &self.ca_pem,
                login,
                password,
            )
            .await
            .expect("snapshot login");
            let snap = imap_account::snapshot(&mut s).await.expect("snapshot");
            s.logout().await.ok();
            snap
        })
    }

    /// `cutover migrate` of the list `csv` with the access flags `args`, and `env` set.
    fn migrate(&self, csv: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let users = self.path("users.csv");
        std::fs::write(&users, csv).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.arg("migrate")
            .arg("--users")
            .arg(&users)
            .args(["--source", &self.source.imaps_url()])
            .args(["--dest", &self.dest.imaps_url()])
            .arg("--ca-file")
            .arg(self.path("ca.pem"))
            .args(["--no-state", "--quiet"])
            .args(args)
            .env_remove("CUTOVER_SOURCE_ADMIN_PASSWORD")
            .env_remove("CUTOVER_DEST_ADMIN_PASSWORD");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = run_with_timeout(&mut c, Duration::from_secs(120));
        let all = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "migrate failed:\n{all}");
        for secret in [JOE_PW, ADMIN_PW, DEST_ADMIN_PW, DEST_JOE_PW] {
            assert!(!all.contains(secret), "a password in the output:\n{all}");
        }
        out
    }

    /// joe's mailbox at the destination (through the master user).
    fn dest_content(&self) -> Content {
        content(
            &self.snapshot(&self.dest, "joe*admin", DEST_ADMIN_PW),
            |n| Some(n.to_string()),
        )
    }
}

/// joe's own folders, seeded as joe; returns them as the source has them.
fn seed_joe(s: &Servers) -> Content {
    s.seed(
        "joe",
        JOE_PW,
        &[
            ("INBOX", messages("in", 4)),
            ("Sent", messages("sent", 2)),
            ("Archive/2024", messages("arch", 3)),
        ],
    );
    let c = content(&s.snapshot(&s.source, "joe", JOE_PW), |n| {
        Some(n.to_string())
    });
    assert_eq!(c.values().map(Vec::len).sum::<usize>(), 9);
    c
}

fn joe() -> (String, String) {
    ("joe".into(), JOE_PW.into())
}

#[test]
fn individual_credentials_at_both_ends() {
    let s = Servers::start(DovecotConfig {
        users: vec![joe()],
        ..DovecotConfig::default()
    });
    let source = seed_joe(&s);
    s.migrate(
        &format!(
            "SourceIdentity,SourceLoginID,SourcePassword,TargetIdentity,TargetPassword\n\
             joe,joe,{JOE_PW},joe,{DEST_JOE_PW}\n"
        ),
        &["--dest-access", "individual"],
        &[],
    );
    assert_eq!(s.dest_content(), source);
}

#[test]
fn combined_admin_slash_user_with_an_exchange_style_admin_name() {
    // Dovecot's master users come after the separator (`joe*admin`), so the Exchange form
    // `corp/admin/joe` is a passwd-file login that opens joe's mailbox with the admin password.
    let s = Servers::start(DovecotConfig {
        users: vec![joe()],
        login_aliases: vec![("corp/admin/joe".into(), ADMIN_PW.into(), "joe".into())],
        ..DovecotConfig::default()
    });
    let source = seed_joe(&s);
    // No SourcePassword column at all: the admin's password comes from the environment.
    s.migrate(
        "SourceIdentity,SourceLoginID\njoe,joe\n",
        &[
            "--source-access",
            "combined",
            "--source-admin",
            "corp/admin",
            "--dest-access",
            "master",
            "--dest-admin",
            "admin",
            "--dest-admin-password-file",
            s.path("dst-admin.pw").to_str().unwrap(),
        ],
        &[("CUTOVER_SOURCE_ADMIN_PASSWORD", ADMIN_PW)],
    );
    assert_eq!(s.dest_content(), source);
}

#[test]
fn master_user_with_slash_as_dovecots_separator() {
    let s = Servers::start(DovecotConfig {
        users: vec![joe()],
        master: Some(("admin".into(), ADMIN_PW.into())),
        master_separator: '/',
        ..DovecotConfig::default()
    });
    let source = seed_joe(&s);
    let pw = s.path("src-admin.pw");
    s.migrate(
        "SourceIdentity,SourceLoginID\njoe,joe\n",
        &[
            "--source-access",
            "master",
            "--source-admin",
            "admin",
            "--source-admin-separator",
            "/",
            "--source-admin-password-file",
            pw.to_str().unwrap(),
            "--dest-admin",
            "admin",
            "--dest-login-form",
            "master-separator",
        ],
        &[("CUTOVER_DEST_ADMIN_PASSWORD", DEST_ADMIN_PW)],
    );
    assert_eq!(s.dest_content(), source);
}

#[test]
fn manually_combined_user_star_admin_from_the_list() {
    let s = Servers::start(DovecotConfig {
        users: vec![joe()],
        master: Some(("admin".into(), ADMIN_PW.into())),
        ..DovecotConfig::default()
    });
    let source = seed_joe(&s);
    s.migrate(
        &format!(
            "SourceIdentity,SourceLoginID,SourcePassword,TargetIdentity\n\
             joe,joe*admin,{ADMIN_PW},joe\n"
        ),
        &[
            "--source-access",
            "manual-combined",
            "--dest-admin",
            "admin",
        ],
        &[("CUTOVER_DEST_ADMIN_PASSWORD", DEST_ADMIN_PW)],
    );
    assert_eq!(s.dest_content(), source);
}

#[test]
fn sasl_plain_with_authzid_at_both_ends() {
    let s = Servers::start(DovecotConfig {
        users: vec![joe()],
        master: Some(("admin".into(), ADMIN_PW.into())),
        ..DovecotConfig::default()
    });
    let source = seed_joe(&s);
    let pw = s.path("src-admin.pw");
    let dest_pw = s.path("dst-admin.pw");
    s.migrate(
        "SourceIdentity,SourceLoginID\njoe,joe\n",
        &[
            "--source-access",
            "authzid",
            "--source-admin",
            "admin",
            "--source-admin-password-file",
            pw.to_str().unwrap(),
            "--dest-access",
            "authzid",
            "--dest-admin",
            "admin",
            "--dest-admin-password-file",
            dest_pw.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(s.dest_content(), source);
}

#[test]
fn root_folder_of_an_admin_account_goes_to_the_top_of_the_target() {
    // The admin is an ordinary passwd-file account whose mailbox holds every user's folders.
    let s = Servers::start(DovecotConfig {
        users: vec![("migadmin".into(), ADMIN_PW.into())],
        ..DovecotConfig::default()
    });
    s.seed(
        "migadmin",
        ADMIN_PW,
        &[
            ("INBOX", messages("admin-own", 2)),
            ("Users/joe", messages("in", 4)),
            ("Users/joe/Sent", messages("sent", 2)),
            ("Users/joe/Archive/2024", messages("arch", 3)),
            ("Users/joey", messages("not-joe", 1)),
            ("Users/ann/Sent", messages("ann", 2)),
        ],
    );
    let admin = s.snapshot(&s.source, "migadmin", ADMIN_PW);
    let expected = content(&admin, |n| match n {
        "Users/joe" => Some("INBOX".into()),
        _ => n.strip_prefix("Users/joe/").map(str::to_string),
    });
    assert_eq!(expected.values().map(Vec::len).sum::<usize>(), 9);
    s.migrate(
        &format!(
            "SourceIdentity,SourceLoginID,SourcePassword,TargetIdentity,SourceRootFolder\n\
             joe,migadmin,{ADMIN_PW},joe,Users/joe\n"
        ),
        &["--source-access", "root-folder", "--dest-admin", "admin"],
        &[("CUTOVER_DEST_ADMIN_PASSWORD", DEST_ADMIN_PW)],
    );
    assert_eq!(s.dest_content(), expected);
}

/// Mock servers with TLS for the OAuth and lockout tests.
struct Mocks {
    _runtime: tokio::runtime::Runtime,
    source: MockServer,
    dest: MockServer,
    source_store: MockStore,
    dest_store: MockStore,
    dir: tempfile::TempDir,
}

impl Mocks {
    /// `users` at both ends, each with 3 messages in INBOX and 2 in `Sent` at the source; the
    /// source has the admin `admin` ([`ADMIN_PW`]), the destination `root` ([`DEST_ADMIN_PW`]).
    fn start(users: &[String]) -> Mocks {
        let ca = TestCa::new().unwrap();
        let cert = cert(&ca);
        let (source_store, dest_store) = (MockStore::new('/'), MockStore::new('/'));
        for user in users {
            source_store.add_user(user, JOE_PW);
            dest_store.add_user(user, "unused");
            for (folder, msgs) in [("INBOX", messages(user, 3)), ("Sent", messages("s", 2))] {
                for m in msgs {
                    let flags: Vec<&str> = m.flags.iter().map(String::as_str).collect();
                    source_store.append(user, folder, &flags, m.internaldate, m.body.into());
                }
            }
        }
        source_store.add_admin("admin", ADMIN_PW);
        dest_store.add_admin("root", DEST_ADMIN_PW);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let config = MockConfig {
            tls: MockTls::Implicit,
            identity: Some(cert),
            ..MockConfig::default()
        };
        let (source, dest) = runtime.block_on(async {
            (
                MockServer::start(config.clone(), source_store.clone())
                    .await
                    .unwrap(),
                MockServer::start(config, dest_store.clone()).await.unwrap(),
            )
        });
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.ca_pem()).unwrap();
        Mocks {
            _runtime: runtime,
            source,
            dest,
            source_store,
            dest_store,
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `cutover migrate` of `csv` with `args`, the destination through `root` (authzid) unless
    /// `args` choose another --dest-access.
    fn migrate(&self, csv: &str, args: &[&str]) -> (Option<i32>, String) {
        let users = self.path("users.csv");
        std::fs::write(&users, csv).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.arg("migrate")
            .arg("--users")
            .arg(&users)
            .args(["--source", &self.source.url(), "--dest", &self.dest.url()])
            .arg("--ca-file")
            .arg(self.path("ca.pem"))
            .args(["--no-state", "--quiet"])
            .args(args)
            .env("CUTOVER_DEST_ADMIN_PASSWORD", DEST_ADMIN_PW)
            .env_remove("CUTOVER_SOURCE_ADMIN_PASSWORD");
        if !args.contains(&"--dest-access") {
            c.args(["--dest-admin", "root"]);
        }
        let out = run_with_timeout(&mut c, Duration::from_secs(120));
        let all = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), all)
    }

    /// Every folder of `user` holds the same messages at both ends.
    fn assert_copied(&self, user: &str) {
        let folder = |store: &MockStore, name: &str| {
            let mut v: Vec<_> = store
                .messages(user, name)
                .into_iter()
                .map(|m| {
                    let mut flags = m.flags.clone();
                    flags.sort();
                    (m.body, m.internaldate, flags)
                })
                .collect();
            v.sort();
            v
        };
        for name in ["INBOX", "Sent"] {
            let src = folder(&self.source_store, name);
            assert!(!src.is_empty());
            assert_eq!(src, folder(&self.dest_store, name), "{user} {name}");
        }
    }
}

#[test]
fn xoauth2_and_oauthbearer_tokens_from_the_list_a_file_and_a_command_at_both_ends() {
    use std::os::unix::fs::PermissionsExt;
    let users: Vec<String> = ["joe", "ann"].map(String::from).to_vec();
    let csv = "SourceIdentity,SourceLoginID,SourceToken,TargetToken\n\
               joe,joe,ya29.Joe-token,ya29.Dest-joe-row\nann,ann,,\n";
    for mechanism in ["xoauth2", "oauthbearer"] {
        let m = Mocks::start(&users);
        m.source_store.add_token("joe", "ya29.Joe-token");
        m.source_store.add_token("ann", "ya29.Ann-token");
        m.dest_store.add_token("joe", "ya29.Dest-joe-row");
        m.dest_store.add_token("ann", "ya29.Dest-ann");
        // At the source joe's token comes from the list, ann's from the token file; at the
        // destination joe's from the list, ann's from a command given her TargetIdentity.
        std::fs::write(m.path("token"), "ya29.Ann-token\n").unwrap();
        let script = m.path("dest-token.sh");
        std::fs::write(&script, "#!/bin/sh\necho \"ya29.Dest-$1\"\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (code, all) = m.migrate(
            csv,
            &[
                "--source-access",
                mechanism,
                "--source-token-file",
                m.path("token").to_str().unwrap(),
                "--dest-access",
                mechanism,
                "--dest-token-command",
                script.to_str().unwrap(),
            ],
        );
        assert_eq!(code, Some(0), "{mechanism}: {all}");
        assert!(!all.contains("ya29."), "a token in the output:\n{all}");
        for user in &users {
            m.assert_copied(user);
        }
        assert_eq!(m.source.stats().logins_failed, 0);
        assert_eq!(m.dest.stats().logins_failed, 0);
    }
}

#[test]
fn a_refused_bearer_token_fails_the_mailbox_after_the_rfc_7628_error_exchange() {
    let users = vec!["joe".to_string()];
    let m = Mocks::start(&users);
    m.source_store.add_token("ann", "ya29.Not-joes");
    let csv = "SourceIdentity,SourceLoginID,SourceToken\njoe,joe,ya29.Not-joes\n";
    for mechanism in ["oauthbearer", "xoauth2"] {
        let (code, all) = m.migrate(csv, &["--source-access", mechanism]);
        assert_eq!(code, Some(1), "{mechanism}: {all}");
        assert!(
            all.contains("joe: credentials rejected for joe at "),
            "{mechanism}: {all}"
        );
        // The server's NO, not a BAD for a wrong answer to its error report.
        assert!(all.contains("[AUTHENTICATIONFAILED]"), "{mechanism}: {all}");
        assert!(!all.contains("ya29."), "a token in the output:\n{all}");
    }
    assert_eq!(m.source.stats().logins_failed, 2, "one refusal per run");
    assert!(m.dest_store.messages("joe", "INBOX").is_empty());
}

/// 30 mailboxes, one wrong admin password, at most 2 failed logins in total: the guard counts
/// the admin's failures, not each `user*admin` login name's.
#[test]
fn a_wrong_admin_password_across_many_mailboxes_makes_at_most_two_attempts() {
    let users: Vec<String> = (0..30).map(|i| format!("user{i:02}")).collect();
    let m = Mocks::start(&users);
    std::fs::write(m.path("wrong.pw"), "Wr0ng-Adm1n-pw\n").unwrap();
    let mut combined = String::from("SourceIdentity,SourceLoginID,SourcePassword\n");
    let mut plain = String::from("SourceIdentity,SourceLoginID\n");
    for u in &users {
        combined.push_str(&format!("{u},{u}*admin,Wr0ng-Adm1n-pw\n"));
        plain.push_str(&format!("{u},{u}\n"));
    }
    let wrong = m.path("wrong.pw");
    let runs: [(&str, Vec<&str>); 2] = [
        (&combined, vec!["--source-access", "manual-combined"]),
        (
            &plain,
            vec![
                "--source-access",
                "master",
                "--source-admin",
                "admin",
                "--source-admin-password-file",
                wrong.to_str().unwrap(),
            ],
        ),
    ];
    for (csv, args) in runs {
        let mut args = args.clone();
        args.extend(["--parallel", "8"]);
        let (code, all) = m.migrate(csv, &args);
        assert_eq!(code, Some(1), "{all}");
        assert!(!all.contains("Wr0ng-Adm1n-pw"), "{all}");
        // In memory (--no-state), each run has its own count: 2 per run.
    }
    assert_eq!(
        m.source.stats().logins_failed,
        4,
        "2 per run, not 2 per mailbox"
    );
    assert_eq!(m.dest.stats().logins_failed, 0);
}

#[test]
fn bad_access_input_exits_2_naming_every_flag_and_line_without_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.csv");
    std::fs::write(
        &users,
        format!(
            "SourceIdentity,SourceLoginID,SourcePassword\njoe,joe*admin,{ADMIN_PW}\nkim,kim,{ADMIN_PW}\n"
        ),
    )
    .unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
    c.arg("migrate")
        .arg("--users")
        .arg(&users)
        .args([
            "--source",
            "imaps://127.0.0.1:1",
            "--dest",
            "imaps://127.0.0.1:1",
        ])
        .args(["--source-access", "manual-combined"])
        .args(["--dest-access", "combined"])
        .env_remove("CUTOVER_DEST_ADMIN_PASSWORD");
    let out = run_with_timeout(&mut c, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--dest-access combined needs --dest-admin NAME"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no admin password: give --dest-admin-password-file FILE or set CUTOVER_DEST_ADMIN_PASSWORD"),
        "{stderr}"
    );
    assert!(!stderr.contains(ADMIN_PW), "{stderr}");
    // With the destination fixed, the row that is not User*Admin is named by line.
    let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
    c.arg("check")
        .arg("--users")
        .arg(&users)
        .args([
            "--source",
            "imaps://127.0.0.1:1",
            "--dest",
            "imaps://127.0.0.1:1",
        ])
        .args([
            "--source-access",
            "manual-combined",
            "--dest-admin",
            "admin",
        ])
        .env("CUTOVER_DEST_ADMIN_PASSWORD", DEST_ADMIN_PW);
    let out = run_with_timeout(&mut c, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("users.csv:3: SourceLoginID \"kim\" is not in the form User*Admin"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(ADMIN_PW) && !stderr.contains(DEST_ADMIN_PW),
        "{stderr}"
    );
}
