//! `--config FILE`: the settings of a migration kept in a TOML file instead of retyped on every
//! command, so `check`, `assess` and `migrate` of one batch use the same servers and options.
//!
//! Each key is a long flag without its dashes (`dest-admin = "admin"`, `parallel = 8`,
//! `exclude-folder = ["Junk", "Trash"]`, `adopt-existing = true`). The file's settings are read as
//! if typed before the command line's, so a flag on the command line wins. One file serves every
//! subcommand: a key that the running subcommand does not take but another does is skipped, a key
//! that none takes is an error naming the file and line. Relative paths are relative to the file's
//! directory. Secrets have no key: passwords stay in their own files or the environment.

use clap::builder::ValueParser;
use clap::{Arg, ArgAction};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The flag that names the file.
pub const CONFIG_FLAG: &str = "config";

/// `argv` (without the program name) with the settings of the `--config` file, if any, inserted
/// right after the subcommand. `command` is the whole CLI (`Cli::command()`).
pub fn expand(command: &clap::Command, argv: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let Some(sub_name) = argv.first().and_then(|a| a.to_str()) else {
        return Ok(argv);
    };
    let Some(sub) = command.find_subcommand(sub_name) else {
        return Ok(argv);
    };
    let Some(path) = config_path(&argv[1..]) else {
        return Ok(argv);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read --config {}: {e}", path.display()))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let given = given_flags(&argv[1..]);
    let settings = settings_args(command, sub, &text, &base, &given)
        .map_err(|(line, why)| format!("{}:{line}: {why}", path.display()))?;
    let mut out = Vec::with_capacity(argv.len() + settings.len());
    out.push(argv[0].clone());
    out.extend(settings);
    out.extend(argv.into_iter().skip(1));
    Ok(out)
}

/// The value of `--config FILE` or `--config=FILE`, before `--` (the last one wins).
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let flag = format!("--{CONFIG_FLAG}");
    let mut found = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(s) = a.to_str() else { continue };
        if s == "--" {
            break;
        }
        if s == flag {
            found = it.next().map(PathBuf::from);
        } else if let Some(v) = s.strip_prefix(&format!("{flag}=")) {
            found = Some(PathBuf::from(v));
        }
    }
    found
}

/// The long flags on the command line (before `--`), without their dashes.
fn given_flags(args: &[OsString]) -> Vec<String> {
    args.iter()
        .filter_map(|a| a.to_str())
        .take_while(|a| *a != "--")
        .filter_map(|a| a.strip_prefix("--"))
        .map(|a| a.split('=').next().unwrap_or(a).to_string())
        .collect()
}

/// The long flag of `sub` that `key` names (`dest-admin` or `dest_admin`).
fn find_arg<'a>(sub: &'a clap::Command, key: &str) -> Option<&'a Arg> {
    let key = key.replace('_', "-");
    sub.get_arguments()
        .find(|a| a.get_long() == Some(key.as_str()))
}

/// The command-line words for the settings in `text`, or (line, problem).
fn settings_args(
    command: &clap::Command,
    sub: &clap::Command,
    text: &str,
    base: &Path,
    given: &[String],
) -> Result<Vec<OsString>, (usize, String)> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        (line, format!("not valid TOML: {}", e.message()))
    })?;
    let mut out = Vec::new();
    for (key, value) in &table {
        let line = key_line(text, key);
        if key.replace('_', "-") == CONFIG_FLAG {
            return Err((line, "a config file cannot name another config file".into()));
        }
        let Some(arg) = find_arg(sub, key) else {
            if key.to_ascii_lowercase().contains("password") || key.contains("token") {
                return Err((
                    line,
                    format!(
                        "`{key}`: secrets do not belong in the config file; \
                         name a file that holds them (…-password-file) or use the environment"
                    ),
                ));
            }
            if command
                .get_subcommands()
                .any(|other| find_arg(other, key).is_some())
            {
                continue; // another subcommand's setting
            }
            return Err((line, format!("unknown setting `{key}`")));
        };
        let long = arg.get_long().expect("found by long name");
        let is_list = matches!(arg.get_action(), ArgAction::Append);
        if !is_list && given.iter().any(|g| g == long) {
            continue; // the command line's value wins
        }
        let flag = OsString::from(format!("--{long}"));
        let takes_value = arg.get_action().takes_values();
        let is_path = is_path_arg(arg);
        let word = |v: &toml::Value| -> Result<OsString, (usize, String)> {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                _ => {
                    return Err((
                        line,
                        format!("`{key}` takes a string or a number, not {}", v.type_str()),
                    ))
                }
            };
            Ok(if is_path && Path::new(&text).is_relative() {
                base.join(text).into_os_string()
            } else {
                OsString::from(text)
            })
        };
        match value {
            toml::Value::Boolean(on) if !takes_value => {
                if *on {
                    out.push(flag);
                }
            }
            toml::Value::Boolean(_) => {
                return Err((line, format!("`{key}` takes a value, not true or false")));
            }
            _ if !takes_value => {
                return Err((line, format!("`{key}` is a switch: write `{key} = true`")));
            }
            toml::Value::Array(items) => {
                if !is_list {
                    return Err((line, format!("`{key}` takes one value, not a list")));
                }
                for item in items {
                    out.push(flag.clone());
                    out.push(word(item)?);
                }
            }
            v => {
                out.push(flag);
                out.push(word(v)?);
            }
        }
    }
    Ok(out)
}

/// Whether the flag takes a path (resolved against the config file's directory).
fn is_path_arg(arg: &Arg) -> bool {
    let parser: &ValueParser = arg.get_value_parser();
    parser.type_id() == clap::builder::ValueParser::path_buf().type_id()
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// 1-based line where `key` is set (its first occurrence at the start of a line), else 1.
fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches('"');
            l.starts_with(key)
                && l[key.len()..]
                    .trim_start_matches('"')
                    .trim_start()
                    .starts_with('=')
        })
        .map_or(1, |i| i + 1)
}

/// A commented config file for `cutover init`, written from the CLI's own flags so it never
/// falls behind them: the settings a migration cannot do without are set to placeholders, every
/// other setting is listed commented out with its help and default.
pub fn template(command: &clap::Command) -> String {
    let placeholders: [(&str, &str); 6] = [
        ("users", "\"users.csv\""),
        ("source", "\"imaps://old-mail.example.com\""),
        ("dest", "\"imaps://new-mail.example.com\""),
        ("dest-admin", "\"admin\""),
        ("dest-admin-password-file", "\"dest-admin.pw\""),
        ("state", "\"cutover-state.sqlite\""),
    ];
    let mut out = String::from(
        "# cutover settings: pass with --config cutover.toml to check, assess and migrate.\n\
         # Keys are the long flags without dashes; a flag on the command line wins over this file.\n\
         # Relative paths are relative to this file. Passwords never go here: they live in their\n\
         # own files (chmod 600) or in the environment.\n\n",
    );
    for (key, value) in placeholders {
        if let Some(arg) = command
            .find_subcommand("migrate")
            .and_then(|m| find_arg(m, key))
        {
            push_help(&mut out, arg);
            out.push_str(&format!("{key} = {value}\n\n"));
        }
    }
    let mut seen: Vec<String> = placeholders.iter().map(|(k, _)| k.to_string()).collect();
    seen.push(CONFIG_FLAG.into());
    for name in ["migrate", "check", "assess"] {
        let Some(sub) = command.find_subcommand(name) else {
            continue;
        };
        let mut section = String::new();
        for arg in sub.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if seen.iter().any(|s| s == long) || long == "help" || arg.is_hide_set() {
                continue;
            }
            seen.push(long.to_string());
            push_help(&mut section, arg);
            let choices: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_string())
                .collect();
            if choices.len() > 1 {
                section.push_str(&format!("# One of: {}.\n", choices.join(", ")));
            }
            section.push_str(&format!("# {long} = {}\n\n", example_value(arg)));
        }
        if !section.is_empty() {
            out.push_str(&format!("## Settings of `cutover {name}`\n\n{section}"));
        }
    }
    out
}

/// The flag's help as comment lines.
fn push_help(out: &mut String, arg: &Arg) {
    let help = arg
        .get_long_help()
        .or_else(|| arg.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    for line in textwrap(&help, 96) {
        out.push_str(&format!("# {line}\n"));
    }
}

/// What to write after `key =` in the commented template: the default when there is one.
fn example_value(arg: &Arg) -> String {
    if !arg.get_action().takes_values() {
        return "true".into();
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let quote = |v: &str| {
        if v.parse::<f64>().is_ok() {
            v.to_string()
        } else {
            format!("{v:?}")
        }
    };
    if matches!(arg.get_action(), ArgAction::Append) {
        return format!(
            "[{}]",
            defaults
                .iter()
                .map(|d| quote(d))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let first_choice = arg
        .get_possible_values()
        .first()
        .map(|v| v.get_name().to_string());
    match defaults.first().cloned().or(first_choice) {
        Some(d) => quote(&d),
        None => {
            let name = arg
                .get_value_names()
                .and_then(|n| n.first())
                .map(|n| n.to_string())
                .unwrap_or_else(|| "VALUE".into());
            format!("{name:?}")
        }
    }
}

/// `text` folded into lines of at most `width` characters at spaces.
fn textwrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::{CommandFactory, Parser};

    fn words(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    /// Writes `toml` to a temp file and parses `migrate --config FILE extra...`.
    fn parse(toml: &str, extra: &[&str]) -> Result<crate::args::MigrateArgs, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cutover.toml");
        std::fs::write(&file, toml).unwrap();
        let mut argv = words(&["migrate", "--config"]);
        argv.push(file.clone().into_os_string());
        argv.extend(words(extra));
        let argv = expand(&Cli::command(), argv)?;
        let cli = Cli::try_parse_from(std::iter::once(OsString::from("cutover")).chain(argv))
            .map_err(|e| e.to_string())?;
        match cli.command {
            Command::Migrate(mut args) => {
                // Paths are made absolute against the file's directory; make them comparable.
                args.users = args
                    .users
                    .strip_prefix(dir.path())
                    .map(Path::to_path_buf)
                    .unwrap_or(args.users);
                Ok(args)
            }
            _ => unreachable!(),
        }
    }

    const BASE: &str = "users = \"users.csv\"\ndest = \"imaps://new\"\ndest-admin = \"admin\"\n";

    #[test]
    fn settings_are_flags_and_the_command_line_wins() {
        let args = parse(
            &format!(
                "{BASE}parallel = 9\nexclude_folder = [\"Junk\", \"Trash\"]\nadopt-existing = true\n\
                 dry-run = false\nsince = \"2024-01-01\"\n"
            ),
            &["--parallel", "3", "--exclude-folder", "Spam"],
        )
        .unwrap();
        assert_eq!(
            args.users,
            PathBuf::from("users.csv"),
            "relative to the file"
        );
        assert_eq!(args.dest_access.dest_admin.as_deref(), Some("admin"));
        assert_eq!(args.parallel, 3, "the command line wins");
        assert_eq!(
            args.mapping.exclude_folder,
            ["Junk", "Trash", "Spam"],
            "lists add up"
        );
        assert!(args.adopt_existing);
        assert!(!args.dry_run);
        assert_eq!(args.mapping.since.as_deref(), Some("2024-01-01"));
    }

    #[test]
    fn another_subcommands_setting_is_skipped_an_unknown_one_named() {
        // `out` belongs to `cutover bench`, not to `migrate`.
        assert!(parse(&format!("{BASE}out = \"x\"\n"), &[]).is_ok());
        let e = parse(&format!("{BASE}\nparalel = 3\n"), &[]).unwrap_err();
        assert!(
            e.ends_with("cutover.toml:5: unknown setting `paralel`"),
            "{e}"
        );
    }

    #[test]
    fn secrets_and_wrong_types_are_refused_with_the_line() {
        let e = parse(&format!("{BASE}dest-admin-password = \"hunter2\"\n"), &[]).unwrap_err();
        assert!(
            e.contains("cutover.toml:4: `dest-admin-password`: secrets do not belong"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
        let e = parse(&format!("{BASE}parallel = true\n"), &[]).unwrap_err();
        assert!(
            e.ends_with(":4: `parallel` takes a value, not true or false"),
            "{e}"
        );
        let e = parse(&format!("{BASE}quiet = \"yes\"\n"), &[]).unwrap_err();
        assert!(
            e.ends_with(":4: `quiet` is a switch: write `quiet = true`"),
            "{e}"
        );
        let e = parse(&format!("{BASE}since = [\"a\", \"b\"]\n"), &[]).unwrap_err();
        assert!(
            e.ends_with(":4: `since` takes one value, not a list"),
            "{e}"
        );
        let e = parse(&format!("{BASE}parallel = {{ x = 1 }}\n"), &[]).unwrap_err();
        assert!(
            e.contains(":4: `parallel` takes a string or a number"),
            "{e}"
        );
        let e = parse(&format!("{BASE}parallel = = 3\n"), &[]).unwrap_err();
        assert!(e.contains("cutover.toml:4: not valid TOML"), "{e}");
        let e = expand(
            &Cli::command(),
            words(&["migrate", "--config", "/nonexistent/cutover.toml"]),
        )
        .unwrap_err();
        assert!(
            e.starts_with("cannot read --config /nonexistent/cutover.toml"),
            "{e}"
        );
    }

    #[test]
    fn without_config_argv_is_unchanged() {
        let argv = words(&["migrate", "--users", "u.csv", "--", "--config"]);
        assert_eq!(expand(&Cli::command(), argv.clone()).unwrap(), argv);
    }

    #[test]
    fn the_template_parses_and_names_every_migrate_flag() {
        let command = Cli::command();
        let text = template(&command);
        let table: toml::Table = text.parse().expect("the template is TOML");
        assert_eq!(table["dest-admin"].as_str(), Some("admin"));
        for arg in command.find_subcommand("migrate").unwrap().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if long != "help" && long != CONFIG_FLAG {
                assert!(text.contains(&format!("{long} = ")), "{long} missing");
            }
        }
        // Uncommenting any one line gives a setting `migrate` accepts.
        let migrate = command.find_subcommand("migrate").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("one.toml");
        let mut tried = 0;
        for line in text
            .lines()
            .filter(|l| l.starts_with("# ") && l.contains(" = "))
        {
            let setting = &line[2..];
            let key = setting.split(" = ").next().unwrap();
            let Some(arg) = find_arg(migrate, key) else {
                continue;
            };
            // A placeholder named after the value (`"N"`, `"FILE"`) is for the reader to fill.
            let names = arg.get_value_names().unwrap_or_default();
            if names
                .iter()
                .any(|n| setting.ends_with(&format!("= {:?}", n.as_str())))
            {
                continue;
            }
            std::fs::write(&file, format!("{BASE}{setting}\n")).unwrap();
            let mut argv = words(&["migrate", "--config"]);
            argv.push(file.clone().into_os_string());
            let argv = expand(&command, argv).unwrap();
            Cli::try_parse_from(std::iter::once(OsString::from("cutover")).chain(argv))
                .unwrap_or_else(|e| panic!("{setting}: {e}"));
            tried += 1;
        }
        assert!(tried > 30, "{tried} settings tried");
    }
}
