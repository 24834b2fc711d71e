//! Access methods, validated: the `--source-access` / `--dest-access` flags and their admin,
//! separator and token flags turned into one [`Auth`] per row of the mailbox list (guide
//! 3.5.6.2: combined `Admin/User`, source root folder, individual credentials, manually combined
//! `User*Admin`; plus SASL PLAIN with authzid and OAuth bearer tokens).
//!
//! Secrets come from files, the environment, the list or a token command, never from argv, and
//! no message here contains one: only their absence or emptiness is reported.

use crate::args::{AccessMethod, DestAccessArgs, LoginForm, SourceAccessArgs};
use cutover_engine::plan::mailbox_list::{ListRules, MailboxRow};
use cutover_engine::{Auth, BearerMechanism, ProxyLoginForm, Secret};
use std::path::Path;

/// The environment variable with the source admin's password when no
/// `--source-admin-password-file` is given.
pub const SOURCE_ADMIN_PASSWORD_ENV: &str = "CUTOVER_SOURCE_ADMIN_PASSWORD";

/// The environment variable with the destination admin's password when no
/// `--dest-admin-password-file` is given.
pub const DEST_ADMIN_PASSWORD_ENV: &str = "CUTOVER_DEST_ADMIN_PASSWORD";

/// Which side of the migration an access method is for (names its flags and columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Source,
    Dest,
}

impl Side {
    fn flag(self, name: &str) -> String {
        match self {
            Side::Source => format!("--source-{name}"),
            Side::Dest => format!("--dest-{name}"),
        }
    }
}

/// Where the bearer tokens of rows without a token column come from.
#[derive(Debug, Clone)]
enum TokenSource {
    /// `--*-token-file`: one token for every row.
    Fixed(Secret),
    /// `--*-token-command`: program and arguments; the row's login is appended.
    Command(Vec<String>),
}

/// One side's access method with its admin credentials and token source, validated.
#[derive(Debug, Clone)]
pub struct Access {
    side: Side,
    method: AccessMethod,
    admin: Option<String>,
    admin_password: Option<Secret>,
    separator: char,
    tokens: Option<TokenSource>,
}

impl Access {
    /// The source side from its flags; `env` looks up environment variables.
    pub fn source(
        args: &SourceAccessArgs,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Access, Vec<String>> {
        Access::build(
            Side::Source,
            args.source_access,
            false,
            Flags {
                admin: args.source_admin.as_deref(),
                password_file: args.source_admin_password_file.as_deref(),
                separator: args.source_admin_separator.as_deref(),
                separator_flag: "--source-admin-separator".into(),
                token_file: args.source_token_file.as_deref(),
                token_command: args.source_token_command.as_deref(),
            },
            env,
        )
    }

    /// The destination side from its flags (the older `--dest-login-form` and
    /// `--master-separator` included); `env` looks up environment variables.
    pub fn dest(
        args: &DestAccessArgs,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Access, Vec<String>> {
        let defaulted = args.dest_access.is_none() && args.dest_login_form.is_none();
        let method = match (args.dest_access, args.dest_login_form) {
            (Some(method), _) => method,
            (None, Some(LoginForm::MasterSeparator)) => AccessMethod::Master,
            (None, Some(LoginForm::Authzid) | None) => AccessMethod::Authzid,
        };
        if matches!(
            method,
            AccessMethod::RootFolder | AccessMethod::ManualCombined
        ) {
            return Err(vec![format!(
                "--dest-access {}: a source access method; the destination takes individual, combined, master, authzid, xoauth2 or oauthbearer",
                method_name(method)
            )]);
        }
        Access::build(
            Side::Dest,
            method,
            defaulted,
            Flags {
                admin: args.dest_admin.as_deref(),
                password_file: args.dest_admin_password_file.as_deref(),
                separator: args
                    .dest_admin_separator
                    .as_deref()
                    .or(args.master_separator.as_deref()),
                separator_flag: if args.dest_admin_separator.is_none()
                    && args.master_separator.is_some()
                {
                    "--master-separator".into()
                } else {
                    "--dest-admin-separator".into()
                },
                token_file: args.dest_token_file.as_deref(),
                token_command: args.dest_token_command.as_deref(),
            },
            env,
        )
    }

    fn build(
        side: Side,
        method: AccessMethod,
        defaulted: bool,
        flags: Flags<'_>,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Access, Vec<String>> {
        let mut problems = Vec::new();
        let uses_admin = matches!(
            method,
            AccessMethod::Combined | AccessMethod::Master | AccessMethod::Authzid
        );
        let admin = flags.admin.map(str::trim).filter(|a| !a.is_empty());
        if uses_admin && admin.is_none() {
            problems.push(format!(
                "{} {}{} needs {} NAME",
                side.flag("access"),
                method_name(method),
                if defaulted { " (the default)" } else { "" },
                side.flag("admin")
            ));
        }
        if !uses_admin && admin.is_some() {
            problems.push(format!(
                "{} is not used by {} {}: give {} combined, master or authzid",
                side.flag("admin"),
                side.flag("access"),
                method_name(method),
                side.flag("access"),
            ));
        }
        let uses_tokens = matches!(method, AccessMethod::Xoauth2 | AccessMethod::Oauthbearer);
        if !uses_tokens && (flags.token_file.is_some() || flags.token_command.is_some()) {
            problems.push(format!(
                "bearer tokens are not used by {} {}: give {} xoauth2 or oauthbearer",
                side.flag("access"),
                method_name(method),
                side.flag("access"),
            ));
        }
        let env_var = match side {
            Side::Source => SOURCE_ADMIN_PASSWORD_ENV,
            Side::Dest => DEST_ADMIN_PASSWORD_ENV,
        };
        let file_flag = side.flag("admin-password-file");
        let admin_password = match method {
            _ if uses_admin => read_password(flags.password_file, &file_flag, env_var, env)
                .map_err(|p| problems.push(p))
                .ok(),
            // Optional: each row's SourcePassword otherwise.
            AccessMethod::RootFolder if flags.password_file.is_some() || env(env_var).is_some() => {
                read_password(flags.password_file, &file_flag, env_var, env)
                    .map_err(|p| problems.push(p))
                    .ok()
            }
            _ => None,
        };
        let default_separator = match method {
            AccessMethod::Combined => "/",
            _ => "*",
        };
        let separator = one_char(
            flags.separator.unwrap_or(default_separator),
            &flags.separator_flag,
        )
        .map_err(|p| problems.push(p))
        .unwrap_or('*');
        let tokens = match (flags.token_file, flags.token_command) {
            (Some(path), _) => first_line_secret(path, &side.flag("token-file"))
                .map_err(|p| problems.push(p))
                .ok()
                .map(TokenSource::Fixed),
            (None, Some(command)) => {
                let words: Vec<String> = command.split_whitespace().map(String::from).collect();
                if words.is_empty() {
                    problems.push(format!("{} is empty", side.flag("token-command")));
                }
                Some(TokenSource::Command(words))
            }
            (None, None) => None,
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Access {
            side,
            method,
            admin: admin.map(str::to_string),
            admin_password,
            separator,
            tokens,
        })
    }

    /// What this method needs from every row of the mailbox list.
    pub fn list_rules(&self) -> ListRules {
        ListRules {
            source_password_required: self.side == Side::Source
                && matches!(
                    self.method,
                    AccessMethod::Individual | AccessMethod::ManualCombined
                ),
        }
    }

    /// The credentials of `row`'s mailbox on this side, or `None` with the problem added
    /// (`origin` names the list). May run the token command.
    pub fn auth_for(
        &self,
        row: &MailboxRow,
        origin: &str,
        problems: &mut Vec<String>,
    ) -> Option<Auth> {
        let at = |what: String| format!("{origin}:{}: {what}", row.line);
        let (mailbox, own_password, own_token, password_column) = match self.side {
            Side::Source => (
                row.source_login_id.as_str(),
                (!row.source_password.is_empty()).then(|| row.source_password.clone()),
                row.source_token.clone(),
                "SourcePassword",
            ),
            Side::Dest => (
                row.target_identity.as_str(),
                row.target_password.clone(),
                row.target_token.clone(),
                "TargetPassword",
            ),
        };
        let admin = || self.admin.clone().unwrap_or_default();
        let admin_password = || {
            self.admin_password
                .clone()
                .unwrap_or_else(|| Secret::new(""))
        };
        let auth = match self.method {
            AccessMethod::Individual => match own_password {
                Some(password) => Auth::Login {
                    user: mailbox.to_string(),
                    password,
                },
                None => {
                    problems.push(at(format!(
                        "{password_column} is empty (individual access needs each mailbox's password)"
                    )));
                    return None;
                }
            },
            AccessMethod::Combined => ProxyLoginForm::AdminFirst(self.separator).auth_for(
                mailbox,
                &admin(),
                &admin_password(),
            ),
            AccessMethod::Master => ProxyLoginForm::MasterSeparator(self.separator).auth_for(
                mailbox,
                &admin(),
                &admin_password(),
            ),
            AccessMethod::Authzid => {
                ProxyLoginForm::Authzid.auth_for(mailbox, &admin(), &admin_password())
            }
            AccessMethod::ManualCombined => {
                let Some((user, admin)) =
                    ProxyLoginForm::split_master_login(mailbox, self.separator)
                else {
                    problems.push(at(format!(
                        "SourceLoginID {mailbox:?} is not in the form User{sep}Admin (manual-combined access; separator from --source-admin-separator)",
                        sep = self.separator
                    )));
                    return None;
                };
                Auth::CombinedLogin {
                    login: mailbox.to_string(),
                    mailbox: user.to_string(),
                    admin: admin.to_string(),
                    password: own_password.unwrap_or_else(|| Secret::new("")),
                }
            }
            AccessMethod::RootFolder => {
                if row.source_root_folder.is_none() {
                    problems.push(at(
                        "SourceRootFolder is empty (root-folder access copies only the folders under it)".into(),
                    ));
                    return None;
                }
                let Some(password) = self.admin_password.clone().or(own_password) else {
                    problems.push(at(format!(
                        "SourcePassword is empty and there is no --source-admin-password-file or {SOURCE_ADMIN_PASSWORD_ENV} (root-folder access)"
                    )));
                    return None;
                };
                Auth::Login {
                    user: mailbox.to_string(),
                    password,
                }
            }
            AccessMethod::Xoauth2 | AccessMethod::Oauthbearer => {
                let mechanism = if self.method == AccessMethod::Xoauth2 {
                    BearerMechanism::XOAuth2
                } else {
                    BearerMechanism::OAuthBearer
                };
                let token = match (own_token, &self.tokens) {
                    (Some(token), _) => token,
                    (None, Some(TokenSource::Fixed(token))) => token.clone(),
                    (None, Some(TokenSource::Command(words))) => {
                        match run_token_command(words, mailbox) {
                            Ok(token) => token,
                            Err(why) => {
                                problems.push(at(format!(
                                    "{}: {why}",
                                    self.side.flag("token-command")
                                )));
                                return None;
                            }
                        }
                    }
                    (None, None) => {
                        let column = match self.side {
                            Side::Source => "SourceToken",
                            Side::Dest => "TargetToken",
                        };
                        problems.push(at(format!(
                            "no bearer token: {column} is empty and there is no {} or {}",
                            self.side.flag("token-file"),
                            self.side.flag("token-command")
                        )));
                        return None;
                    }
                };
                Auth::Bearer {
                    mechanism,
                    user: mailbox.to_string(),
                    token,
                }
            }
        };
        Some(auth)
    }
}

/// The flags one side's access is built from.
struct Flags<'a> {
    admin: Option<&'a str>,
    password_file: Option<&'a Path>,
    separator: Option<&'a str>,
    /// The flag the separator came from, for messages.
    separator_flag: String,
    token_file: Option<&'a Path>,
    token_command: Option<&'a str>,
}

/// The flag value of a method.
fn method_name(method: AccessMethod) -> &'static str {
    match method {
        AccessMethod::Individual => "individual",
        AccessMethod::Combined => "combined",
        AccessMethod::RootFolder => "root-folder",
        AccessMethod::ManualCombined => "manual-combined",
        AccessMethod::Master => "master",
        AccessMethod::Authzid => "authzid",
        AccessMethod::Xoauth2 => "xoauth2",
        AccessMethod::Oauthbearer => "oauthbearer",
    }
}

/// A separator flag: one visible character.
fn one_char(text: &str, flag: &str) -> Result<char, String> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if !c.is_whitespace() && !c.is_control() => Ok(c),
        _ => Err(format!(
            "{flag} must be one visible character, not {text:?}"
        )),
    }
}

/// An admin password: the first line of `file`, else the environment variable `env_var`.
pub(crate) fn read_password(
    file: Option<&Path>,
    file_flag: &str,
    env_var: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Secret, String> {
    match file {
        Some(path) => first_line_secret(path, file_flag),
        None => match env(env_var) {
            Some(value) if !value.is_empty() => Ok(Secret::new(value)),
            Some(_) => Err(format!("{env_var} is empty")),
            None => Err(format!(
                "no admin password: give {file_flag} FILE or set {env_var}"
            )),
        },
    }
}

/// The first line of a secret file (without its line end), never empty.
fn first_line_secret(path: &Path, flag: &str) -> Result<Secret, String> {
    let data =
        std::fs::read(path).map_err(|e| format!("cannot read {flag} {}: {e}", path.display()))?;
    let Ok(text) = String::from_utf8(data) else {
        return Err(format!("{flag} {}: not valid UTF-8", path.display()));
    };
    let first = text.split('\n').next().unwrap_or_default();
    let secret = Secret::new(first.strip_suffix('\r').unwrap_or(first));
    if secret.is_empty() {
        return Err(format!(
            "{flag} {}: the first line is empty",
            path.display()
        ));
    }
    Ok(secret)
}

/// Runs a token command (no shell) with `login` as last argument: the first line of its stdout.
/// Neither its output nor its error output ever reaches a message.
fn run_token_command(words: &[String], login: &str) -> Result<Secret, String> {
    let (program, args) = words.split_first().ok_or("empty command")?;
    let output = std::process::Command::new(program)
        .args(args)
        .arg(login)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut stdout = output.stdout;
    let result = if !output.status.success() {
        Err(format!("{program} failed ({})", output.status))
    } else {
        let text = String::from_utf8_lossy(&stdout);
        let first = text.lines().next().unwrap_or_default().trim();
        if first.is_empty() {
            Err(format!("{program} printed no token"))
        } else {
            Ok(Secret::new(first))
        }
    };
    zeroize::Zeroize::zeroize(&mut stdout);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command, MigrateArgs};
    use clap::Parser;
    use cutover_engine::plan::mailbox_list::parse_mailbox_list_with;

    fn args(extra: &[&str]) -> MigrateArgs {
        let mut argv = vec![
            "cutover",
            "migrate",
            "--users",
            "u.csv",
            "--dest",
            "imaps://d",
        ];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Migrate(m) => m,
            _ => unreachable!("a migrate"),
        }
    }

    fn env(name: &str) -> Option<String> {
        match name {
            SOURCE_ADMIN_PASSWORD_ENV => Some("Src-admin-pw".into()),
            DEST_ADMIN_PASSWORD_ENV => Some("Dst-admin-pw".into()),
            _ => None,
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn rows(access: &Access, csv: &str) -> Vec<MailboxRow> {
        parse_mailbox_list_with(csv.as_bytes(), "u.csv", &access.list_rules()).unwrap()
    }

    const LIST: &str = "SourceIdentity,SourceLoginID,SourcePassword,TargetIdentity,SourceRootFolder,SourceToken,TargetPassword\n\
                        joe,joe,Joe-pw,joe@b.com,Users/joe,,Joe-dest-pw\n";

    fn source(extra: &[&str], env: impl Fn(&str) -> Option<String>) -> Auth {
        let access = Access::source(&args(extra).source_access, &env).unwrap();
        let rows = rows(&access, LIST);
        let mut problems = Vec::new();
        let auth = access.auth_for(&rows[0], "u.csv", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        auth.unwrap()
    }

    #[test]
    fn every_source_method_forms_its_login_and_names_the_credential_owner() {
        let a = source(&[], no_env);
        assert!(
            matches!(&a, Auth::Login { user, password } if user == "joe" && password.expose() == "Joe-pw")
        );

        let a = source(
            &[
                "--source-access",
                "combined",
                "--source-admin",
                "corp/admin",
            ],
            env,
        );
        assert!(matches!(&a, Auth::CombinedLogin { login, password, .. }
            if login == "corp/admin/joe" && password.expose() == "Src-admin-pw"));
        assert_eq!(a.credential_owner(), "corp/admin");

        let a = source(
            &[
                "--source-access",
                "combined",
                "--source-admin",
                "admin",
                "--source-admin-separator",
                "\\",
            ],
            env,
        );
        assert_eq!(a.login_identity(), "admin\\joe");

        let a = source(
            &["--source-access", "master", "--source-admin", "admin"],
            env,
        );
        assert_eq!(
            (a.login_identity(), a.credential_owner()),
            ("joe*admin", "admin")
        );

        let a = source(
            &["--source-access", "authzid", "--source-admin", "admin"],
            env,
        );
        assert!(
            matches!(&a, Auth::PlainAs { authzid, authcid, .. } if authzid == "joe" && authcid == "admin")
        );

        // Root folder: the row's password unless the admin's is given.
        let a = source(&["--source-access", "root-folder"], no_env);
        assert!(
            matches!(&a, Auth::Login { user, password } if user == "joe" && password.expose() == "Joe-pw")
        );
        let a = source(&["--source-access", "root-folder"], env);
        assert!(matches!(&a, Auth::Login { password, .. } if password.expose() == "Src-admin-pw"));
    }

    #[test]
    fn manual_combined_splits_the_login_and_rejects_a_plain_one() {
        let access = Access::source(
            &args(&["--source-access", "manual-combined"]).source_access,
            &no_env,
        )
        .unwrap();
        let list =
            "SourceIdentity,SourceLoginID,SourcePassword\nj,joe*admin,Adm-pw\nk,kim,Adm-pw\n";
        let rows = rows(&access, list);
        let mut problems = Vec::new();
        let a = access.auth_for(&rows[0], "u.csv", &mut problems).unwrap();
        assert_eq!(
            (
                a.mailbox_identity(),
                a.credential_owner(),
                a.login_identity()
            ),
            ("joe", "admin", "joe*admin")
        );
        assert!(access.auth_for(&rows[1], "u.csv", &mut problems).is_none());
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("u.csv:3: SourceLoginID \"kim\" is not in the form User*Admin"),
            "{problems:?}"
        );
        assert!(!problems[0].contains("Adm-pw"));
        // The password column is required for this method.
        let err = parse_mailbox_list_with(
            b"SourceIdentity,SourceLoginID\nj,joe*admin\n",
            "u.csv",
            &access.list_rules(),
        );
        assert!(err.is_err());
    }

    #[test]
    fn admin_methods_need_an_admin_and_a_password_and_say_which_flag() {
        let problems = Access::source(
            &args(&["--source-access", "combined"]).source_access,
            &no_env,
        )
        .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(
            problems[0],
            "--source-access combined needs --source-admin NAME"
        );
        assert_eq!(problems[1], "no admin password: give --source-admin-password-file FILE or set CUTOVER_SOURCE_ADMIN_PASSWORD");
        let problems =
            Access::dest(&args(&["--dest-access", "root-folder"]).dest_access, &env).unwrap_err();
        assert!(
            problems[0].starts_with("--dest-access root-folder: a source access method"),
            "{problems:?}"
        );
        let problems = Access::source(
            &args(&[
                "--source-access",
                "master",
                "--source-admin",
                "a",
                "--source-admin-separator",
                "**",
            ])
            .source_access,
            &env,
        )
        .unwrap_err();
        assert_eq!(
            problems,
            ["--source-admin-separator must be one visible character, not \"**\""]
        );
        // Flags the method would ignore are named, not silently dropped.
        let problems = Access::source(
            &args(&["--source-admin", "admin", "--source-token-command", "x"]).source_access,
            &env,
        )
        .unwrap_err();
        assert_eq!(
            problems,
            [
                "--source-admin is not used by --source-access individual: give --source-access combined, master or authzid",
                "bearer tokens are not used by --source-access individual: give --source-access xoauth2 or oauthbearer"
            ]
        );
    }

    #[test]
    fn the_destination_keeps_its_older_flags_and_offers_individual_access() {
        let dest = |extra: &[&str]| {
            let access = Access::dest(&args(extra).dest_access, &env).unwrap();
            let rows = rows(
                &Access::source(&args(&[]).source_access, &no_env).unwrap(),
                LIST,
            );
            access.auth_for(&rows[0], "u.csv", &mut Vec::new()).unwrap()
        };
        let a = dest(&["--dest-admin", "admin"]);
        assert!(matches!(&a, Auth::PlainAs { authzid, .. } if authzid == "joe@b.com"));
        let a = dest(&[
            "--dest-admin",
            "admin",
            "--dest-login-form",
            "master-separator",
            "--master-separator",
            "+",
        ]);
        assert_eq!(a.login_identity(), "joe@b.com+admin");
        let a = dest(&["--dest-access", "individual"]);
        assert!(
            matches!(&a, Auth::Login { user, password } if user == "joe@b.com" && password.expose() == "Joe-dest-pw")
        );
        assert!(
            Cli::try_parse_from([
                "cutover",
                "migrate",
                "--users",
                "u",
                "--dest",
                "d",
                "--dest-access",
                "master",
                "--dest-login-form",
                "authzid",
            ])
            .is_err(),
            "two spellings of one choice conflict"
        );
    }

    #[test]
    fn tokens_come_from_the_row_a_file_or_a_command_and_never_reach_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "File-token\n").unwrap();
        let list = "SourceIdentity,SourceLoginID,SourceToken\nj,joe,Row-token\nk,kim,\n";
        let auths = |extra: &[&str]| {
            let access = Access::source(&args(extra).source_access, &no_env).unwrap();
            let rows = rows(&access, list);
            let mut problems = Vec::new();
            let auths: Vec<_> = rows
                .iter()
                .map(|r| access.auth_for(r, "u.csv", &mut problems))
                .collect();
            (auths, problems)
        };
        let token = |a: &Option<Auth>| match a {
            Some(Auth::Bearer { token, .. }) => token.expose().to_string(),
            other => panic!("{other:?}"),
        };
        let path = file.display().to_string();
        let (a, _) = auths(&["--source-access", "xoauth2", "--source-token-file", &path]);
        assert_eq!(
            (token(&a[0]), token(&a[1])),
            ("Row-token".into(), "File-token".into())
        );
        assert!(
            matches!(&a[1], Some(Auth::Bearer { mechanism: BearerMechanism::XOAuth2, user, .. }) if user == "kim")
        );

        // The command gets the login as its last argument, without a shell.
        let (a, _) = auths(&[
            "--source-access",
            "oauthbearer",
            "--source-token-command",
            "echo Cmd-token-for",
        ]);
        assert_eq!(token(&a[1]), "Cmd-token-for kim");
        let (a, problems) = auths(&[
            "--source-access",
            "oauthbearer",
            "--source-token-command",
            "false",
        ]);
        assert!(a[1].is_none());
        assert!(
            problems[0].starts_with("u.csv:3: --source-token-command: false failed"),
            "{problems:?}"
        );
        let (_, problems) = auths(&["--source-access", "oauthbearer"]);
        assert_eq!(problems, ["u.csv:3: no bearer token: SourceToken is empty and there is no --source-token-file or --source-token-command"]);
    }
}
