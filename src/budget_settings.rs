//! The connection budget from its flags: egress addresses parsed and checked to be local, caps
//! and rates checked, every problem naming its flag.

use crate::args::{BudgetArgs, EgressModeArg, OrderArg, SidesArg};
use cutover_engine::budget::{BatchOrder, BudgetConfig, CountedSides, EgressMode};
use std::net::IpAddr;
use std::num::NonZeroU32;

/// The budget of `--egress`, `--max-connections-per-user`, ..., or every problem found.
pub fn budget_config(args: &BudgetArgs) -> Result<BudgetConfig, Vec<String>> {
    let mut problems = Vec::new();
    let mut egress: Vec<IpAddr> = Vec::new();
    for text in args
        .egress
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        match text.parse() {
            Ok(ip) => egress.push(ip),
            Err(_) => problems.push(format!("--egress: {text:?} is not an IP address")),
        }
    }
    if let Some(path) = &args.egress_file {
        match std::fs::read_to_string(path) {
            Err(e) => problems.push(format!("--egress-file {}: {e}", path.display())),
            Ok(text) => {
                for (n, line) in text.lines().enumerate() {
                    let line = line.split('#').next().unwrap_or("").trim();
                    if line.is_empty() {
                        continue;
                    }
                    match line.parse() {
                        Ok(ip) => egress.push(ip),
                        Err(_) => problems.push(format!(
                            "--egress-file {} line {}: {line:?} is not an IP address",
                            path.display(),
                            n + 1
                        )),
                    }
                }
            }
        }
    }
    let mut rate = |flag: &str, value: Option<u32>| match value {
        Some(0) => {
            problems.push(format!(
                "--{flag} must be at least 1 (leave it out for no limit)"
            ));
            None
        }
        v => v.and_then(NonZeroU32::new),
    };
    let config = BudgetConfig {
        max_connections_per_user: args.max_connections_per_user,
        counted_sides: match args.egress_sides {
            SidesArg::Both => CountedSides::Both,
            SidesArg::Source => CountedSides::Source,
            SidesArg::Dest => CountedSides::Destination,
        },
        max_users_per_ip: args.max_users_per_ip,
        max_connections_per_ip: args.max_connections_per_ip,
        max_connections_per_server: args.max_connections_per_server,
        egress_mode: match args.egress_mode {
            EgressModeArg::Static => EgressMode::Static,
            EgressModeArg::Pool => EgressMode::Pool,
        },
        opens_per_sec_per_ip: rate("opens-per-sec-per-ip", args.opens_per_sec_per_ip),
        opens_per_sec_per_server: rate("opens-per-sec-per-server", args.opens_per_sec_per_server),
        bytes_per_sec_per_ip: rate("bytes-per-sec-per-ip", args.bytes_per_sec_per_ip),
        bytes_per_sec_per_mailbox: rate(
            "bytes-per-sec-per-mailbox",
            args.bytes_per_sec_per_mailbox,
        ),
        messages_per_sec_per_ip: rate("messages-per-sec-per-ip", args.messages_per_sec_per_ip),
        messages_per_sec_per_mailbox: rate(
            "messages-per-sec-per-mailbox",
            args.messages_per_sec_per_mailbox,
        ),
        order: match args.order {
            OrderArg::Listed => BatchOrder::Listed,
            OrderArg::LargestFirst => BatchOrder::LargestFirst,
            OrderArg::SmallestFirst => BatchOrder::SmallestFirst,
        },
        egress,
        ..BudgetConfig::default()
    };
    if let Err(e) = config.validate(1) {
        let flag = match e.setting {
            "egress" => "--egress/--egress-file".to_string(),
            other => format!("--{other}"),
        };
        problems.push(format!("{flag}: {}", e.message));
    }
    match problems.is_empty() {
        true => Ok(config),
        false => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    fn parse(extra: &[&str]) -> Result<BudgetConfig, Vec<String>> {
        let mut argv = vec!["cutover", "demo"];
        argv.extend_from_slice(extra);
        let Command::Demo(demo) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("demo")
        };
        budget_config(&demo.tuning.budget)
    }

    #[test]
    fn defaults_are_the_seeds_budget() {
        let c = parse(&[]).unwrap();
        assert_eq!(c, BudgetConfig::default());
    }

    #[test]
    fn egress_addresses_and_caps_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("egress.txt");
        std::fs::write(
            &file,
            "# loopback aliases\n127.0.0.3\n\n127.0.0.4 # third\n",
        )
        .unwrap();
        let c = parse(&[
            "--egress",
            "127.0.0.1,127.0.0.2",
            "--egress-file",
            file.to_str().unwrap(),
            "--egress-mode",
            "static",
            "--order",
            "largest-first",
            "--max-connections-per-user",
            "6",
            "--max-connections-per-server",
            "5",
            "--opens-per-sec-per-ip",
            "50",
        ])
        .unwrap();
        let ips: Vec<String> = c.egress.iter().map(|ip| ip.to_string()).collect();
        assert_eq!(ips, ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]);
        assert_eq!(c.egress_mode, EgressMode::Static);
        assert_eq!(c.order, BatchOrder::LargestFirst);
        assert_eq!(c.max_connections_per_user, 6);
        assert_eq!(c.max_connections_per_server, Some(5));
        assert_eq!(c.opens_per_sec_per_ip, NonZeroU32::new(50));
    }

    #[test]
    fn bad_budget_input_names_its_flag() {
        let bad = |args: &[&str]| parse(args).unwrap_err().join("\n");
        assert!(bad(&["--egress", "127.0.0.1,not-an-ip"])
            .contains("--egress: \"not-an-ip\" is not an IP address"));
        assert!(bad(&["--egress", "192.0.2.10"])
            .contains("--egress/--egress-file: 192.0.2.10 is not an address of this machine"));
        assert!(
            bad(&["--max-connections-per-user", "0"]).starts_with("--max-connections-per-user:")
        );
        assert!(bad(&["--max-users-per-ip", "0"]).starts_with("--max-users-per-ip:"));
        assert!(bad(&["--max-connections-per-ip", "0"]).starts_with("--max-connections-per-ip:"));
        assert!(bad(&["--max-connections-per-server", "0"])
            .starts_with("--max-connections-per-server:"));
        assert!(bad(&["--bytes-per-sec-per-ip", "0"])
            .starts_with("--bytes-per-sec-per-ip must be at least 1"));
        assert!(bad(&["--egress-file", "/nonexistent/egress"])
            .starts_with("--egress-file /nonexistent/egress:"));
    }
}
