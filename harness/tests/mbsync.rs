//! mbsync (isync), an IMAP client we did not write, copies a mailbox out of the mock into a
//! Maildir: the mock is a real enough IMAP server for other tools. `scripts/test` installs
//! isync; the test fails, never skips, when mbsync is missing.

use std::collections::BTreeMap;
use std::path::Path;

use cutover_harness::certs::TestCa;
use cutover_harness::corpus::{generate_mailbox, CorpusSpec};
use cutover_harness::mock_server::{MockConfig, MockProfile, MockServer, MockStore};

use crate::mock_server::timed;

/// Message bodies found under a Maildir folder (`cur` and `new`), sorted.
fn maildir_bodies(dir: &Path) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    for sub in ["cur", "new"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries {
            bodies.push(std::fs::read(entry.unwrap().path()).unwrap());
        }
    }
    bodies.sort();
    bodies
}

/// Line ends as a Maildir keeps them (LF).
fn lf(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for (i, &b) in body.iter().enumerate() {
        if !(b == b'\r' && body.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

/// mbsync adds an `X-TUID` header to what it stores; the rest must be identical.
fn without_tuid(body: &[u8]) -> Vec<u8> {
    let text = body;
    if let Some(pos) = text.windows(7).position(|w| w == b"X-TUID:") {
        let end = text[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |e| pos + e + 1);
        [&text[..pos], &text[end..]].concat()
    } else {
        text.to_vec()
    }
}

#[tokio::test]
async fn mbsync_copies_a_mailbox_out_of_the_mock() {
    timed(async {
        let spec = CorpusSpec {
            seed: 11,
            mailboxes: 1,
            messages_per_mailbox: 60,
            ..CorpusSpec::default()
        };
        let mut corpus = generate_mailbox(&spec, 0);
        corpus.user = "mbuser".into();
        let store = MockStore::new('/');
        store.add_user("mbuser", "mb-secret-9");
        store.fill_from_corpus(&corpus, None);
        let mut expected: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
        for folder in &corpus.folders {
            let bodies = folder.messages.iter().map(|m| lf(&m.body)).collect();
            expected.insert(folder.name.clone(), bodies);
        }
        let ca = TestCa::new().unwrap();
        let config = MockConfig {
            identity: Some(ca.server_cert(&["localhost", "127.0.0.1"]).unwrap()),
            ..MockProfile::Dovecot.config()
        };
        let server = MockServer::start(config, store).await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.ca_pem()).unwrap();
        let maildir = dir.path().join("mail");
        std::fs::create_dir(&maildir).unwrap();
        let rc = dir.path().join("mbsyncrc");
        std::fs::write(
            &rc,
            format!(
                "IMAPAccount mock\nHost localhost\nPort {port}\nUser mbuser\nPass mb-secret-9\n\
                 SSLType IMAPS\nCertificateFile {ca}\nAuthMechs LOGIN\n\n\
                 IMAPStore mock\nAccount mock\n\n\
                 MaildirStore local\nPath {maildir}/\nInbox {maildir}/INBOX\nSubFolders Verbatim\n\n\
                 Channel out\nFar :mock:\nNear :local:\nPatterns *\nCreate Near\nSync Pull\n\
                 SyncState *\n",
                port = server.addr().port(),
                ca = ca_file.display(),
                maildir = maildir.display(),
            ),
        )
        .unwrap();
        let out = tokio::process::Command::new("mbsync")
            .arg("-c")
            .arg(&rc)
            .arg("-a")
            .output()
            .await
            .expect("mbsync (Debian package isync) must be installed: scripts/test installs it");
        assert!(
            out.status.success(),
            "mbsync failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );

        let mut folders = 0;
        for (name, mut bodies) in expected {
            // mbsync 1.4 names Maildir folders by the IMAP (modified UTF-7) name.
            let mut path = maildir.join(&name);
            if !path.exists() {
                path = maildir.join(cutover_engine::imap::mutf7::encode(&name));
            }
            let got: Vec<Vec<u8>> = maildir_bodies(&path).iter().map(|b| without_tuid(b)).collect();
            bodies.sort();
            let mut got = got;
            got.sort();
            assert_eq!(got.len(), bodies.len(), "messages in {name}");
            assert!(got == bodies, "bodies differ in {name}");
            folders += 1;
        }
        assert!(folders >= 3, "the corpus has several folders");
        assert_eq!(server.stats().appended_messages, 0);
    })
    .await
}
