//! The mock's data model: users, admins, folders and messages, shared by every connection.
//!
//! Invariants: every user has `INBOX`; UIDs in a folder are strictly increasing and below its
//! `uidnext`; `\Recent` is never stored; message bodies are kept exactly as received.
//!
//! Parents: [`MockStore::create_folder`] of `Archive/2024` without `Archive` makes `Archive` a
//! `\Noselect` placeholder (LIST shows it, SELECT refuses it), as servers show intermediate names
//! nobody created. IMAP `CREATE` instead creates missing parents as real folders, as Dovecot does.
//! Creating a name that is a placeholder turns it into a real folder.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};

use super::mutf7;

/// The mailboxes of all users of a mock server; shared, cheap to clone, usable before, during
/// and after a server runs on it.
#[derive(Clone)]
pub struct MockStore(Arc<StoreInner>);

struct StoreInner {
    delimiter: char,
    accounts: RwLock<HashMap<String, Arc<Account>>>,
    admins: RwLock<HashMap<String, String>>,
    /// OAuth bearer tokens: token -> the user it was issued for.
    tokens: RwLock<HashMap<String, String>>,
}

/// One user: password and folders.
pub(crate) struct Account {
    password: Mutex<String>,
    mailboxes: Mutex<Mailboxes>,
    /// (folder, UID) of damaged messages: see [`MockStore::make_unreadable`].
    unreadable: Mutex<HashMap<(String, u32), Damage>>,
}

impl Account {
    /// Locks the user's folders; a poisoned lock is recovered (the data stays consistent because
    /// every mutation completes before anything can panic).
    pub(crate) fn mailboxes(&self) -> MutexGuard<'_, Mailboxes> {
        self.mailboxes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How `folder`'s message `uid` is damaged, if it is.
    pub(crate) fn damage(&self, folder: &str, uid: u32) -> Option<Damage> {
        let map = self.unreadable.lock().unwrap_or_else(|e| e.into_inner());
        if map.is_empty() {
            return None;
        }
        map.get(&(folder.to_string(), uid)).copied()
    }
}

/// What one folder holds, as seen by the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderInfo {
    /// Unicode name, hierarchy joined by the store's delimiter (`INBOX` for the inbox).
    pub name: String,
    /// The name as it travels on the wire (modified UTF-7).
    pub wire_name: String,
    /// The RFC 6154 attribute, such as `\Sent`.
    pub special_use: Option<String>,
    /// Whether LSUB lists it.
    pub subscribed: bool,
    /// UIDVALIDITY of the folder.
    pub uidvalidity: u32,
    /// The UID the next appended message gets.
    pub uidnext: u32,
    /// A placeholder parent nobody created: listed with `\Noselect`, not selectable.
    pub noselect: bool,
    /// Number of messages.
    pub messages: u32,
}

/// What of a damaged message the server cannot read ([`MockStore::make_unreadable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The content (BODY, RFC822, ENVELOPE): the metadata is in the index and still fetches.
    Content,
    /// The content and RFC822.SIZE (a size the index never cached must be read from the file).
    ContentAndSize,
    /// Reading the content drops the connection in the middle of the FETCH answer, with no
    /// tagged reply: what Dovecot does with a Maildir file shorter than the size it cached
    /// ("Cached message size larger than expected"). Marking every message so makes a server
    /// that drops every FETCH of a body.
    DropsConnection,
}

/// One stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its UID in the folder.
    pub uid: u32,
    /// System flags (`\Seen`) and keywords, as appended, without `\Recent`.
    pub flags: Vec<String>,
    /// INTERNALDATE.
    pub internaldate: DateTime<FixedOffset>,
    /// The message exactly as received.
    pub body: Bytes,
}

/// One folder's state.
pub(crate) struct Folder {
    pub(crate) special_use: Option<String>,
    pub(crate) subscribed: bool,
    pub(crate) noselect: bool,
    pub(crate) uidvalidity: u32,
    pub(crate) uidnext: u32,
    pub(crate) messages: Vec<StoredMessage>,
}

impl Folder {
    /// Messages without `\Seen`.
    pub(crate) fn unseen(&self) -> usize {
        self.messages
            .iter()
            .filter(|m| !m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen")))
            .count()
    }
}

/// A message to append: flags, INTERNALDATE, body.
pub(crate) struct NewMessage {
    pub(crate) flags: Vec<String>,
    pub(crate) internaldate: DateTime<FixedOffset>,
    pub(crate) body: Bytes,
}

/// Why an append or create did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FolderError {
    /// No such folder.
    Missing,
    /// The folder is a `\Noselect` placeholder.
    NoSelect,
    /// It exists already.
    Exists,
    /// The user's quota would be exceeded.
    OverQuota,
    /// The name is empty or has an empty hierarchy level.
    BadName,
}

/// The folders of one user, keyed by Unicode name.
pub(crate) struct Mailboxes {
    delimiter: char,
    next_uidvalidity: u32,
    pub(crate) folders: BTreeMap<String, Folder>,
    /// Bytes of every stored message, for the quota.
    used_bytes: u64,
}

impl Mailboxes {
    fn new(delimiter: char) -> Self {
        let seed = chrono::Utc::now().timestamp() as u32;
        let mut mb = Mailboxes {
            delimiter,
            next_uidvalidity: seed.max(1),
            folders: BTreeMap::new(),
            used_bytes: 0,
        };
        mb.insert("INBOX".into(), None, true, false);
        mb
    }

    /// `INBOX` in any case, alone or as the first level, becomes `INBOX`.
    pub(crate) fn normalize(&self, name: &str) -> String {
        let first = name.split(self.delimiter).next().unwrap_or("");
        if first.eq_ignore_ascii_case("INBOX") && first != "INBOX" {
            format!("INBOX{}", &name[first.len()..])
        } else {
            name.to_string()
        }
    }

    fn insert(
        &mut self,
        name: String,
        special_use: Option<&str>,
        subscribed: bool,
        noselect: bool,
    ) {
        let uidvalidity = self.next_uidvalidity;
        self.next_uidvalidity = self.next_uidvalidity.wrapping_add(1).max(1);
        self.folders.insert(
            name,
            Folder {
                special_use: special_use.map(str::to_string),
                subscribed,
                noselect,
                uidvalidity,
                uidnext: 1,
                messages: Vec::new(),
            },
        );
    }

    /// Creates `name`; missing parents become placeholders or real folders. An existing
    /// placeholder becomes real; an existing real folder is `Exists`.
    pub(crate) fn create(
        &mut self,
        name: &str,
        special_use: Option<&str>,
        subscribed: bool,
        real_parents: bool,
    ) -> Result<(), FolderError> {
        let name = self.normalize(name);
        let d = self.delimiter;
        let trimmed = name.strip_suffix(d).unwrap_or(&name);
        if trimmed.is_empty() || trimmed.split(d).any(str::is_empty) {
            return Err(FolderError::BadName);
        }
        for (i, _) in trimmed.match_indices(d) {
            let parent = &trimmed[..i];
            match self.folders.get_mut(parent) {
                Some(f) if f.noselect && real_parents => f.noselect = false,
                Some(_) => {}
                None => self.insert(
                    parent.to_string(),
                    None,
                    real_parents && subscribed,
                    !real_parents,
                ),
            }
        }
        match self.folders.get_mut(trimmed) {
            Some(f) if f.noselect => {
                f.noselect = false;
                f.subscribed |= subscribed;
                f.special_use = special_use.map(str::to_string).or(f.special_use.take());
                Ok(())
            }
            Some(_) => Err(FolderError::Exists),
            None => {
                self.insert(trimmed.to_string(), special_use, subscribed, false);
                Ok(())
            }
        }
    }

    /// A selectable folder by (normalised) name.
    pub(crate) fn selectable(&mut self, name: &str) -> Result<&mut Folder, FolderError> {
        let name = self.normalize(name);
        match self.folders.get_mut(&name) {
            None => Err(FolderError::Missing),
            Some(f) if f.noselect => Err(FolderError::NoSelect),
            Some(f) => Ok(f),
        }
    }

    /// Whether any folder lies below `name`.
    pub(crate) fn has_children(&self, name: &str) -> bool {
        let prefix = format!("{name}{}", self.delimiter);
        self.folders
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// Bytes stored over all folders.
    pub(crate) fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// Appends all messages or none; returns (uidvalidity, first uid, last uid). With a
    /// `quota`, refuses (`OverQuota`) what would take the user's storage over it.
    pub(crate) fn append(
        &mut self,
        folder: &str,
        messages: Vec<NewMessage>,
        quota: Option<u64>,
    ) -> Result<(u32, u32, u32), FolderError> {
        let adding: u64 = messages.iter().map(|m| m.body.len() as u64).sum();
        self.selectable(folder)?;
        if quota.is_some_and(|q| self.used_bytes + adding > q) {
            return Err(FolderError::OverQuota);
        }
        self.used_bytes += adding;
        let f = self.selectable(folder)?;
        let first = f.uidnext;
        for m in messages {
            let uid = f.uidnext;
            f.uidnext += 1;
            f.messages.push(StoredMessage {
                uid,
                flags: clean_flags(m.flags),
                internaldate: m.internaldate,
                body: m.body,
            });
        }
        Ok((f.uidvalidity, first, f.uidnext - 1))
    }

    fn info(&self, name: &str, f: &Folder) -> FolderInfo {
        FolderInfo {
            name: name.to_string(),
            wire_name: mutf7::encode(name),
            special_use: f.special_use.clone(),
            subscribed: f.subscribed,
            uidvalidity: f.uidvalidity,
            uidnext: f.uidnext,
            noselect: f.noselect,
            messages: f.messages.len() as u32,
        }
    }
}

/// Drops `\Recent` and case-insensitive duplicates; keeps everything else as given.
fn clean_flags(flags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(flags.len());
    for f in flags {
        if f.eq_ignore_ascii_case("\\Recent") || out.iter().any(|o| o.eq_ignore_ascii_case(&f)) {
            continue;
        }
        out.push(f);
    }
    out
}

impl MockStore {
    /// An empty store whose folder hierarchy uses `delimiter`.
    pub fn new(delimiter: char) -> Self {
        MockStore(Arc::new(StoreInner {
            delimiter,
            accounts: RwLock::new(HashMap::new()),
            admins: RwLock::new(HashMap::new()),
            tokens: RwLock::new(HashMap::new()),
        }))
    }

    /// The hierarchy delimiter.
    pub fn delimiter(&self) -> char {
        self.0.delimiter
    }

    /// Adds a user with an empty INBOX, or changes an existing user's password.
    pub fn add_user(&self, user: &str, password: &str) {
        let mut accounts = self.0.accounts.write().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = accounts.get(user) {
            *a.password.lock().unwrap_or_else(|e| e.into_inner()) = password.to_string();
            return;
        }
        accounts.insert(
            user.to_string(),
            Arc::new(Account {
                password: Mutex::new(password.to_string()),
                mailboxes: Mutex::new(Mailboxes::new(self.0.delimiter)),
                unreadable: Mutex::new(HashMap::new()),
            }),
        );
    }

    /// Adds an admin who may log in as any user: AUTHENTICATE PLAIN with authzid = user and
    /// authcid = admin, or LOGIN `user*admin` with the admin's password (Dovecot's master users).
    pub fn add_admin(&self, admin: &str, password: &str) {
        let mut admins = self.0.admins.write().unwrap_or_else(|e| e.into_inner());
        admins.insert(admin.to_string(), password.to_string());
    }

    pub(crate) fn account(&self, user: &str) -> Option<Arc<Account>> {
        let accounts = self.0.accounts.read().unwrap_or_else(|e| e.into_inner());
        accounts.get(user).cloned()
    }

    fn account_or_panic(&self, user: &str) -> Arc<Account> {
        self.account(user)
            .unwrap_or_else(|| panic!("mock store: unknown user {user:?}; call add_user first"))
    }

    /// Issues an OAuth bearer token for `user`, accepted by AUTHENTICATE XOAUTH2 and
    /// OAUTHBEARER (RFC 7628) for that user only.
    pub fn add_token(&self, user: &str, token: &str) {
        let mut tokens = self.0.tokens.write().unwrap_or_else(|e| e.into_inner());
        tokens.insert(token.to_string(), user.to_string());
    }

    /// Whether `token` was issued for `user`, who exists.
    pub(crate) fn token_ok(&self, user: &str, token: &str) -> bool {
        let tokens = self.0.tokens.read().unwrap_or_else(|e| e.into_inner());
        tokens.get(token).is_some_and(|u| u == user) && self.account(user).is_some()
    }

    /// Checks credentials; returns the user the session acts as.
    pub(crate) fn authenticate(
        &self,
        authzid: Option<&str>,
        authcid: &str,
        password: &str,
    ) -> Option<String> {
        let user_ok = |user: &str, pw: &str| {
            self.account(user)
                .is_some_and(|a| *a.password.lock().unwrap_or_else(|e| e.into_inner()) == pw)
        };
        let admin_ok = |admin: &str, pw: &str| {
            let admins = self.0.admins.read().unwrap_or_else(|e| e.into_inner());
            admins.get(admin).is_some_and(|p| p == pw)
        };
        match authzid {
            Some(user) if !user.is_empty() && user != authcid => (admin_ok(authcid, password)
                && self.account(user).is_some())
            .then(|| user.to_string()),
            _ => {
                if user_ok(authcid, password) {
                    return Some(authcid.to_string());
                }
                let (user, admin) = authcid.rsplit_once('*')?;
                (admin_ok(admin, password) && self.account(user).is_some())
                    .then(|| user.to_string())
            }
        }
    }

    /// Creates a folder (Unicode name, store delimiter). Missing parents become `\Noselect`
    /// placeholders; an existing folder gets the given special use and subscription instead.
    ///
    /// # Panics
    /// If the user is unknown or the name is empty.
    pub fn create_folder(
        &self,
        user: &str,
        name: &str,
        special_use: Option<&str>,
        subscribed: bool,
    ) {
        let account = self.account_or_panic(user);
        let mut mb = account.mailboxes();
        match mb.create(name, special_use, subscribed, false) {
            Ok(()) => {}
            Err(FolderError::Exists) => {
                let key = mb.normalize(name);
                if let Some(f) = mb.folders.get_mut(&key) {
                    f.subscribed = subscribed;
                    if special_use.is_some() {
                        f.special_use = special_use.map(str::to_string);
                    }
                }
            }
            Err(e) => panic!("mock store: cannot create folder {name:?}: {e:?}"),
        }
    }

    /// Appends one message and returns its UID; creates the folder (subscribed) if needed.
    /// `\Recent` is dropped from `flags`.
    ///
    /// # Panics
    /// If the user is unknown.
    pub fn append(
        &self,
        user: &str,
        folder: &str,
        flags: &[&str],
        internaldate: DateTime<FixedOffset>,
        body: Bytes,
    ) -> u32 {
        let account = self.account_or_panic(user);
        let mut mb = account.mailboxes();
        if mb.selectable(folder).is_err() {
            let _ = mb.create(folder, None, true, false);
        }
        let message = NewMessage {
            flags: flags.iter().map(|s| s.to_string()).collect(),
            internaldate,
            body,
        };
        match mb.append(folder, vec![message], None) {
            Ok((_, uid, _)) => uid,
            Err(e) => panic!("mock store: cannot append to {folder:?}: {e:?}"),
        }
    }

    /// Damages a message as a corrupt file does on a server that can isolate the failure: a
    /// FETCH of what `damage` covers leaves the message out and ends with `NO [SERVERBUG]`; the
    /// rest of the FETCH is answered. (Dovecot 2.3 does not: on a truncated sdbox file it
    /// answers `* BYE FETCH failed: Internal error occurred` and closes the connection.)
    ///
    /// # Panics
    /// If the user is unknown.
    pub fn make_unreadable(&self, user: &str, folder: &str, uid: u32, damage: Damage) {
        let account = self.account_or_panic(user);
        let mut map = account.unreadable.lock().unwrap_or_else(|e| e.into_inner());
        map.insert((folder.to_string(), uid), damage);
    }

    /// Puts a generated mailbox into the store: its folders (special use, subscription) and
    /// messages, all into the folder `into` when given. The user must exist.
    pub fn fill_from_corpus(&self, mailbox: &crate::corpus::MailboxCorpus, into: Option<&str>) {
        for folder in &mailbox.folders {
            let name = into.unwrap_or(&folder.name);
            self.create_folder(&mailbox.user, name, folder.special_use, folder.subscribed);
            for m in &folder.messages {
                let flags: Vec<&str> = m.flags.iter().map(String::as_str).collect();
                self.append(&mailbox.user, name, &flags, m.internaldate, m.body.clone());
            }
        }
    }

    /// Every user's name, sorted.
    pub fn users(&self) -> Vec<String> {
        let accounts = self.0.accounts.read().unwrap_or_else(|e| e.into_inner());
        let mut users: Vec<String> = accounts.keys().cloned().collect();
        users.sort();
        users
    }

    /// All folders of `user` in name order, placeholders included; empty for an unknown user.
    pub fn folders(&self, user: &str) -> Vec<FolderInfo> {
        let Some(account) = self.account(user) else {
            return Vec::new();
        };
        let mb = account.mailboxes();
        mb.folders.iter().map(|(n, f)| mb.info(n, f)).collect()
    }

    /// The messages of one folder in UID order; empty if the user or folder is unknown.
    pub fn messages(&self, user: &str, folder: &str) -> Vec<StoredMessage> {
        let Some(account) = self.account(user) else {
            return Vec::new();
        };
        let mut mb = account.mailboxes();
        mb.selectable(folder)
            .map(|f| f.messages.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2024-01-05T10:11:12+01:00").unwrap()
    }

    #[test]
    fn every_user_has_inbox_and_inbox_is_case_insensitive() {
        let store = MockStore::new('/');
        store.add_user("u", "p");
        assert_eq!(store.folders("u")[0].name, "INBOX");
        let uid = store.append(
            "u",
            "inbox",
            &["\\Seen", "\\Recent", "$Label"],
            date(),
            Bytes::from_static(b"x"),
        );
        assert_eq!(uid, 1);
        let m = store.messages("u", "INBOX");
        assert_eq!(m[0].flags, vec!["\\Seen", "$Label"]);
    }

    #[test]
    fn api_parents_are_placeholders_until_created() {
        let store = MockStore::new('.');
        store.add_user("u", "p");
        store.create_folder("u", "Archive.2024", None, true);
        let f = store.folders("u");
        let archive = f.iter().find(|f| f.name == "Archive").unwrap();
        assert!(archive.noselect);
        store.create_folder("u", "Archive", None, false);
        assert!(
            !store
                .folders("u")
                .iter()
                .find(|f| f.name == "Archive")
                .unwrap()
                .noselect
        );
    }

    #[test]
    fn imap_create_makes_real_parents_and_refuses_duplicates() {
        let mut mb = Mailboxes::new('/');
        mb.create("a/b/c", None, true, true).unwrap();
        assert!(!mb.folders["a"].noselect && !mb.folders["a/b"].noselect);
        assert_eq!(mb.create("a/b", None, true, true), Err(FolderError::Exists));
        assert_eq!(
            mb.create("a//b", None, true, true),
            Err(FolderError::BadName)
        );
        assert!(mb.has_children("a") && !mb.has_children("a/b/c"));
    }

    #[test]
    fn admins_act_as_users() {
        let store = MockStore::new('/');
        store.add_user("alice", "pw");
        store.add_admin("root", "secret");
        assert_eq!(
            store.authenticate(None, "alice", "pw").as_deref(),
            Some("alice")
        );
        assert_eq!(
            store
                .authenticate(Some("alice"), "root", "secret")
                .as_deref(),
            Some("alice")
        );
        assert_eq!(
            store.authenticate(None, "alice*root", "secret").as_deref(),
            Some("alice")
        );
        assert_eq!(store.authenticate(None, "alice", "wrong"), None);
        assert_eq!(store.authenticate(Some("alice"), "root", "pw"), None);
        assert_eq!(store.authenticate(Some("bob"), "root", "secret"), None);
    }
}
