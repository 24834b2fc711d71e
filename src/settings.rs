//! Validated settings, built from the raw flags (`args`): files read, addresses parsed, the
//! mailbox list checked, every job's credentials formed.
//!
//! Everything wrong with the input is collected and reported together as [`BadInput`] (exit 2)
//! before anything connects. No message here ever contains a password: passwords are read into
//! [`cutover_engine::Secret`]s and only their emptiness is checked (see `access`).

use crate::access::Access;
use crate::args::{Append, Compress, MappingArgs, MigrateArgs, TuningArgs};
use cutover_engine::plan::assessment::parse_size;
use cutover_engine::plan::mailbox_list::{parse_mailbox_list_with, ListRules, MailboxRow};
use cutover_engine::plan::message_filter::{parse_date, MessageFilter};
use cutover_engine::{
    Account, AppendMode, CompressMode, CopyOptions, Endpoint, MailboxJob, Security, TlsConfig,
};
use std::fmt;
use std::path::{Path, PathBuf};

/// Most connections one user may hold on one server (guide 3.3.4.11).
const MAX_CONNECTIONS_PER_USER: usize = 8;

/// Input the run cannot start with: every problem, one per line, each naming its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput {
    /// The problems.
    pub problems: Vec<String>,
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problems.join("\n"))
    }
}

impl std::error::Error for BadInput {}

/// A validated `cutover migrate`.
#[derive(Debug)]
pub struct MigrateSettings {
    /// One job per row of the mailbox list, in list order.
    pub jobs: Vec<MailboxJob>,
    /// Pipeline tuning.
    pub options: CopyOptions,
    /// Certificate checking.
    pub tls: TlsConfig,
    /// Mailboxes at once.
    pub parallel: usize,
    /// Where to write the JSON report.
    pub report: Option<PathBuf>,
    /// Show only errors and the summary.
    pub quiet: bool,
    /// Print the folder plan only.
    pub dry_run: bool,
    /// The checkpoint file, unless `--no-state`.
    pub state: Option<PathBuf>,
    /// The batch in the state file (`None` with `--no-state`).
    pub batch: Option<crate::batch_lifecycle::BatchPlan>,
}

impl MigrateSettings {
    /// Validates `args`; `env` looks up environment variables (injected for tests).
    pub fn from_args(
        args: &MigrateArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, BadInput> {
        let mut problems = Vec::new();

        let source = args.source.as_deref().and_then(|text| {
            server(text, "--source", args.allow_plaintext)
                .map_err(|p| problems.push(p))
                .ok()
        });
        let dest = server(&args.dest, "--dest", args.allow_plaintext)
            .map_err(|p| problems.push(p))
            .ok();
        let source_access = Access::source(&args.source_access, &env)
            .map_err(|p| problems.extend(p))
            .ok();
        let dest_access = Access::dest(&args.dest_access, &env)
            .map_err(|p| problems.extend(p))
            .ok();
        let tls = tls_config(args.ca_file.as_deref(), args.danger_accept_invalid_certs)
            .map_err(|p| problems.push(p))
            .ok();
        let mut options = copy_options(&args.tuning)
            .map_err(|p| problems.extend(p))
            .ok();
        if let Some(options) = options.as_mut() {
            options.adopt_existing = args.adopt_existing;
            options.remap = match args.remap {
                crate::args::RemapArg::Copy => cutover_engine::RemapPolicy::Copy,
                crate::args::RemapArg::Refuse => cutover_engine::RemapPolicy::Refuse,
            };
        }
        if args.parallel == 0 {
            problems.push("--parallel must be at least 1".into());
        }
        match (args.max_failed_logins, options.as_mut()) {
            (0, _) => problems.push("--max-failed-logins must be at least 1".into()),
            (n, Some(options)) => options.login_limit.max_failed = n,
            (_, None) => {}
        }

        let batch = crate::batch_lifecycle::BatchPlan::from_args(args)
            .map_err(|p| problems.push(p))
            .ok()
            .flatten();
        if let (Some(options), Some(batch)) = (options.as_mut(), &batch) {
            options.final_pass = batch.final_pass;
        }

        let origin = args.users.display().to_string();
        let rules = source_access
            .as_ref()
            .map(Access::list_rules)
            .unwrap_or_default();
        let rows = read_mailbox_list_with(&args.users, &rules, &mut problems);
        if let Some(options) = options.as_mut() {
            apply_mapping(&args.mapping, &rows, options, &mut problems);
        }

        let source_flag = SourceFlag {
            given: args.source.is_some(),
            endpoint: source.as_ref(),
            allow_plaintext: args.allow_plaintext,
        };
        let jobs = mailbox_jobs(
            &rows,
            &origin,
            &source_flag,
            dest.as_ref(),
            (source_access.as_ref(), dest_access.as_ref()),
            &mut problems,
        );

        if !problems.is_empty() {
            return Err(BadInput { problems });
        }
        Ok(MigrateSettings {
            jobs,
            options: options.expect("no problems means options were built"),
            tls: tls.expect("no problems means TLS was configured"),
            parallel: args.parallel,
            report: args.report.clone(),
            quiet: args.quiet,
            dry_run: args.dry_run,
            state: (!args.no_state).then(|| args.state.clone()),
            batch,
        })
    }
}

/// Sets in `options` where folders and messages go, as `migrate` and `verify` both take it
/// from `args`: the folder map, the folder and message filters, and the header address rewrite
/// (which also renames the identities of `rows`). Every problem is added to `problems`.
pub(crate) fn apply_mapping(
    args: &MappingArgs,
    rows: &[MailboxRow],
    options: &mut CopyOptions,
    problems: &mut Vec<String>,
) {
    use cutover_engine::plan::folder_filter::FolderFilter;
    if let Some(path) = &args.folder_map {
        match read_folder_map(path) {
            Ok(map) => options.folder_map = Some(std::sync::Arc::new(map)),
            Err(p) => problems.push(p),
        }
    }
    match FolderFilter::new(&args.include_folder, &args.exclude_folder) {
        Ok(filter) => options.folder_filter = filter,
        Err(p) => problems.push(p),
    }
    match message_filter(args) {
        Ok(filter) => options.message_filter = filter,
        Err(p) => problems.extend(p),
    }
    match address_rewriter(args, rows) {
        Ok(rewriter) => options.address_rewriter = rewriter.map(std::sync::Arc::new),
        Err(p) => problems.extend(p),
    }
}

/// Reads and parses the mailbox list at `path` with the needs of the access method in use,
/// adding every problem (none holds a password).
pub(crate) fn read_mailbox_list_with(
    path: &Path,
    rules: &ListRules,
    problems: &mut Vec<String>,
) -> Vec<MailboxRow> {
    let origin = path.display().to_string();
    match std::fs::read(path) {
        Err(e) => {
            problems.push(format!("cannot read the mailbox list {origin}: {e}"));
            Vec::new()
        }
        Ok(data) => match parse_mailbox_list_with(&data, &origin, rules) {
            Ok(rows) => rows,
            Err(e) => {
                problems.extend(e.to_string().lines().map(str::to_string));
                Vec::new()
            }
        },
    }
}

/// One job per row of the mailbox list: the row's source server and the logins both access
/// methods give it. A row with a problem is left out and the problem added; `dest` and the
/// accesses are `None` when their flags were bad (reported already), and then no job is made.
pub(crate) fn mailbox_jobs(
    rows: &[MailboxRow],
    origin: &str,
    source_flag: &SourceFlag<'_>,
    dest: Option<&Endpoint>,
    (source_access, dest_access): (Option<&Access>, Option<&Access>),
    problems: &mut Vec<String>,
) -> Vec<MailboxJob> {
    let mut jobs = Vec::new();
    for row in rows {
        let Some(endpoint) = source_flag.endpoint_for(row, origin, problems) else {
            continue;
        };
        let (Some(dest), Some(source_access), Some(dest_access)) =
            (dest, source_access, dest_access)
        else {
            continue;
        };
        let source_auth = source_access.auth_for(row, origin, problems);
        let dest_auth = dest_access.auth_for(row, origin, problems);
        let (Some(source_auth), Some(dest_auth)) = (source_auth, dest_auth) else {
            continue;
        };
        jobs.push(MailboxJob {
            id: row.source_identity.clone(),
            source: Account {
                endpoint,
                auth: source_auth,
            },
            dest: Account {
                endpoint: dest.clone(),
                auth: dest_auth,
            },
            source_root: row.source_root_folder.clone(),
        });
    }
    jobs
}

/// The `--source` flag as validated, and what it means for each row of the mailbox list.
pub(crate) struct SourceFlag<'a> {
    /// Whether `--source` was given at all (a bad one is reported once, not per row).
    pub given: bool,
    /// The parsed `--source`, if it parsed.
    pub endpoint: Option<&'a Endpoint>,
    /// `--allow-plaintext`.
    pub allow_plaintext: bool,
}

impl SourceFlag<'_> {
    /// The source server of `row` (its SourceServer, else `--source`), or `None` with the
    /// problem added. `origin` names the list in messages.
    pub fn endpoint_for(
        &self,
        row: &MailboxRow,
        origin: &str,
        problems: &mut Vec<String>,
    ) -> Option<Endpoint> {
        match (&row.source_server, self.endpoint) {
            (Some(endpoint), _) => {
                if endpoint.security == Security::Plain && !self.allow_plaintext {
                    problems.push(format!("{origin}:{}: {}", row.line, plaintext(endpoint)));
                    return None;
                }
                Some(endpoint.clone())
            }
            (None, Some(endpoint)) => Some(endpoint.clone()),
            (None, None) => {
                if !self.given {
                    problems.push(format!(
                        "{origin}:{}: no SourceServer for {:?} and no --source",
                        row.line, row.source_identity
                    ));
                }
                None
            }
        }
    }
}

fn plaintext(endpoint: &Endpoint) -> String {
    format!(
        "{endpoint} is cleartext (passwords and mail unencrypted); pass --allow-plaintext to allow it"
    )
}

/// Parses a server flag, refusing cleartext unless allowed.
pub(crate) fn server(text: &str, flag: &str, allow_plaintext: bool) -> Result<Endpoint, String> {
    let endpoint: Endpoint = text.parse().map_err(|e| format!("{flag}: {e}"))?;
    if endpoint.security == Security::Plain && !allow_plaintext {
        return Err(format!("{flag}: {}", plaintext(&endpoint)));
    }
    Ok(endpoint)
}

/// Certificate checking from `--ca-file` and `--danger-accept-invalid-certs`.
pub(crate) fn tls_config(
    ca_file: Option<&Path>,
    danger_accept_invalid_certs: bool,
) -> Result<TlsConfig, String> {
    let mut tls = match ca_file {
        Some(path) => TlsConfig::with_ca_file(path)
            .map_err(|e| format!("cannot read --ca-file {}: {e}", path.display()))?,
        None => TlsConfig::default(),
    };
    if let Some(pem) = &tls.ca_pem {
        if !pem.windows(11).any(|w| w == b"-----BEGIN ") {
            return Err(format!(
                "--ca-file {}: no PEM certificate in it",
                ca_file.map(|p| p.display().to_string()).unwrap_or_default()
            ));
        }
    }
    tls.danger_accept_invalid_certs = danger_accept_invalid_certs;
    Ok(tls)
}

/// The header address rewriter from `--directory`, `--rewrite-domain`,
/// `--keep-original-addresses` and the renames of the mailbox list (its rows whose
/// SourceIdentity and TargetIdentity are differing addresses, unless `--no-identity-rewrite`);
/// `None` when there is no directory, no domain and no rename.
fn address_rewriter(
    args: &MappingArgs,
    rows: &[MailboxRow],
) -> Result<Option<cutover_engine::transform::address_rewrite::AddressRewriter>, Vec<String>> {
    use cutover_engine::transform::address_rewrite::{
        AddressRewriter, Directory, DomainMap, IdentityMap,
    };
    let mut problems = Vec::new();
    let mut domains = DomainMap::new();
    for pair in &args.rewrite_domain {
        match pair.split_once('=') {
            Some((from, to))
                if from.contains('.') && to.contains('.') && !from.contains('@') && !to.contains('@') =>
            {
                domains.insert(from.trim(), to.trim())
            }
            _ => problems.push(format!(
                "--rewrite-domain {pair:?}: expected SOURCE=TARGET domains, e.g. adatum.com=contoso.com"
            )),
        }
    }
    let directory = match &args.directory {
        None => Directory::new(),
        Some(path) => {
            let origin = path.display().to_string();
            match std::fs::read(path) {
                Err(e) => {
                    problems.push(format!("--directory {origin}: {e}"));
                    Directory::new()
                }
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let text = text.trim_start_matches('\u{feff}');
                    let ldif = origin.ends_with(".ldf")
                        || origin.ends_with(".ldif")
                        || text.trim_start().to_ascii_lowercase().starts_with("dn:")
                        || text
                            .trim_start()
                            .to_ascii_lowercase()
                            .starts_with("version:");
                    let parsed = if ldif {
                        Directory::from_ldif(text, &origin)
                    } else {
                        Directory::from_csv(text, &origin)
                    };
                    parsed.unwrap_or_else(|e| {
                        problems.push(format!("--directory {e}"));
                        Directory::new()
                    })
                }
            }
        }
    };
    let identities = if args.no_identity_rewrite {
        IdentityMap::new()
    } else {
        IdentityMap::from_mailbox_list(rows)
    };
    if args.directory.is_none() && domains.is_empty() && identities.is_empty() {
        if args.keep_original_addresses {
            problems.push(
                "--keep-original-addresses needs --directory, --rewrite-domain or a row whose \
                 TargetIdentity renames its SourceIdentity's address"
                    .to_string(),
            );
        }
        return if problems.is_empty() {
            Ok(None)
        } else {
            Err(problems)
        };
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Some(
        AddressRewriter::new(directory, domains, args.keep_original_addresses)
            .with_identities(identities),
    ))
}

/// `--since`, `--before`, `--max-message-size` and `--include-deleted`, checked together.
fn message_filter(args: &MappingArgs) -> Result<MessageFilter, Vec<String>> {
    let mut problems = Vec::new();
    let mut date = |flag: &str, text: &Option<String>| {
        text.as_deref()
            .and_then(|t| parse_date(flag, t).map_err(|p| problems.push(p)).ok())
    };
    let since = date("--since", &args.since);
    let before = date("--before", &args.before);
    let max_size = args.max_message_size.as_deref().and_then(|t| {
        parse_size(t)
            .map_err(|e| problems.push(format!("--max-message-size {e}")))
            .ok()
    });
    if !problems.is_empty() {
        return Err(problems);
    }
    MessageFilter::new(since, before, max_size, args.include_deleted).map_err(|p| vec![p])
}

/// Reads `--folder-map`: Foldermap.xml when the file starts with `<` (after a byte-order mark
/// and blanks), the TOML form otherwise. The error names the file, line and column.
fn read_folder_map(
    path: &std::path::Path,
) -> Result<cutover_engine::transform::folder_map::FolderMap, String> {
    use cutover_engine::transform::folder_map::{parse_foldermap_toml, parse_foldermap_xml};
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| format!("--folder-map {origin}: {e}"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("--folder-map {origin}: not UTF-8 text (save it as UTF-8)"))?;
    let start = text.trim_start_matches('\u{feff}').trim_start();
    let parsed = if start.starts_with('<') {
        parse_foldermap_xml(&text, &origin)
    } else {
        parse_foldermap_toml(&text, &origin)
    };
    parsed.map_err(|e| format!("--folder-map {e}"))
}

/// Pipeline tuning from the shared flags, every problem listed.
pub fn copy_options(t: &TuningArgs) -> Result<CopyOptions, Vec<String>> {
    let mut problems = Vec::new();
    for (flag, n) in [
        ("--source-connections", t.source_connections),
        ("--dest-connections", t.dest_connections),
    ] {
        if !(1..=MAX_CONNECTIONS_PER_USER).contains(&n) {
            problems.push(format!(
                "{flag} must be between 1 and {MAX_CONNECTIONS_PER_USER} (connections per user, guide 3.3.4.11), not {n}"
            ));
        }
    }
    let bytes_in_flight = t.bytes_in_flight_mib.checked_mul(1 << 20);
    if t.bytes_in_flight_mib == 0 || bytes_in_flight.is_none() {
        problems.push(format!(
            "--bytes-in-flight-mib must be at least 1 and fit in memory, not {}",
            t.bytes_in_flight_mib
        ));
    }
    let run_bytes_in_flight = t.run_bytes_in_flight_mib.checked_mul(1 << 20);
    if t.run_bytes_in_flight_mib == 0 || run_bytes_in_flight.is_none() {
        problems.push(format!(
            "--run-bytes-in-flight-mib must be at least 1 and fit in memory, not {}",
            t.run_bytes_in_flight_mib
        ));
    }
    let budget = crate::budget_settings::budget_config(&t.budget)
        .map_err(|p| problems.extend(p))
        .ok();
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(CopyOptions {
        budget: budget.unwrap_or_default(),
        run_bytes_in_flight: run_bytes_in_flight.unwrap_or(64 << 20),
        source_connections: t.source_connections,
        dest_connections: t.dest_connections,
        bytes_in_flight: bytes_in_flight.unwrap_or(64 << 20),
        append_mode: match t.append_mode {
            Append::Auto => AppendMode::Auto,
            Append::Pipelined => AppendMode::Pipelined,
            Append::OneAtATime => AppendMode::OneAtATime,
        },
        compress: match t.compress {
            Compress::Auto => CompressMode::Auto,
            Compress::On => CompressMode::On,
            Compress::Off => CompressMode::Off,
        },
        ..CopyOptions::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::DEST_ADMIN_PASSWORD_ENV as ADMIN_PASSWORD_ENV;
    use crate::args::{Cli, Command};
    use clap::Parser;
    use cutover_engine::Auth;
    use std::io::Write;

    const USERS: &str = "SourceIdentity,SourceServer,SourceLoginID,SourcePassword,TargetIdentity\n\
                         joe@a.com,,joe,Joe-pw-1,joe@b.com\n\
                         ann@a.com,imap://other:1143,ann,Ann-pw-2,\n";

    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new(users: &str) -> Self {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("users.csv"), users).unwrap();
            std::fs::write(dir.path().join("admin.pw"), "Adm1n-pw\r\nsecond line\n").unwrap();
            Fixture { dir }
        }

        fn path(&self, name: &str) -> String {
            self.dir.path().join(name).display().to_string()
        }

        fn args(&self, extra: &[&str]) -> MigrateArgs {
            let users = self.path("users.csv");
            let pw = self.path("admin.pw");
            let mut argv = vec![
                "cutover",
                "migrate",
                "--users",
                &users,
                "--source",
                "imaps://src.example:993",
                "--dest",
                "imaps://dst.example",
                "--dest-admin",
                "admin",
                "--dest-admin-password-file",
                &pw,
            ];
            argv.extend_from_slice(extra);
            match Cli::try_parse_from(argv).unwrap().command {
                Command::Migrate(m) => m,
                _ => unreachable!("the command line is a migrate"),
            }
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn bad(args: &MigrateArgs, env: impl Fn(&str) -> Option<String>) -> Vec<String> {
        MigrateSettings::from_args(args, env).unwrap_err().problems
    }

    #[test]
    fn builds_jobs_with_proxy_login_at_the_destination() {
        let f = Fixture::new(USERS);
        let s = MigrateSettings::from_args(&f.args(&[]), no_env).unwrap();
        assert_eq!(s.jobs.len(), 2);
        let joe = &s.jobs[0];
        assert_eq!(joe.id, "joe@a.com");
        assert_eq!(joe.source.endpoint.host, "src.example");
        assert!(matches!(&joe.source.auth, Auth::Login { user, password }
            if user == "joe" && password.expose() == "Joe-pw-1"));
        assert!(
            matches!(&joe.dest.auth, Auth::PlainAs { authzid, authcid, password }
            if authzid == "joe@b.com" && authcid == "admin" && password.expose() == "Adm1n-pw")
        );
        let ann = &s.jobs[1];
        assert_eq!(
            (
                ann.source.endpoint.host.as_str(),
                ann.source.endpoint.security
            ),
            ("other", Security::StartTls)
        );
        assert_eq!(ann.dest.auth.mailbox_identity(), "ann@a.com");
        assert_eq!(s.parallel, 4);
    }

    #[test]
    fn source_root_folder_goes_to_its_job_and_a_bad_one_is_named() {
        let f = Fixture::new(
            "SourceIdentity,SourceLoginID,SourcePassword,SourceRootFolder\n\
             joe@a.com,admin,pw,Archive/joe\n\
             ann@a.com,admin,pw,\n",
        );
        let s = MigrateSettings::from_args(&f.args(&[]), no_env).unwrap();
        assert_eq!(s.jobs[0].source_root.as_deref(), Some("Archive/joe"));
        assert_eq!(s.jobs[1].source_root, None);
        let f = Fixture::new(
            "SourceIdentity,SourceLoginID,SourcePassword,SourceRootFolder\n\
             joe@a.com,admin,pw, / \n",
        );
        let problems = bad(&f.args(&[]), no_env);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].ends_with(
                "users.csv:2:4: SourceRootFolder \"/\" names no folder, only the separator `/`"
            ),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn renamed_identities_turn_the_address_rewrite_on_unless_opted_out() {
        // joe@a.com -> joe@b.com renames; ann has no TargetIdentity.
        let f = Fixture::new(USERS);
        let s = MigrateSettings::from_args(&f.args(&[]), no_env).unwrap();
        let rewriter = s.options.address_rewriter.expect("on without flags");
        assert_eq!(rewriter.identities().get("JOE@a.com"), Some("joe@b.com"));
        assert_eq!(rewriter.identities().len(), 1);
        let s = MigrateSettings::from_args(&f.args(&["--keep-original-addresses"]), no_env);
        assert!(s.is_ok(), "renames are something to keep originals of");

        let s = MigrateSettings::from_args(&f.args(&["--no-identity-rewrite"]), no_env).unwrap();
        assert!(s.options.address_rewriter.is_none());
        let s = MigrateSettings::from_args(
            &f.args(&["--no-identity-rewrite", "--rewrite-domain", "a.com=b.com"]),
            no_env,
        )
        .unwrap();
        let rewriter = s.options.address_rewriter.expect("a domain is mapped");
        assert!(rewriter.identities().is_empty());
        let problems = bad(
            &f.args(&["--no-identity-rewrite", "--keep-original-addresses"]),
            no_env,
        );
        assert!(
            problems[0].starts_with("--keep-original-addresses needs --directory"),
            "{problems:?}"
        );

        // Login names as identities rename nothing: no rewriter, bytes copied as they are.
        let f = Fixture::new(
            "SourceIdentity,SourceLoginID,SourcePassword,TargetIdentity\n\
             joe,joe,pw,joe.smith\n",
        );
        let s = MigrateSettings::from_args(&f.args(&[]), no_env).unwrap();
        assert!(s.options.address_rewriter.is_none());
    }

    #[test]
    fn master_separator_login_form() {
        let f = Fixture::new(USERS);
        let s =
            MigrateSettings::from_args(&f.args(&["--dest-login-form", "master-separator"]), no_env)
                .unwrap();
        assert_eq!(s.jobs[0].dest.auth.login_identity(), "joe@b.com*admin");
        let problems = bad(
            &f.args(&[
                "--dest-login-form",
                "master-separator",
                "--master-separator",
                "**",
            ]),
            no_env,
        );
        assert!(problems[0].contains("--master-separator"), "{problems:?}");
    }

    #[test]
    fn plaintext_is_refused_unless_allowed() {
        let f = Fixture::new(
            "SourceIdentity,SourceServer,SourceLoginID,SourcePassword\n\
             joe,imap+plain://old.example:143,joe,pw\n",
        );
        let mut args = f.args(&[]);
        args.dest = "imap+plain://dst.example:143".into();
        let problems = bad(&args, no_env);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("--dest: imap+plain://dst.example:143 is cleartext"));
        assert!(problems[0].contains("--allow-plaintext"));
        assert!(problems[1].ends_with("users.csv:2: imap+plain://old.example:143 is cleartext (passwords and mail unencrypted); pass --allow-plaintext to allow it"), "{}", problems[1]);
        args.allow_plaintext = true;
        let s = MigrateSettings::from_args(&args, no_env).unwrap();
        assert_eq!(s.jobs[0].source.endpoint.security, Security::Plain);
    }

    #[test]
    fn row_without_server_needs_source_flag() {
        let f = Fixture::new(USERS);
        let mut args = f.args(&[]);
        args.source = None;
        let problems = bad(&args, no_env);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].ends_with("users.csv:2: no SourceServer for \"joe@a.com\" and no --source"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn password_file_first_line_without_line_end() {
        let f = Fixture::new(USERS);
        std::fs::write(f.path("admin.pw"), "pw-only\n").unwrap();
        let s = MigrateSettings::from_args(&f.args(&[]), no_env).unwrap();
        assert!(
            matches!(&s.jobs[0].dest.auth, Auth::PlainAs { password, .. } if password.expose() == "pw-only")
        );
        std::fs::write(f.path("admin.pw"), "\nlater\n").unwrap();
        let problems = bad(&f.args(&[]), no_env);
        assert!(
            problems[0].ends_with("admin.pw: the first line is empty"),
            "{problems:?}"
        );
        assert!(!problems[0].contains("later"));
        std::fs::remove_file(f.path("admin.pw")).unwrap();
        let problems = bad(&f.args(&[]), no_env);
        assert!(
            problems[0].starts_with("cannot read --dest-admin-password-file"),
            "{problems:?}"
        );
        assert!(problems[0].contains("admin.pw"));
    }

    #[test]
    fn password_from_environment_when_no_file() {
        let f = Fixture::new(USERS);
        let mut args = f.args(&[]);
        args.dest_access.dest_admin_password_file = None;
        let env = |name: &str| (name == ADMIN_PASSWORD_ENV).then(|| "env-pw".to_string());
        let s = MigrateSettings::from_args(&args, env).unwrap();
        assert!(
            matches!(&s.jobs[0].dest.auth, Auth::PlainAs { password, .. } if password.expose() == "env-pw")
        );
        let problems = bad(&args, no_env);
        assert!(problems[0].contains(ADMIN_PASSWORD_ENV), "{problems:?}");
    }

    #[test]
    fn csv_problems_are_all_reported_without_passwords() {
        let f = Fixture::new(
            "SourceIdentity,SourceLoginID,SourcePassword\n\
             joe,,Very-secret-1\n\
             ann,ann\n",
        );
        let problems = bad(&f.args(&[]), no_env);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].ends_with("users.csv:2:2: SourceLoginID is empty"));
        assert!(problems[1].ends_with("users.csv:3: expected 3 fields as in the header, found 2"));
        assert!(!problems.join("\n").contains("Very-secret-1"));
    }

    #[test]
    fn unreadable_files_are_named() {
        let f = Fixture::new(USERS);
        let missing = f.path("nope.pem");
        let mut args = f.args(&["--ca-file", &missing]);
        args.users = f.dir.path().join("missing.csv");
        let problems = bad(&args, no_env);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems
            .iter()
            .any(|p| p.starts_with("cannot read --ca-file") && p.contains("nope.pem")));
        assert!(problems
            .iter()
            .any(|p| p.starts_with("cannot read the mailbox list") && p.contains("missing.csv")));
    }

    #[test]
    fn message_filters_are_checked_together() {
        let f = Fixture::new(USERS);
        let problems = bad(
            &f.args(&["--since", "31/01/2024", "--max-message-size", "lots"]),
            no_env,
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("--since \"31/01/2024\" is not a date"));
        assert!(problems[1].starts_with("--max-message-size"));
        let s = MigrateSettings::from_args(
            &f.args(&["--before", "2024-02-01", "--max-message-size", "1MB"]),
            no_env,
        )
        .unwrap();
        let filter = &s.options.message_filter;
        assert_eq!(
            filter.search_criteria().as_deref(),
            Some("BEFORE 1-Feb-2024")
        );
        assert!(!filter.is_default());
        let defaults = MigrateSettings::from_args(&f.args(&[]), no_env).unwrap();
        assert!(defaults.options.message_filter.is_default());
    }

    #[test]
    fn tuning_limits() {
        let f = Fixture::new(USERS);
        let problems = bad(
            &f.args(&[
                "--source-connections",
                "0",
                "--dest-connections",
                "9",
                "--parallel",
                "0",
            ]),
            no_env,
        );
        assert_eq!(problems.len(), 3, "{problems:?}");
        let s = MigrateSettings::from_args(
            &f.args(&[
                "--compress",
                "off",
                "--append-mode",
                "one-at-a-time",
                "--bytes-in-flight-mib",
                "8",
            ]),
            no_env,
        )
        .unwrap();
        assert_eq!(s.options.compress, CompressMode::Off);
        assert_eq!(s.options.append_mode, AppendMode::OneAtATime);
        assert_eq!(s.options.bytes_in_flight, 8 << 20);
    }

    #[test]
    fn ca_file_is_read() {
        let f = Fixture::new(USERS);
        let pem = f.path("ca.pem");
        let mut file = std::fs::File::create(&pem).unwrap();
        writeln!(
            file,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
        )
        .unwrap();
        let s = MigrateSettings::from_args(&f.args(&["--ca-file", &pem]), no_env).unwrap();
        assert!(s.tls.ca_pem.is_some());
        assert!(!s.tls.danger_accept_invalid_certs);
    }
}
