//! Throwaway Dovecot 2.3 servers on loopback, one per test, for the integration tests.
//!
//! Each [`Dovecot`] owns a temp dir holding everything it touches (config, `base_dir`,
//! `state_dir`, mail, log), listens on two free ports on 127.0.0.1 (implicit TLS and STARTTLS),
//! runs `dovecot -F` as a child in its own process group, and stops that group and removes the
//! dir on drop. Nothing is shared between instances, so tests may start as many as they like in
//! parallel.
//!
//! Privileges: as root (CI), Dovecot drops to the package's `dovenull`/`dovecot` accounts for its
//! own processes, and mail processes run as `nobody`, which owns the mail dirs; the temp dir is
//! made world-traversable (0755) so those accounts can reach it, so `TMPDIR` must be traversable
//! by them too. As an ordinary user every process runs as that user (no chroot), which Dovecot
//! supports for unprivileged setups. Mail is stored as `sdbox`: one file per message with flags,
//! keywords and INTERNALDATE in the index, so either namespace separator works the same way and
//! keywords are not limited as in maildir file names.
//!
//! Note: Dovecot treats a connection whose remote and local address are equal (loopback) as
//! secure, so plaintext LOGIN is accepted on [`Dovecot::imap_port`] without STARTTLS despite
//! `disable_plaintext_auth = yes`. Tests about refusing to send credentials in clear must check
//! the client, not rely on this server to refuse.

use std::fs;
use std::io::{BufRead, BufReader, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use rustix::process::Signal;
use tempfile::TempDir;

use crate::certs::ServerCert;

/// How long [`Dovecot::start`] waits for the greeting on the implicit-TLS port.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How many times [`Dovecot::start`] picks new ports after losing one to another process.
const PORT_ATTEMPTS: usize = 5;
/// How long a stop waits for the master to exit after SIGTERM before it uses SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Lines of log shown in a start error.
const LOG_TAIL_LINES: usize = 60;

/// What a test needs from a Dovecot instance: accounts, namespace shape, limits, extensions.
#[derive(Debug, Clone)]
pub struct DovecotConfig {
    /// Accounts as (name, password), stored in a passwd-file with the `{PLAIN}` scheme.
    pub users: Vec<(String, String)>,
    /// A master user (name, password) that can log in as any user, either as LOGIN
    /// `user*master` or as AUTHENTICATE PLAIN with authzid = user and authcid = master.
    pub master: Option<(String, String)>,
    /// The separator of master-user login names (`auth_master_user_separator`): `user<sep>master`.
    pub master_separator: char,
    /// Extra login names as (login, password, user): logging in as `login` with `password`
    /// opens `user`'s mailbox (a passwd-file entry with the `user=` extra field). This is how a
    /// test server takes a combined Administrator/User login such as `corp/admin/joe`, which
    /// Dovecot's own master users cannot (their name comes after the separator).
    pub login_aliases: Vec<(String, String, String)>,
    /// Hierarchy separator of the private namespace: `'/'` or `'.'`.
    pub separator: char,
    /// Per-user storage quota in bytes (quota plugin, `count` backend); `None`: unlimited.
    pub quota_bytes: Option<u64>,
    /// Largest message APPEND accepts (`quota_max_mail_size`), in bytes; `None`: no limit.
    pub max_mail_size: Option<u64>,
    /// Enable `imap_zlib`, so COMPRESS=DEFLATE is advertised.
    pub compress: bool,
    /// Where the instance's temp dir (config, sockets, mail) goes; `None`: the system temp dir.
    /// Benchmarks put it on tmpfs so the file system's per-file costs stay out of the figures.
    pub parent_dir: Option<PathBuf>,
    /// `mail_max_userip_connections`: logged-in IMAP connections of one user from one client
    /// address; the next login is refused. Tests open many connections per user from one
    /// address, so the default is 100 (Dovecot's own is 10).
    pub max_userip_connections: u32,
    /// Store mail as Maildir (`~/Maildir`, one plain file per message, its size cached in the
    /// file name and the index) instead of sdbox: for tests that damage a message file on disk
    /// ([`Dovecot::maildir`]). Keywords are then limited to 26 per folder.
    pub maildir: bool,
}

impl Default for DovecotConfig {
    /// One user `alice` / `alice-password`, no master, separator `'/'`, no limits, no COMPRESS.
    fn default() -> Self {
        DovecotConfig {
            users: vec![("alice".to_owned(), "alice-password".to_owned())],
            master: None,
            master_separator: '*',
            login_aliases: Vec::new(),
            separator: '/',
            quota_bytes: None,
            max_mail_size: None,
            compress: false,
            parent_dir: None,
            max_userip_connections: 100,
            maildir: false,
        }
    }
}

impl DovecotConfig {
    /// Rejects what would produce a broken passwd-file or namespace.
    fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            self.separator == '/' || self.separator == '.',
            "separator must be '/' or '.', not {:?}",
            self.separator
        );
        ensure!(
            self.master_separator.is_ascii_punctuation() && self.master_separator != ':',
            "master separator must be ASCII punctuation other than ':', not {:?}",
            self.master_separator
        );
        for (login, password, user) in &self.login_aliases {
            ensure!(
                !login.contains(':') && !password.contains([':', '\n', '\r']),
                "unusable login alias {login:?}"
            );
            ensure!(
                self.users.iter().any(|(u, _)| u == user),
                "login alias {login:?} names an unknown user {user:?}"
            );
        }
        let accounts = self.users.iter().chain(self.master.iter());
        for (name, password) in accounts {
            ensure!(!name.is_empty(), "empty user name");
            let bad_name = |c: char| c == ':' || c == '*' || c == '%' || c.is_whitespace();
            ensure!(!name.contains(bad_name), "unusable user name {name:?}");
            let bad_password = |c: char| c == ':' || c == '\n' || c == '\r';
            ensure!(
                !password.contains(bad_password),
                "password of {name:?} contains ':' or a line break"
            );
        }
        Ok(())
    }
}

/// A running Dovecot; dropping it stops its processes and removes its temp dir.
pub struct Dovecot {
    // Field order matters: the master is stopped before the dir is removed.
    master: MasterProcess,
    imap_port: u16,
    imaps_port: u16,
    dir: TempDir,
}

impl std::fmt::Debug for Dovecot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dovecot")
            .field("pid", &self.master.child.id())
            .field("imap_port", &self.imap_port)
            .field("imaps_port", &self.imaps_port)
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl Dovecot {
    /// Writes the config, starts `dovecot -F`, and returns once the implicit-TLS port greets
    /// with `cert` (or fails with the log tail after about 15 s).
    ///
    /// Blocking (typically 0.1 to 0.3 s); async tests may call it directly or through
    /// `spawn_blocking` to start several instances at once.
    pub fn start(config: DovecotConfig, cert: &ServerCert) -> anyhow::Result<Dovecot> {
        config.validate()?;
        let binary = dovecot_binary().context(
            "dovecot not found (looked at /usr/sbin/dovecot and PATH): install the Debian \
             package dovecot-imapd, or run scripts/test as root, which installs it",
        )?;
        let mut builder = tempfile::Builder::new();
        builder.prefix("cutover-dovecot-");
        let dir = match &config.parent_dir {
            Some(parent) => builder.tempdir_in(parent),
            None => builder.tempdir(),
        }
        .context("creating the Dovecot temp dir")?;
        let paths = Paths::new(dir.path());
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        let run_as = RunAs::detect()?;

        fs::write(&paths.cert, &cert.cert_pem)?;
        fs::write(&paths.key, &cert.key_pem)?;
        fs::set_permissions(&paths.key, fs::Permissions::from_mode(0o600))?;
        let mut users = passwd_file(&config.users);
        for (login, password, user) in &config.login_aliases {
            users.push_str(&format!(
                "{login}:{{PLAIN}}{password}::::::user={user} nodelay\n"
            ));
        }
        fs::write(&paths.users, users)?;
        fs::write(&paths.masters, passwd_file(config.master.as_slice()))?;
        fs::create_dir(&paths.home)?;
        if let RunAs::Root { mail_uid, mail_gid } = run_as {
            std::os::unix::fs::chown(&paths.home, Some(mail_uid), Some(mail_gid))
                .context("giving the mail dir to the mail user")?;
        }
        let expected_cert = native_tls::Certificate::from_pem(cert.cert_pem.as_bytes())
            .context("parsing the server certificate")?
            .to_der()?;

        for _ in 0..PORT_ATTEMPTS {
            let (imap_port, imaps_port) = free_port_pair()?;
            let ports = Ports {
                imap: imap_port,
                imaps: imaps_port,
            };
            fs::write(
                &paths.config,
                render_config(&config, &paths, ports, &run_as),
            )?;
            // A previous attempt's sockets and master.pid must not confuse this one.
            let _ = fs::remove_dir_all(&paths.base_dir);
            let output = fs::File::create(&paths.master_output)?;
            let child = Command::new(&binary)
                .arg("-F")
                .arg("-c")
                .arg(&paths.config)
                .stdin(Stdio::null())
                .stdout(output.try_clone()?)
                .stderr(output)
                .process_group(0)
                .spawn()
                .with_context(|| format!("spawning {}", binary.display()))?;
            let mut master = MasterProcess { child };
            match wait_until_ready(&mut master.child, imaps_port, &expected_cert, &paths) {
                Ok(()) => {
                    return Ok(Dovecot {
                        master,
                        imap_port,
                        imaps_port,
                        dir,
                    })
                }
                Err(NotReady::PortTaken) => continue,
                Err(NotReady::Failed(why)) => {
                    drop(master);
                    bail!(
                        "Dovecot did not start: {why}\n--- log tail ({}) ---\n{}",
                        dir.path().display(),
                        log_tail(&paths)
                    );
                }
            }
        }
        bail!(
            "Dovecot did not start: ports were taken {PORT_ATTEMPTS} times\n--- log tail ---\n{}",
            log_tail(&paths)
        )
    }

    /// Changes the per-user storage quota (`None`: unlimited) and has the master reload its
    /// configuration (SIGHUP), as an administrator raising a full mailbox's quota would: new
    /// logins see the new limit.
    pub fn set_quota(&self, bytes: Option<u64>) -> anyhow::Result<()> {
        let paths = Paths::new(self.dir.path());
        let text = fs::read_to_string(&paths.config)?;
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("quota_rule ="))
            .map(str::to_owned)
            .collect();
        if let Some(bytes) = bytes {
            let at = lines
                .iter()
                .position(|l| l.trim_start().starts_with("quota = count:"))
                .context("the config has no quota plugin section")?;
            lines.insert(at + 1, format!("  quota_rule = *:storage={bytes}B"));
        }
        fs::write(&paths.config, lines.join("\n") + "\n")?;
        let pid = self.master.child.id().to_string();
        let status = Command::new("kill").args(["-HUP", &pid]).status()?;
        anyhow::ensure!(status.success(), "kill -HUP {pid} failed");
        // The master re-reads the config before it starts the next login's processes.
        std::thread::sleep(Duration::from_millis(500));
        Ok(())
    }

    /// The home directory of `user` (its mail is under `mail/`): a test removes it to
    /// re-provision the mailbox, as an admin does after a pilot (folders come back with new
    /// UIDVALIDITYs).
    pub fn user_home(&self, user: &str) -> std::path::PathBuf {
        Paths::new(self.dir.path()).home.join(user)
    }

    /// The implicit-TLS listener on 127.0.0.1.
    pub fn imaps_port(&self) -> u16 {
        self.imaps_port
    }

    /// The Maildir of `user` (for [`DovecotConfig::maildir`] instances): INBOX's message files
    /// are in its `cur` and `new`, another folder's under `.Name`.
    pub fn maildir(&self, user: &str) -> PathBuf {
        Paths::new(self.dir.path()).home.join(user).join("Maildir")
    }

    /// The cleartext listener on 127.0.0.1, which offers STARTTLS.
    pub fn imap_port(&self) -> u16 {
        self.imap_port
    }

    /// Where `user`'s mail is stored (`mail_location = sdbox:~/mail`, indexes included).
    /// Removing it while no session of the user is open re-provisions the mailbox: the next
    /// login finds it empty, every folder with a new UIDVALIDITY.
    pub fn mail_dir(&self, user: &str) -> PathBuf {
        Paths::new(self.dir.path()).home.join(user).join("mail")
    }

    /// `imaps://127.0.0.1:PORT`, the URL form the CLI takes.
    pub fn imaps_url(&self) -> String {
        format!("imaps://127.0.0.1:{}", self.imaps_port)
    }

    /// `imap://127.0.0.1:PORT`, the STARTTLS URL form the CLI takes.
    pub fn starttls_url(&self) -> String {
        format!("imap://127.0.0.1:{}", self.imap_port)
    }

    /// CPU time the instance has spent so far: every process of its group, including imap
    /// sessions that have ended (their master reaped them). Linux only; zero elsewhere.
    pub fn cpu_time(&self) -> Duration {
        crate::process_cpu::group_cpu(self.master.child.id())
    }

    /// The instance's log (Dovecot's log file, then the master's own output), for failure
    /// messages.
    pub fn log(&self) -> String {
        let paths = Paths::new(self.dir.path());
        let mut log = fs::read_to_string(&paths.log).unwrap_or_default();
        let output = fs::read_to_string(&paths.master_output).unwrap_or_default();
        if !output.trim().is_empty() {
            log.push_str("--- dovecot stdout/stderr ---\n");
            log.push_str(&output);
        }
        log
    }
}

/// Where Dovecot is installed: `/usr/sbin/dovecot`, else the first `dovecot` on `PATH`.
pub fn dovecot_binary() -> Option<PathBuf> {
    let standard = PathBuf::from("/usr/sbin/dovecot");
    if is_executable(&standard) {
        return Some(standard);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("dovecot"))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
}

/// The master process; stopping it (on drop) takes its whole process group down.
struct MasterProcess {
    child: Child,
}

impl Drop for MasterProcess {
    fn drop(&mut self) {
        // The master leads its own group (spawned with `process_group(0)`), so its pid is the
        // group id.
        let group = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if matches!(self.child.try_wait(), Ok(None)) {
            // SIGTERM to the whole group: every process shuts down at once and the master still
            // reaps its children (TERM to the master alone takes about a second longer).
            if let Some(group) = group {
                let _ = rustix::process::kill_process_group(group, Signal::TERM);
            }
            let deadline = Instant::now() + STOP_TIMEOUT;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                sleep(Duration::from_millis(10));
            }
        }
        // Whatever is left: the master if it ignored SIGTERM, and stragglers.
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why an attempt to start did not produce a ready server.
enum NotReady {
    /// Another process bound one of our ports first: try again with new ones.
    PortTaken,
    /// Anything else, described.
    Failed(String),
}

/// Polls the implicit-TLS port until it greets over TLS with the expected certificate.
fn wait_until_ready(
    child: &mut Child,
    imaps_port: u16,
    expected_cert: &[u8],
    paths: &Paths,
) -> Result<(), NotReady> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(None) => {}
            Ok(Some(status)) => {
                let log = log_tail(paths);
                if log.contains("Address already in use") {
                    return Err(NotReady::PortTaken);
                }
                return Err(NotReady::Failed(format!("dovecot exited with {status}")));
            }
            Err(e) => return Err(NotReady::Failed(format!("waiting for dovecot: {e}"))),
        }
        let last_error = match probe_greeting(imaps_port, expected_cert) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(NotReady::Failed(format!(
                "no greeting on port {imaps_port} within {START_TIMEOUT:?} (last: {last_error:#})"
            )));
        }
        sleep(Duration::from_millis(50));
    }
}

/// Connects to the implicit-TLS port, checks the certificate is ours, and reads `* OK`.
///
/// The handshake accepts any certificate and then compares the presented one with ours byte for
/// byte: the probe has the leaf, not the CA, and pinning the leaf is the stricter check anyway.
fn probe_greeting(port: u16, expected_cert: &[u8]) -> anyhow::Result<()> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let tcp = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
    tcp.set_read_timeout(Some(Duration::from_secs(2)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(2)))?;
    let connector = native_tls::TlsConnector::builder()
        .danger_accept_invalid_certs(true)
        .danger_accept_invalid_hostnames(true)
        .build()?;
    let tls = connector
        .connect("127.0.0.1", tcp)
        .map_err(|e| anyhow::anyhow!("TLS handshake: {e}"))?;
    let presented = tls
        .peer_certificate()?
        .context("no certificate presented")?
        .to_der()?;
    ensure!(
        presented == expected_cert,
        "port {port} presents another certificate (is another server on it?)"
    );
    let mut reader = BufReader::new(tls);
    let mut greeting = String::new();
    reader.read_line(&mut greeting)?;
    ensure!(greeting.starts_with("* OK"), "greeting was {greeting:?}");
    let _ = reader.get_mut().write_all(b"z LOGOUT\r\n");
    Ok(())
}

/// Two distinct ports the kernel just considered free on 127.0.0.1.
///
/// Both listeners are held until both numbers are known, so they differ; they are closed before
/// Dovecot binds them, which leaves a small window in which another process may take one
/// ([`Dovecot::start`] retries then).
fn free_port_pair() -> anyhow::Result<(u16, u16)> {
    let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let second = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok((first.local_addr()?.port(), second.local_addr()?.port()))
}

/// The last [`LOG_TAIL_LINES`] lines of the log file and the master's output.
fn log_tail(paths: &Paths) -> String {
    let mut text = fs::read_to_string(&paths.log).unwrap_or_default();
    text.push_str(&fs::read_to_string(&paths.master_output).unwrap_or_default());
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LOG_TAIL_LINES);
    lines[start..].join("\n")
}

/// `name:{PLAIN}password` lines with the `nodelay` extra field, so a wrong password is refused
/// at once instead of after Dovecot's failure delay (unknown users still take up to a second).
fn passwd_file(accounts: &[(String, String)]) -> String {
    accounts
        .iter()
        .map(|(name, password)| format!("{name}:{{PLAIN}}{password}::::::nodelay\n"))
        .collect()
}

/// Every path of one instance, all under its temp dir.
struct Paths {
    config: PathBuf,
    base_dir: PathBuf,
    state_dir: PathBuf,
    log: PathBuf,
    master_output: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    users: PathBuf,
    masters: PathBuf,
    home: PathBuf,
}

impl Paths {
    fn new(dir: &Path) -> Paths {
        Paths {
            config: dir.join("dovecot.conf"),
            // Short: unix socket paths under it are limited to 108 bytes.
            base_dir: dir.join("run"),
            state_dir: dir.join("state"),
            log: dir.join("dovecot.log"),
            master_output: dir.join("master.out"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            users: dir.join("users"),
            masters: dir.join("masters"),
            home: dir.join("home"),
        }
    }
}

/// The two listener ports of one attempt.
#[derive(Debug, Clone, Copy)]
struct Ports {
    imap: u16,
    imaps: u16,
}

/// Who the instance runs as, which decides the privilege settings.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RunAs {
    /// Started by root: Dovecot uses its package accounts; mail processes use this uid/gid.
    Root { mail_uid: u32, mail_gid: u32 },
    /// Started by an ordinary user: everything runs as that user, without chroot.
    User {
        uid: u32,
        gid: u32,
        user: String,
        group: String,
    },
}

impl RunAs {
    /// Decides from the effective uid and looks up the names Dovecot's settings need.
    fn detect() -> anyhow::Result<RunAs> {
        let uid = rustix::process::geteuid().as_raw();
        let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
        if uid == 0 {
            let (mail_uid, mail_gid) = passwd_entry(&passwd, |name, _| name == "nobody")
                .map(|(_, uid, gid)| (uid, gid))
                .unwrap_or((65534, 65534));
            return Ok(RunAs::Root { mail_uid, mail_gid });
        }
        let (user, gid) = match passwd_entry(&passwd, |_, entry_uid| entry_uid == uid) {
            Some((name, _, gid)) => (name, gid),
            None => (
                std::env::var("USER").context("no /etc/passwd entry for this uid and no $USER")?,
                rustix::process::getegid().as_raw(),
            ),
        };
        let groups = fs::read_to_string("/etc/group").unwrap_or_default();
        let group = groups
            .lines()
            .map(|line| line.split(':').collect::<Vec<_>>())
            .find(|fields| fields.len() >= 3 && fields[2].parse() == Ok(gid))
            .map(|fields| fields[0].to_owned())
            .with_context(|| format!("no /etc/group entry for gid {gid}"))?;
        Ok(RunAs::User {
            uid,
            gid,
            user,
            group,
        })
    }
}

/// The first `/etc/passwd` entry matching `wanted(name, uid)`, as (name, uid, gid).
fn passwd_entry(passwd: &str, wanted: impl Fn(&str, u32) -> bool) -> Option<(String, u32, u32)> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let (name, uid, gid) = (fields.first()?, fields.get(2)?, fields.get(3)?);
        let (uid, gid) = (uid.parse().ok()?, gid.parse().ok()?);
        wanted(name, uid).then(|| (name.to_string(), uid, gid))
    })
}

/// The whole `dovecot.conf` of one instance; pure, so it can be unit tested.
fn render_config(config: &DovecotConfig, paths: &Paths, ports: Ports, run_as: &RunAs) -> String {
    let mut c = String::new();
    let mut line = |text: &str| {
        c.push_str(text);
        c.push('\n');
    };
    line("# Written by cutover-harness for one test; removed with its temp dir.");
    line(&format!("base_dir = {}", paths.base_dir.display()));
    line(&format!("state_dir = {}", paths.state_dir.display()));
    line(&format!("log_path = {}", paths.log.display()));
    line("listen = 127.0.0.1");
    line("protocols = imap");
    line("ssl = yes");
    line(&format!("ssl_cert = <{}", paths.cert.display()));
    line(&format!("ssl_key = <{}", paths.key.display()));
    line("disable_plaintext_auth = yes");
    line("auth_mechanisms = plain login");
    line("auth_verbose = yes");
    // Tests that expect a login to fail should not wait the default two seconds (see also
    // `nodelay` in the passwd-files).
    line("auth_failure_delay = 0");
    line(&format!(
        "auth_master_user_separator = {}",
        config.master_separator
    ));
    if !config.login_aliases.is_empty() {
        // The default allowed characters leave out `/`, which combined logins contain.
        line("auth_username_chars =");
    }
    line(match config.maildir {
        true => "mail_location = maildir:~/Maildir",
        false => "mail_location = sdbox:~/mail",
    });
    // With the default fcntl locks, the kernel's deadlock detection can answer EDEADLK when
    // several imap processes of one user lock the mailbox list index at once, and Dovecot 2.3
    // panics on it (seen with 4 connections appending per user). flock has no such detection.
    line("lock_method = flock");
    let plugins = if config.compress {
        "quota zlib"
    } else {
        "quota"
    };
    line(&format!("mail_plugins = {plugins}"));
    match run_as {
        RunAs::Root { mail_uid, mail_gid } => {
            line(&format!("mail_uid = {mail_uid}"));
            line(&format!("mail_gid = {mail_gid}"));
        }
        RunAs::User {
            uid,
            gid,
            user,
            group,
        } => {
            line(&format!("default_login_user = {user}"));
            line(&format!("default_internal_user = {user}"));
            line(&format!("default_internal_group = {group}"));
            line(&format!("first_valid_uid = {uid}"));
            line(&format!("first_valid_gid = {gid}"));
            // chroot needs root.
            line("service imap-login {\n  chroot =\n}");
        }
    }
    line("service anvil {");
    if matches!(run_as, RunAs::User { .. }) {
        line("  chroot =");
    }
    // No growing delays for an address after failed logins: tests fail logins on purpose.
    line("  unix_listener anvil-auth-penalty {\n    mode = 0\n  }");
    line("}");
    if let Some(_master) = &config.master {
        // `pass = yes`: the user named must also exist in the ordinary passdb.
        line("passdb {");
        line("  driver = passwd-file");
        line("  master = yes");
        line("  pass = yes");
        line(&format!(
            "  args = scheme=PLAIN {}",
            paths.masters.display()
        ));
        line("}");
    }
    line("passdb {");
    line("  driver = passwd-file");
    line(&format!("  args = scheme=PLAIN {}", paths.users.display()));
    line("}");
    line("userdb {");
    line("  driver = static");
    line(&format!("  args = home={}/%u", paths.home.display()));
    line("}");
    line("namespace inbox {");
    line("  inbox = yes");
    line("  prefix =");
    line(&format!("  separator = {}", config.separator));
    for (folder, use_) in [
        ("Sent", "\\Sent"),
        ("Drafts", "\\Drafts"),
        ("Trash", "\\Trash"),
        ("Junk", "\\Junk"),
    ] {
        line(&format!(
            "  mailbox {folder} {{\n    special_use = {use_}\n    auto = no\n  }}"
        ));
    }
    line("}");
    let imap_plugins = if config.compress {
        "imap_quota imap_zlib"
    } else {
        "imap_quota"
    };
    line("protocol imap {");
    line(&format!("  mail_plugins = $mail_plugins {imap_plugins}"));
    line(&format!(
        "  mail_max_userip_connections = {}",
        config.max_userip_connections
    ));
    line("}");
    line("plugin {");
    line("  quota = count:User quota");
    line("  quota_vsizes = yes");
    if let Some(bytes) = config.quota_bytes {
        line(&format!("  quota_rule = *:storage={bytes}B"));
    }
    if let Some(bytes) = config.max_mail_size {
        line(&format!("  quota_max_mail_size = {bytes}B"));
    }
    line("}");
    line("service imap-login {");
    line("  inet_listener imap {");
    line("    address = 127.0.0.1");
    line(&format!("    port = {}", ports.imap));
    line("  }");
    line("  inet_listener imaps {");
    line("    address = 127.0.0.1");
    line(&format!("    port = {}", ports.imaps));
    line("    ssl = yes");
    line("  }");
    line("}");
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> Paths {
        Paths::new(Path::new("/tmp/x"))
    }

    const PORTS: Ports = Ports {
        imap: 1143,
        imaps: 1993,
    };

    #[test]
    fn config_has_ports_separator_and_limits() {
        let config = DovecotConfig {
            separator: '.',
            quota_bytes: Some(100_000),
            max_mail_size: Some(5_000),
            compress: true,
            master: Some(("admin".into(), "pw".into())),
            max_userip_connections: 3,
            ..DovecotConfig::default()
        };
        let root = RunAs::Root {
            mail_uid: 65534,
            mail_gid: 65534,
        };
        let text = render_config(&config, &paths(), PORTS, &root);
        assert!(text.contains("port = 1143"));
        assert!(text.contains("port = 1993\n    ssl = yes"));
        assert!(text.contains("separator = ."));
        assert!(text.contains("quota_rule = *:storage=100000B"));
        assert!(text.contains("quota_max_mail_size = 5000B"));
        assert!(text.contains("mail_plugins = quota zlib"));
        assert!(text.contains("$mail_plugins imap_quota imap_zlib"));
        assert!(text.contains("master = yes"));
        assert!(text.contains("mail_uid = 65534"));
        assert!(!text.contains("chroot"));
        assert!(text.contains("anvil-auth-penalty {\n    mode = 0"));
        assert!(text.contains("mail_max_userip_connections = 3\n"));
        assert!(text.contains("mail_location = sdbox:~/mail\n"));
        let maildir = DovecotConfig {
            maildir: true,
            ..DovecotConfig::default()
        };
        let text = render_config(&maildir, &paths(), PORTS, &root);
        assert!(text.contains("mail_location = maildir:~/Maildir\n"));
    }

    #[test]
    fn config_without_extras_has_no_zlib_master_or_rules() {
        let config = DovecotConfig::default();
        let user = RunAs::User {
            uid: 1000,
            gid: 1000,
            user: "dev".into(),
            group: "dev".into(),
        };
        let text = render_config(&config, &paths(), PORTS, &user);
        assert!(!text.contains("zlib"));
        assert!(!text.contains("master = yes"));
        assert!(!text.contains("quota_rule"));
        assert!(!text.contains("quota_max_mail_size"));
        assert!(text.contains("default_internal_user = dev"));
        assert!(text.contains("service imap-login {\n  chroot =\n}"));
        assert!(text.contains("service anvil {\n  chroot =\n"));
    }

    #[test]
    fn master_separator_and_login_aliases() {
        let config = DovecotConfig {
            master_separator: '/',
            login_aliases: vec![("corp/admin/alice".into(), "pw".into(), "alice".into())],
            ..DovecotConfig::default()
        };
        let root = RunAs::Root {
            mail_uid: 65534,
            mail_gid: 65534,
        };
        let text = render_config(&config, &paths(), PORTS, &root);
        assert!(text.contains("auth_master_user_separator = /\n"));
        assert!(text.contains("auth_username_chars =\n"));
        let plain = render_config(&DovecotConfig::default(), &paths(), PORTS, &root);
        assert!(plain.contains("auth_master_user_separator = *\n"));
        assert!(!plain.contains("auth_username_chars"));
        let unknown = DovecotConfig {
            login_aliases: vec![("corp/admin/bob".into(), "pw".into(), "bob".into())],
            ..DovecotConfig::default()
        };
        assert!(unknown.validate().is_err(), "bob is no user");
    }

    #[test]
    fn validation_rejects_bad_separator_and_names() {
        let bad_separator = DovecotConfig {
            separator: '|',
            ..DovecotConfig::default()
        };
        assert!(bad_separator.validate().is_err());
        let bad_name = DovecotConfig {
            users: vec![("a:b".into(), "pw".into())],
            ..DovecotConfig::default()
        };
        assert!(bad_name.validate().is_err());
        let bad_password = DovecotConfig {
            users: vec![("a".into(), "p\nw".into())],
            ..DovecotConfig::default()
        };
        assert!(bad_password.validate().is_err());
        assert!(DovecotConfig::default().validate().is_ok());
    }

    #[test]
    fn passwd_entry_finds_by_name_and_uid() {
        let passwd = "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65533::/:/bin/false\nbroken\n";
        assert_eq!(
            passwd_entry(passwd, |name, _| name == "nobody"),
            Some(("nobody".into(), 65534, 65533))
        );
        assert_eq!(
            passwd_entry(passwd, |_, uid| uid == 0).map(|e| e.0),
            Some("root".into())
        );
        assert_eq!(passwd_entry(passwd, |name, _| name == "broken"), None);
    }

    #[test]
    fn passwd_file_uses_plain_scheme() {
        let file = passwd_file(&[("a".into(), "x".into()), ("b".into(), "y".into())]);
        assert_eq!(file, "a:{PLAIN}x::::::nodelay\nb:{PLAIN}y::::::nodelay\n");
    }
}
