//! The command line as typed: clap's raw flags, before any validation (see `settings`).
//!
//! Nothing here reads a file or decides a default that depends on another flag; secrets are
//! deliberately absent (passwords come from files or the environment, never from argv).

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Move whole mailboxes between IMAP servers: newest first, pipelined, over TLS.
#[derive(Debug, Parser)]
#[command(name = "cutover", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Migrate the mailboxes of a CSV list from the source to the destination server.
    Migrate(MigrateArgs),
    /// Migrate a generated corpus between two in-process servers and verify the result.
    Demo(DemoArgs),
    /// Measure migration velocity: named scenarios against shaped mock servers.
    Bench(crate::bench::BenchArgs),
    /// Pre-flight: read each mailbox of a CSV list (read-only) and report folders, counts,
    /// sizes, item thresholds, quota and message size limits.
    Assess(crate::assess::AssessArgs),
    /// Pre-flight: log in to every source and destination mailbox of a CSV list, read-only,
    /// and report reachable, authenticated, capabilities, destination quota, folders and
    /// messages. A rejected password is tried once, never again in the run.
    Check(crate::check_cmd::CheckArgs),
    /// After a pass: compare each mailbox of a CSV list at the destination with its source,
    /// read-only, through the folder map, filters and address rewrite of `migrate`, and list
    /// missing, extra and duplicate messages and flag and date differences.
    Verify(crate::verify_cmd::VerifyArgs),
    /// Say how long a migration takes and how to batch it, from an inventory and the link.
    Plan(crate::plan_cmd::PlanArgs),
    /// Show the built-in folder map (the TOML form `--folder-map` also reads).
    FolderMap(FolderMapArgs),
    /// Show every batch and mailbox of a state file: status, what was copied, last synced, what
    /// is left. Read-only: safe while a migration runs.
    Status(crate::status_cmd::StatusArgs),
    /// Write a template mailbox list (users.csv) and a commented settings file (cutover.toml)
    /// to start a migration from.
    Init(InitArgs),
}

/// Flags of `cutover init`.
#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// Where to write users.csv and cutover.toml.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// Overwrite the files if they exist.
    #[arg(long)]
    pub force: bool,
}

/// Flags of `cutover migrate`.
#[derive(Debug, Clone, clap::Args)]
pub struct MigrateArgs {
    /// The mailbox list (CSV: SourceIdentity, SourceServer, SourceLoginID, SourcePassword,
    /// TargetIdentity, SourceRootFolder).
    #[arg(long, value_name = "USERS.csv")]
    pub users: PathBuf,

    /// Settings from a TOML file (`cutover init` writes one): keys are these long flags; a flag
    /// given on the command line wins.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Source server for rows without SourceServer: imaps://host:port, imap://host:port
    /// (STARTTLS), or imap+plain://host:port (cleartext, needs --allow-plaintext).
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,

    /// Destination server (same forms as --source).
    #[arg(long, value_name = "URL")]
    pub dest: String,

    /// How each source mailbox is logged in to.
    #[command(flatten)]
    pub source_access: SourceAccessArgs,

    /// How each destination mailbox is logged in to.
    #[command(flatten)]
    pub dest_access: DestAccessArgs,

    /// Extra trusted CA certificates (PEM), e.g. a private CA.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Mailboxes moved at the same time.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub parallel: usize,

    /// Write the full report (JSON) to this file.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,

    /// Where folders and messages go: folder map, filters, address rewrite.
    #[command(flatten)]
    pub mapping: MappingArgs,

    /// The checkpoint file (SQLite, created if missing): what the destination acknowledged and
    /// what was in flight, so running the same command again continues where this run stopped
    /// and never copies a message twice.
    #[arg(long, value_name = "FILE", default_value = "cutover-state.sqlite")]
    pub state: PathBuf,

    /// Adopt mail the destination already holds (copied earlier by another tool): a message
    /// whose Message-ID and size match one in its destination folder is recorded as copied
    /// instead of appended again.
    #[arg(long)]
    pub adopt_existing: bool,

    /// When the folder map sends a folder elsewhere than an earlier pass did and the old
    /// destination folder still holds its messages: refuse to start that mailbox, naming the
    /// folders, or copy them to the new folder too (the old one keeps its copies).
    #[arg(long, value_enum, value_name = "CHOICE", default_value_t = RemapArg::Refuse)]
    pub remap: RemapArg,

    /// Keep no checkpoint file: a rerun copies everything again.
    #[arg(long)]
    pub no_state: bool,

    /// Failed logins allowed per account and server within 15 minutes, counted in the --state
    /// file across runs (servers lock an account after a few, the seed after 5); past it the
    /// mailbox stops as "credentials rejected" without trying again.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_failed_logins: u32,

    /// The batch these mailboxes belong to, in the state file (default: the mailbox list's file
    /// name without its extension). Its settings are recorded on its first run.
    #[arg(long, value_name = "NAME")]
    pub batch: Option<String>,

    /// Run the final pass: copy what is still missing, then mark each mailbox whose pass ended
    /// cleanly Completed, and the batch Completed when all are. Completed mailboxes are not
    /// copied again by later runs (see --reopen).
    #[arg(long)]
    pub complete: bool,

    /// Copy Completed mailboxes of the list again (mail that arrived after the cutover); without
    /// it they are skipped.
    #[arg(long)]
    pub reopen: bool,

    /// Log in to both sides, print where every folder would go, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Pipeline tuning.
    #[command(flatten)]
    pub tuning: TuningArgs,

    /// Accept any server certificate and host name. Only for throwaway test servers.
    #[arg(long)]
    pub danger_accept_invalid_certs: bool,

    /// Allow imap+plain:// (cleartext) servers: passwords and mail cross the wire unencrypted.
    #[arg(long)]
    pub allow_plaintext: bool,

    /// Show nothing but errors and the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Which folders and messages a migration moves, where they go and how their headers change:
/// shared by `migrate` and `verify`, so a verify compares exactly what the migration maps.
#[derive(Debug, Clone, clap::Args)]
pub struct MappingArgs {
    /// Where source folders go: the Microsoft tool's Foldermap.xml, or the TOML form (see
    /// `cutover folder-map --default`). Without it every folder keeps its name.
    #[arg(long, value_name = "FILE")]
    pub folder_map: Option<PathBuf>,

    /// A directory export that resolves Exchange X.500 / IMCEAEX header addresses to SMTP:
    /// LDIF as ldifde writes it (legacyExchangeDN, proxyAddresses, mail), or CSV
    /// (LegacyExchangeDN, PrimarySmtpAddress, ProxyAddresses separated by ';').
    #[arg(long, value_name = "FILE")]
    pub directory: Option<PathBuf>,

    /// Rewrite header addresses of a source domain to a target domain (repeatable).
    #[arg(long, value_name = "SOURCE=TARGET")]
    pub rewrite_domain: Vec<String>,

    /// Keep each rewritten header's original value in an `X-Cutover-Original-<Field>` header.
    #[arg(long)]
    pub keep_original_addresses: bool,

    /// Do not rename the list's users in header addresses. By default, every row whose
    /// SourceIdentity and TargetIdentity are differing email addresses has the old address
    /// rewritten to the new one in every mailbox of the batch.
    #[arg(long)]
    pub no_identity_rewrite: bool,

    /// Copy only source folders matching this pattern (repeatable): a glob (`*` within one
    /// level, `**` across levels, `?`) or `re:REGEX`, case-insensitive, levels joined by `/`;
    /// for a row with a SourceRootFolder, the name below the root.
    #[arg(long, value_name = "PATTERN")]
    pub include_folder: Vec<String>,

    /// Leave out source folders matching this pattern (repeatable; same forms).
    #[arg(long, value_name = "PATTERN")]
    pub exclude_folder: Vec<String>,

    /// Copy only messages received on or after this day (INTERNALDATE, YYYY-MM-DD; the source
    /// server's SEARCH SINCE decides).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,

    /// Copy only messages received before this day (exclusive: `--since 2024-01-01 --before
    /// 2024-02-01` is January).
    #[arg(long, value_name = "DATE")]
    pub before: Option<String>,

    /// Leave out messages larger than this (RFC822.SIZE): bytes, or with a unit such as 35MB
    /// (binary units, as Exchange counts, like `cutover assess`). Counted as filtered, not failed.
    #[arg(long, value_name = "SIZE")]
    pub max_message_size: Option<String>,

    /// Also copy messages flagged \Deleted (left out by default: the user threw them away and
    /// the source expunges them at its next EXPUNGE).
    #[arg(long)]
    pub include_deleted: bool,
}

/// Knobs of the copy pipeline, shared by `migrate` and `demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct TuningArgs {
    /// COMPRESS=DEFLATE: auto compresses only on slow links.
    #[arg(long, value_enum, default_value_t = Compress::Auto)]
    pub compress: Compress,

    /// Source connections per mailbox.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub source_connections: usize,

    /// Destination connections per mailbox.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub dest_connections: usize,

    /// Message bytes held in memory per mailbox, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub bytes_in_flight_mib: usize,

    /// Message bytes held in memory across all mailboxes of the run, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub run_bytes_in_flight_mib: usize,

    /// APPEND framing: auto picks MULTIAPPEND or pipelined LITERAL+ when offered.
    #[arg(long, value_enum, default_value_t = Append::Auto)]
    pub append_mode: Append,

    /// Connection budget and egress addresses.
    #[command(flatten)]
    pub budget: BudgetArgs,
}

/// The connection budget (guide 3.3.4.11): caps, rates, egress addresses, start order.
#[derive(Debug, Clone, clap::Args)]
pub struct BudgetArgs {
    /// Egress addresses, comma-separated: each user's connections all leave from one of them.
    #[arg(long, value_name = "IP,IP,...", value_delimiter = ',')]
    pub egress: Vec<String>,

    /// A file of egress addresses, one per line (`#` starts a comment).
    #[arg(long, value_name = "FILE")]
    pub egress_file: Option<PathBuf>,

    /// static: contiguous segments of the list per address; pool: the address with the most
    /// room when a mailbox starts. Either way sticky per user across runs (in the state file).
    #[arg(long, value_enum, default_value_t = EgressModeArg::Pool)]
    pub egress_mode: EgressModeArg,

    /// Which connections leave through the egress address and count against the caps.
    #[arg(long, value_enum, default_value_t = SidesArg::Both)]
    pub egress_sides: SidesArg,

    /// Start order of the mailboxes; sizes come from earlier passes in the state file.
    #[arg(long, value_enum, default_value_t = OrderArg::Listed)]
    pub order: OrderArg,

    /// Connections of one user at once (counted sides).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_connections_per_user: u32,

    /// Users on one egress address at once.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub max_users_per_ip: u32,

    /// Connections on one egress address at once.
    #[arg(long, value_name = "N", default_value_t = 16_000)]
    pub max_connections_per_ip: u32,

    /// Connections of one login to one server at once (Dovecot's mail_max_userip_connections,
    /// Gmail's 15); no cap by default.
    #[arg(long, value_name = "N")]
    pub max_connections_per_server: Option<u32>,

    /// Connections opened per second from one egress address.
    #[arg(long, value_name = "N")]
    pub opens_per_sec_per_ip: Option<u32>,

    /// Connections opened per second to one server.
    #[arg(long, value_name = "N")]
    pub opens_per_sec_per_server: Option<u32>,

    /// Message bytes fetched per second through one egress address.
    #[arg(long, value_name = "N")]
    pub bytes_per_sec_per_ip: Option<u32>,

    /// Message bytes fetched per second by one mailbox.
    #[arg(long, value_name = "N")]
    pub bytes_per_sec_per_mailbox: Option<u32>,

    /// Messages fetched per second through one egress address.
    #[arg(long, value_name = "N")]
    pub messages_per_sec_per_ip: Option<u32>,

    /// Messages fetched per second by one mailbox.
    #[arg(long, value_name = "N")]
    pub messages_per_sec_per_mailbox: Option<u32>,
}

/// `--remap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RemapArg {
    /// Copy to the new folders; the old folders keep their copies.
    Copy,
    /// Stop the mailbox before copying, naming the folders that moved.
    Refuse,
}

/// `--egress-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EgressModeArg {
    /// Contiguous segments of the mailbox list per address.
    Static,
    /// The address with the most room when a mailbox starts.
    Pool,
}

/// `--egress-sides`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SidesArg {
    /// Source and destination connections.
    Both,
    /// Source connections only.
    Source,
    /// Destination connections only.
    Dest,
}

/// `--order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OrderArg {
    /// As listed.
    Listed,
    /// Largest mailboxes first.
    LargestFirst,
    /// Smallest mailboxes first.
    SmallestFirst,
}

/// Flags of `cutover folder-map`.
#[derive(Debug, Clone, clap::Args)]
pub struct FolderMapArgs {
    /// Print the built-in default map: the seed's well-known folders and the names other
    /// servers and languages give them.
    #[arg(long, required = true)]
    pub default: bool,
}

/// Flags of `cutover demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Mailboxes to generate.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub mailboxes: usize,

    /// Messages per mailbox.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub messages: usize,

    /// Seed of the generated corpus (the same seed gives the same mail).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,

    /// Mailboxes moved at the same time.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub parallel: usize,

    /// Pipeline tuning.
    #[command(flatten)]
    pub tuning: TuningArgs,

    /// Write the full report (JSON) to this file.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,

    /// Show nothing but errors and the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// How the mailboxes of one side are logged in to (`--source-access`, `--dest-access`; guide
/// 3.5.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccessMethod {
    /// Each mailbox's own credentials: SourceLoginID + SourcePassword (at the destination:
    /// TargetIdentity + TargetPassword).
    Individual,
    /// LOGIN `admin<sep>user` with the admin's password (separator `/` by default; Exchange's
    /// `Domain/Admin/User` is the admin `Domain/Admin`).
    Combined,
    /// Log in as the admin named in SourceLoginID and copy only the folders under the row's
    /// SourceRootFolder, to the top of the target (source only).
    RootFolder,
    /// SourceLoginID already holds `user*admin`, SourcePassword the admin's password (Dovecot's
    /// master-user form, combined by hand; source only).
    ManualCombined,
    /// LOGIN `user<sep>admin` with the admin's password (Dovecot master users; `*` by default).
    Master,
    /// AUTHENTICATE PLAIN with the user as authorization identity (RFC 4616) and the admin's
    /// password.
    Authzid,
    /// AUTHENTICATE XOAUTH2 with an OAuth bearer token per mailbox (Gmail, Exchange Online).
    Xoauth2,
    /// AUTHENTICATE OAUTHBEARER (RFC 7628) with an OAuth bearer token per mailbox.
    Oauthbearer,
}

/// The source's access flags, shared by `migrate`, `assess` and `check`. Secrets are never
/// flags: the admin password comes from a file or CUTOVER_SOURCE_ADMIN_PASSWORD, tokens from
/// the list's SourceToken column, a file or a command.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceAccessArgs {
    /// How each source mailbox is logged in to.
    #[arg(long, value_enum, value_name = "METHOD", default_value_t = AccessMethod::Individual)]
    pub source_access: AccessMethod,

    /// The source admin (combined, master, authzid).
    #[arg(long, value_name = "NAME")]
    pub source_admin: Option<String>,

    /// File whose first line is the source admin's password. Without it the password is read
    /// from the environment variable CUTOVER_SOURCE_ADMIN_PASSWORD (root-folder: else each
    /// row's SourcePassword).
    #[arg(long, value_name = "FILE")]
    pub source_admin_password_file: Option<PathBuf>,

    /// Separator of the combined login name: default `/` for combined, `*` for master and
    /// manual-combined.
    #[arg(long, value_name = "SEP")]
    pub source_admin_separator: Option<String>,

    /// File whose first line is the OAuth bearer token for rows without a SourceToken
    /// (xoauth2, oauthbearer).
    #[arg(long, value_name = "FILE", conflicts_with = "source_token_command")]
    pub source_token_file: Option<PathBuf>,

    /// Command that prints a row's bearer token on stdout, run without a shell once per row
    /// without a SourceToken, with the SourceLoginID as its last argument. Its output is never
    /// logged.
    #[arg(long, value_name = "COMMAND")]
    pub source_token_command: Option<String>,
}

/// The destination's access flags, shared by `migrate` and `check`. `--dest-login-form` and
/// `--master-separator` are the older spelling of `--dest-access authzid|master` and
/// `--dest-admin-separator`.
#[derive(Debug, Clone, clap::Args)]
pub struct DestAccessArgs {
    /// How each destination mailbox is logged in to (default: authzid, or as
    /// --dest-login-form says). root-folder and manual-combined are source methods.
    #[arg(
        long,
        value_enum,
        value_name = "METHOD",
        conflicts_with = "dest_login_form"
    )]
    pub dest_access: Option<AccessMethod>,

    /// The destination admin that logs in on behalf of each TargetIdentity (combined, master,
    /// authzid).
    #[arg(long, value_name = "NAME")]
    pub dest_admin: Option<String>,

    /// File whose first line is the destination admin's password. Without it the password is
    /// read from the environment variable CUTOVER_DEST_ADMIN_PASSWORD.
    #[arg(long, value_name = "FILE")]
    pub dest_admin_password_file: Option<PathBuf>,

    /// Separator of the combined login name: default `/` for combined, `*` for master.
    #[arg(long, value_name = "SEP", conflicts_with = "master_separator")]
    pub dest_admin_separator: Option<String>,

    /// Older form of --dest-access: authzid or master-separator (= master).
    #[arg(long, value_enum)]
    pub dest_login_form: Option<LoginForm>,

    /// Older form of --dest-admin-separator (with --dest-login-form master-separator).
    #[arg(long, value_name = "CHAR")]
    pub master_separator: Option<String>,

    /// File whose first line is the OAuth bearer token for rows without a TargetToken.
    #[arg(long, value_name = "FILE", conflicts_with = "dest_token_command")]
    pub dest_token_file: Option<PathBuf>,

    /// Command that prints a row's destination bearer token, run without a shell with the
    /// TargetIdentity as its last argument. Its output is never logged.
    #[arg(long, value_name = "COMMAND")]
    pub dest_token_command: Option<String>,
}

/// `--dest-login-form`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoginForm {
    /// AUTHENTICATE PLAIN with the mailbox as authorization identity (RFC 4616).
    Authzid,
    /// LOGIN `target*admin` (Dovecot master users).
    MasterSeparator,
}

/// `--compress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compress {
    /// Only where the link is slower than the compressor.
    Auto,
    /// Whenever the server offers it.
    On,
    /// Never.
    Off,
}

/// `--append-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Append {
    /// The best the destination offers.
    Auto,
    /// Pipelined single APPENDs, no MULTIAPPEND.
    Pipelined,
    /// One APPEND at a time with synchronizing literals.
    OneAtATime,
}
