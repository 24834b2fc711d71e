//! What to copy and how: one mailbox's source and destination, and the knobs of the pipeline.

use crate::budget::BudgetConfig;
use crate::imap::{Auth, Endpoint, LoginAttempts, LoginGuard, LoginLimit};
use crate::plan::folder_filter::FolderFilter;
use crate::plan::message_filter::MessageFilter;
use crate::transform::address_rewrite::AddressRewriter;
use crate::transform::folder_map::FolderMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One server account: where it is and how to log in.
#[derive(Debug, Clone)]
pub struct Account {
    /// The server.
    pub endpoint: Endpoint,
    /// The login.
    pub auth: Auth,
}

/// One mailbox to move.
#[derive(Debug, Clone)]
pub struct MailboxJob {
    /// A name for reports and progress (the list's SourceIdentity).
    pub id: String,
    /// Where the mail is.
    pub source: Account,
    /// Where it goes.
    pub dest: Account,
    /// The mailbox list's SourceRootFolder (`~/mail/joe`, `Archive/joe`): only this folder and
    /// those under it are copied, the root itself into INBOX, `root/Sent` as `Sent` (then the
    /// folder map applies). `None` copies the whole account.
    pub source_root: Option<String>,
}

impl MailboxJob {
    /// The mailbox's name in the state store: the list's identity with both servers and the
    /// destination login, so one state file can serve several batches without mixing them up.
    pub fn state_key(&self) -> String {
        format!(
            "{} {} -> {} {}",
            self.id,
            self.source.endpoint,
            self.dest.auth.mailbox_identity(),
            self.dest.endpoint
        )
    }
}

/// Whether to negotiate COMPRESS=DEFLATE (RFC 4978).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompressMode {
    /// Compress only where the link is slower than the compressor: off on loopback and on links
    /// whose round trip is below [`CopyOptions::compress_min_rtt`].
    #[default]
    Auto,
    /// Compress whenever the server offers it.
    On,
    /// Never compress.
    Off,
}

/// How messages are framed on APPEND. `Auto` picks the best the destination offers; the others
/// exist to measure the difference and to work around broken servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppendMode {
    /// MULTIAPPEND batches when offered, else pipelined single APPENDs with LITERAL+/LITERAL-,
    /// else synchronizing literals.
    #[default]
    Auto,
    /// Pipelined single APPENDs (non-synchronizing literals where allowed), no MULTIAPPEND.
    Pipelined,
    /// One APPEND at a time with synchronizing literals: the behaviour of simple clients.
    OneAtATime,
}

/// Tuning of the copy pipeline. The defaults follow the per-user budget of 8 connections.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Source connections per mailbox (default 4).
    pub source_connections: usize,
    /// Destination connections per mailbox (default 4); fewer are opened when there are fewer
    /// folders with mail, since each destination folder is written by one connection to keep
    /// newest-first order.
    pub dest_connections: usize,
    /// Message bytes held in memory per mailbox, fetched but not yet acknowledged (default 64 MiB).
    /// A message larger than this still copies: it takes the whole budget.
    pub bytes_in_flight: usize,
    /// Message bytes held in memory across all mailboxes of a run (default 64 MiB), so running
    /// many mailboxes at once does not multiply memory. A window larger than this still copies.
    pub run_bytes_in_flight: usize,
    /// Messages per UID FETCH window (default 100).
    pub fetch_window_messages: usize,
    /// Bytes per UID FETCH window, by RFC822.SIZE (default 1 MiB). Small windows keep memory
    /// low; MULTIAPPEND batches still span consecutive windows of a folder.
    pub fetch_window_bytes: u64,
    /// Messages per MULTIAPPEND command (default 100).
    pub append_batch_messages: usize,
    /// Bytes per MULTIAPPEND command (default 4 MiB).
    pub append_batch_bytes: u64,
    /// APPEND commands in flight per destination connection (default 8).
    pub pipeline_depth: usize,
    /// APPEND framing.
    pub append_mode: AppendMode,
    /// COMPRESS=DEFLATE policy.
    pub compress: CompressMode,
    /// With [`CompressMode::Auto`], compress when the measured round trip is at least this.
    pub compress_min_rtt: Duration,
    /// Give up on a connect, login or command that makes no progress for this long.
    pub io_timeout: Duration,
    /// Where source folders go (Foldermap.xml or TOML); `None` keeps every name as it is.
    pub folder_map: Option<Arc<FolderMap>>,
    /// Which source folders are copied (`--include-folder`, `--exclude-folder`); the default
    /// keeps every folder.
    pub folder_filter: FolderFilter,
    /// Which messages of a folder are copied (`--since`, `--before`, `--max-message-size`,
    /// `\Deleted`); the default copies every message not flagged `\Deleted`.
    pub message_filter: MessageFilter,
    /// Header address rewrite (X.500 / IMCEA to SMTP, renamed identities, mapped domains)
    /// applied to every message before it is appended; `None` copies messages byte for byte.
    pub address_rewriter: Option<Arc<AddressRewriter>>,
    /// The checkpoint store (`--state`): what is done and what is pending survive the process,
    /// so a rerun of the same batch skips the one and reconciles the other. `None` keeps the
    /// record in memory, for this run's reconnects only.
    pub state: Option<crate::state::StateStore>,
    /// This is the final pass (`cutover migrate --complete`): the mailbox's status in the store
    /// goes to Completing when the pass starts and Completed when it ends cleanly, instead of
    /// Syncing and Synced. The copy itself is the same (default `false`).
    pub final_pass: bool,
    /// Adopt what the destination already holds (copied earlier by another tool): a source
    /// message whose Message-ID and size match a destination message of its folder is recorded
    /// as copied instead of appended (`--adopt-existing`).
    pub adopt_existing: bool,
    /// Messages the folder map now sends elsewhere than when they were copied, while their old
    /// destination folder still holds them: refuse to start the mailbox (the default), or copy
    /// them to their new folders too (`--remap copy|refuse`).
    pub remap: super::RemapPolicy,
    /// First pause before a mailbox reconnects after a dropped connection or a refusal for now
    /// (default 1 s); doubled per attempt in a row that stores nothing, up to a minute, unless
    /// the server suggests its own backoff.
    pub reconnect_pause: Duration,
    /// Cancel it to stop the run cleanly (Ctrl-C): no new window is fetched and no new APPEND
    /// sent, the APPENDs in flight are answered and booked, connections log out, and each
    /// mailbox ends as stopped with what is left. Mailboxes not started yet do not start.
    pub shutdown: CancellationToken,
    /// Failed logins allowed per account (login identity and server) within a window (default
    /// 2 per 15 minutes, under the seed's lockout at 5): counted in [`CopyOptions::state`] when
    /// there is one, so across runs and processes, else for this run. Past it a mailbox stops
    /// as "credentials rejected" without contacting the server.
    pub login_limit: LoginLimit,
    /// The run's logins in this process: whose turn it is per account, and the count when there
    /// is no state store. Cloning shares it.
    pub login_attempts: LoginAttempts,
    /// The batch's connection and rate budget and its start order ([`crate::budget`]): what
    /// [`run_batch`](super::run_batch) schedules mailboxes under. A mailbox opens as many
    /// connections per side as the budget grants, at most `source_connections` and
    /// `dest_connections`.
    pub budget: BudgetConfig,
}

impl CopyOptions {
    /// The guard every login of the run goes through (see [`LoginGuard`]).
    pub fn login_guard(&self) -> LoginGuard {
        LoginGuard::sharing(
            self.login_limit,
            self.state.clone(),
            self.login_attempts.clone(),
        )
    }
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            source_connections: 4,
            dest_connections: 4,
            bytes_in_flight: 64 << 20,
            run_bytes_in_flight: 64 << 20,
            fetch_window_messages: 100,
            fetch_window_bytes: 1 << 20,
            append_batch_messages: 100,
            append_batch_bytes: 4 << 20,
            pipeline_depth: 8,
            append_mode: AppendMode::Auto,
            compress: CompressMode::Auto,
            compress_min_rtt: Duration::from_millis(5),
            io_timeout: Duration::from_secs(120),
            folder_map: None,
            folder_filter: FolderFilter::default(),
            message_filter: MessageFilter::default(),
            address_rewriter: None,
            state: None,
            final_pass: false,
            adopt_existing: false,
            remap: super::RemapPolicy::Refuse,
            reconnect_pause: Duration::from_secs(1),
            shutdown: CancellationToken::new(),
            login_limit: LoginLimit::default(),
            login_attempts: LoginAttempts::default(),
            budget: BudgetConfig::default(),
        }
    }
}
