//! Seeds the source Dovecot with the corpus, one connection per mailbox, in parallel, and
//! says what each destination must then hold.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use cutover_engine::imap::mutf7;

use crate::corpus::MailboxCorpus;
use crate::velocity::wire_session::WireSession;

/// A mailbox's expected content: message count per folder, by wire (mUTF-7) name.
pub type FolderCounts = BTreeMap<String, u64>;

/// An account on a server: login name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The login name.
    pub login: String,
    /// The password.
    pub password: String,
}

/// The message count per folder of `mailbox`, by wire name (separator `/`).
pub fn folder_counts(mailbox: &MailboxCorpus) -> FolderCounts {
    mailbox
        .folders
        .iter()
        .map(|f| (mutf7::encode(&f.name), f.messages.len() as u64))
        .collect()
}

/// Creates every folder of each mailbox and APPENDs its messages, all mailboxes at once;
/// `accounts[i]` owns `mailboxes[i]`.
pub async fn seed_all(
    addr: SocketAddr,
    ca_pem: &str,
    accounts: &[Account],
    mailboxes: Vec<Arc<MailboxCorpus>>,
) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for (account, mailbox) in accounts.iter().cloned().zip(mailboxes) {
        let ca_pem = ca_pem.to_owned();
        tasks.spawn(async move {
            seed_mailbox(addr, &ca_pem, &account, &mailbox)
                .await
                .with_context(|| format!("seeding {}", account.login))
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a seeding task panicked")??;
    }
    Ok(())
}

/// Seeds one mailbox over one connection.
async fn seed_mailbox(
    addr: SocketAddr,
    ca_pem: &str,
    account: &Account,
    mailbox: &MailboxCorpus,
) -> anyhow::Result<()> {
    let mut session = WireSession::connect(addr, ca_pem).await?;
    session.login(&account.login, &account.password).await?;
    for folder in &mailbox.folders {
        let wire_name = mutf7::encode(&folder.name);
        if !wire_name.eq_ignore_ascii_case("INBOX") {
            session.create(&wire_name).await?;
        }
        session.multiappend(&wire_name, &folder.messages).await?;
    }
    session.logout().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{generate_mailbox, CorpusSpec};

    #[test]
    fn folder_counts_use_wire_names_and_add_up() {
        let spec = CorpusSpec {
            mailboxes: 2,
            messages_per_mailbox: 50,
            median_size: 1_000,
            mean_size: 2_000,
            max_size: 10_000,
            ..CorpusSpec::default()
        };
        let odd = generate_mailbox(&spec, 1);
        let counts = folder_counts(&odd);
        assert_eq!(counts.values().sum::<u64>(), 50);
        assert!(counts.contains_key("Projets/&AMk-t&AOk-"), "{counts:?}");
        assert_eq!(counts["Empty"], 0);
    }
}
