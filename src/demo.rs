//! `cutover demo`: a whole migration on one machine, with nothing to set up.
//!
//! Two in-process IMAP servers from the harness (implicit TLS on loopback, certificates from a
//! throwaway CA that the engine verifies), a generated corpus in the source, the real engine
//! moving it (individual credentials at the source, an admin's proxy login at the destination,
//! as in a real run), then a check of the two stores: per folder, the same number of messages
//! and the same multiset of (SHA-256 of the body, flags, INTERNALDATE).
//!
//! The calls into the mock server's store are gathered in the `stores` section below, so a change
//! of that API touches one place.

use crate::args::DemoArgs;
use crate::migrate;
use crate::progress_ui::{Display, ProgressUi};
use crate::settings::{copy_options, BadInput};
use anyhow::Context;
use cutover_engine::report::FolderReport;
use cutover_engine::{
    run_batch, Account, Auth, BatchReport, Endpoint, MailboxJob, ProxyLoginForm, Secret, TlsConfig,
};
use cutover_harness::certs::TestCa;
use cutover_harness::corpus::{generate, CorpusSpec, MailboxCorpus};
use cutover_harness::imap_account::sha256;
use cutover_harness::mock_server::{MockConfig, MockServer, MockStore, MockTls};
use std::collections::BTreeMap;

/// The destination admin of the demo.
const ADMIN: &str = "admin";
/// How many differences are listed before "... N more".
const DIFFERENCES_SHOWN: usize = 20;

/// What verification compares for one message: body hash, flags (sorted, without `\Recent`),
/// INTERNALDATE (RFC 3339).
type Fingerprint = ([u8; 32], Vec<String>, String);

/// Runs the demo; the result says whether the migration was complete and verified.
pub async fn run(args: DemoArgs) -> anyhow::Result<bool> {
    let mut problems = Vec::new();
    if args.mailboxes == 0 {
        problems.push("--mailboxes must be at least 1".to_string());
    }
    if args.parallel == 0 {
        problems.push("--parallel must be at least 1".to_string());
    }
    let options = copy_options(&args.tuning)
        .map_err(|p| problems.extend(p))
        .ok();
    let Some(options) = options.filter(|_| problems.is_empty()) else {
        return Err(BadInput { problems }.into());
    };

    let spec = CorpusSpec {
        seed: args.seed,
        mailboxes: args.mailboxes,
        messages_per_mailbox: args.messages,
        ..CorpusSpec::default()
    };
    if !args.quiet {
        eprintln!(
            "demo: generating {} mailboxes of {} messages (seed {})",
            spec.mailboxes, spec.messages_per_mailbox, spec.seed
        );
    }
    let corpus = tokio::task::spawn_blocking(move || generate(&spec))
        .await
        .context("corpus generator")?;
    if !args.quiet {
        eprintln!(
            "demo: {} messages, {:.1} MB; starting source and destination servers",
            corpus.total_messages(),
            corpus.total_bytes() as f64 / 1e6
        );
    }

    let ca = TestCa::new().context("test CA")?;
    let cert = ca
        .server_cert(&["localhost", "127.0.0.1"])
        .context("server certificate")?;
    let admin_password = Secret::new(format!("demo-admin-{}", args.seed));
    let source_store = stores::new_store();
    let dest_store = stores::new_store();
    stores::add_admin(&dest_store, ADMIN, &admin_password);
    for mailbox in &corpus.mailboxes {
        let password = user_password(&mailbox.user, args.seed);
        stores::add_user(&source_store, &mailbox.user, &password);
        // The destination account exists (as after provisioning); only the admin's password is
        // used there.
        stores::add_user(
            &dest_store,
            &mailbox.user,
            &Secret::new(format!("{}-unused", password.expose())),
        );
        stores::fill(&source_store, mailbox)?;
    }
    let source = stores::start(&cert, source_store.clone()).await?;
    let dest = stores::start(&cert, dest_store.clone()).await?;

    let jobs: Vec<MailboxJob> = corpus
        .mailboxes
        .iter()
        .map(|m| MailboxJob {
            id: m.user.clone(),
            source: Account {
                endpoint: source.clone(),
                auth: Auth::Login {
                    user: m.user.clone(),
                    password: user_password(&m.user, args.seed),
                },
            },
            dest: Account {
                endpoint: dest.clone(),
                auth: ProxyLoginForm::Authzid.auth_for(&m.user, ADMIN, &admin_password),
            },
            source_root: None,
        })
        .collect();
    let tls = TlsConfig {
        ca_pem: Some(ca.ca_pem().into_bytes()),
        danger_accept_invalid_certs: false,
    };

    let ui = ProgressUi::new(Display::detect(args.quiet), jobs.len());
    let report = run_batch(jobs, options, tls, args.parallel, ui.sink()).await;
    ui.finish();
    migrate::finish(&report, args.report.as_deref())?;

    let verification = verify(&corpus.mailboxes, &report, &source_store, &dest_store);
    match &verification {
        Ok((messages, folders)) => {
            println!("verified: {messages} messages in {folders} folders identical");
        }
        Err(differences) => {
            println!("\nverification FAILED: {} differences", differences.len());
            for d in differences.iter().take(DIFFERENCES_SHOWN) {
                println!("  {d}");
            }
            if differences.len() > DIFFERENCES_SHOWN {
                println!("  ... {} more", differences.len() - DIFFERENCES_SHOWN);
            }
        }
    }
    Ok(verification.is_ok() && report.all_copied())
}

/// The demo password of a source account (deterministic, never printed).
fn user_password(user: &str, seed: u64) -> Secret {
    Secret::new(format!("demo-{seed}-{user}"))
}

/// Compares every folder of every mailbox in the two stores. `Ok((messages, folders))` when all
/// are identical, else every difference found.
fn verify(
    mailboxes: &[MailboxCorpus],
    report: &BatchReport,
    source: &MockStore,
    dest: &MockStore,
) -> Result<(u64, u64), Vec<String>> {
    let mut differences = Vec::new();
    let (mut messages, mut folders) = (0u64, 0u64);
    for mailbox in mailboxes {
        let user = &mailbox.user;
        // The engine may map folder names (special-use folders); its report says where each went.
        let dest_names: BTreeMap<&str, &str> = report
            .mailboxes
            .iter()
            .find(|m| &m.mailbox == user)
            .map(|m| {
                m.folders
                    .iter()
                    .map(|f: &FolderReport| (f.source.as_str(), f.dest.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let dest_folders = stores::folder_names(dest, user);
        for folder in stores::folder_names(source, user) {
            let dest_folder = dest_names.get(folder.as_str()).copied().unwrap_or(&folder);
            if !dest_folders.iter().any(|f| f == dest_folder) {
                differences.push(format!(
                    "{user}: folder {dest_folder:?} missing at the destination"
                ));
                continue;
            }
            let want = stores::fingerprints(source, user, &folder);
            let got = stores::fingerprints(dest, user, dest_folder);
            let diff = compare(&want, &got);
            if diff.is_empty() {
                messages += want.len() as u64;
                folders += 1;
            } else {
                differences.extend(diff.into_iter().map(|d| format!("{user} {folder:?}: {d}")));
            }
        }
    }
    if differences.is_empty() {
        Ok((messages, folders))
    } else {
        Err(differences)
    }
}

/// Differences between two folders' multisets of fingerprints.
fn compare(want: &[Fingerprint], got: &[Fingerprint]) -> Vec<String> {
    let mut out = Vec::new();
    if want.len() != got.len() {
        out.push(format!(
            "{} messages at the source, {} at the destination",
            want.len(),
            got.len()
        ));
    }
    let mut counts: BTreeMap<&Fingerprint, i64> = BTreeMap::new();
    for f in want {
        *counts.entry(f).or_default() += 1;
    }
    for f in got {
        *counts.entry(f).or_default() -= 1;
    }
    let (mut missing, mut extra) = (0i64, 0i64);
    for n in counts.values() {
        if *n > 0 {
            missing += n;
        } else {
            extra -= n;
        }
    }
    if missing > 0 {
        out.push(format!(
            "{missing} source messages have no identical copy (body, flags, INTERNALDATE)"
        ));
    }
    if extra > 0 {
        out.push(format!(
            "{extra} destination messages match no source message"
        ));
    }
    out
}

/// Fingerprint of one message.
fn fingerprint(body: &[u8], flags: &[String], internaldate: &impl ToString) -> Fingerprint {
    let mut flags: Vec<String> = flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .cloned()
        .collect();
    flags.sort();
    (sha256(body), flags, internaldate.to_string())
}

/// Every call into the harness's mock server and store.
mod stores {
    use super::*;
    use cutover_harness::certs::ServerCert;

    /// A store with `/` as hierarchy delimiter.
    pub fn new_store() -> MockStore {
        MockStore::new('/')
    }

    pub fn add_admin(store: &MockStore, admin: &str, password: &Secret) {
        store.add_admin(admin, password.expose());
    }

    pub fn add_user(store: &MockStore, user: &str, password: &Secret) {
        store.add_user(user, password.expose());
    }

    /// Creates the mailbox's folders (INBOX exists already; creating it again sets its
    /// subscription) and appends its messages.
    pub fn fill(store: &MockStore, mailbox: &MailboxCorpus) -> anyhow::Result<()> {
        store.fill_from_corpus(mailbox, None);
        Ok(())
    }

    /// Starts a server on loopback with implicit TLS; its address.
    pub async fn start(cert: &ServerCert, store: MockStore) -> anyhow::Result<Endpoint> {
        let config = MockConfig {
            tls: MockTls::Implicit,
            identity: Some(cert.clone()),
            ..Default::default()
        };
        let server = MockServer::start(config, store)
            .await
            .context("starting a mock IMAP server")?;
        let endpoint: Endpoint = server.url().parse().context("mock server address")?;
        // The server runs until the process ends.
        std::mem::forget(server);
        Ok(endpoint)
    }

    /// The selectable folders of `user` (placeholder parents left out), Unicode names.
    pub fn folder_names(store: &MockStore, user: &str) -> Vec<String> {
        store
            .folders(user)
            .into_iter()
            .filter(|f| !f.noselect)
            .map(|f| f.name)
            .collect()
    }

    pub fn fingerprints(store: &MockStore, user: &str, folder: &str) -> Vec<Fingerprint> {
        store
            .messages(user, folder)
            .iter()
            .map(|m| fingerprint(&m.body, &m.flags, &m.internaldate.to_rfc3339()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(body: &str, flags: &[&str]) -> Fingerprint {
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        fingerprint(body.as_bytes(), &flags, &"2025-07-01T10:00:00+02:00")
    }

    #[test]
    fn identical_multisets_compare_equal_in_any_order() {
        let a = [fp("x", &["\\Seen"]), fp("y", &[]), fp("x", &["\\Seen"])];
        let b = [
            fp("x", &["\\Seen", "\\Recent"]),
            fp("x", &["\\Seen"]),
            fp("y", &[]),
        ];
        assert!(compare(&a, &b).is_empty());
    }

    #[test]
    fn differences_are_counted() {
        let a = [fp("x", &["\\Seen"]), fp("y", &[])];
        let b = [fp("x", &[]), fp("y", &[]), fp("z", &[])];
        let d = compare(&a, &b);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].contains("2 messages at the source, 3 at the destination"));
        assert!(d[1].starts_with("1 source messages"));
        assert!(d[2].starts_with("2 destination messages"));
    }
}
