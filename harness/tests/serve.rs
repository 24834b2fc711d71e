//! `cutover-harness serve` as a user runs it: a separate process serving a generated corpus,
//! reachable by any client, reporting its budget audit when stopped with Ctrl-C (SIGINT).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpStream;

use crate::mock_server::{timed, Raw};

#[tokio::test]
async fn serve_runs_standalone_and_reports_its_audit_on_ctrl_c() {
    timed(async {
        let dir = tempfile::tempdir().unwrap();
        let password_file = dir.path().join("pw");
        // A port of our own: bind to :0, read it, release it for the server.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cutover-harness"))
            .args([
                "serve",
                "--tls",
                "plain",
                "--users",
                "2",
                "--messages",
                "30",
            ])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--password-file")
            .arg(&password_file)
            .args(["--profile", "exchange-online", "--latency-ms", "5"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).await.unwrap();
        assert_eq!(
            first.trim(),
            format!("serving imap+plain://127.0.0.1:{port} (exchange-online profile)")
        );
        let mut accounts = String::new();
        out.read_line(&mut accounts).await.unwrap();
        assert!(accounts.starts_with("accounts: user01"), "{accounts}");

        let password = std::fs::read_to_string(&password_file).unwrap();
        let password = password.trim();
        assert!(password.len() >= 16, "a generated password");
        assert!(
            !accounts.contains(password),
            "the password is never printed"
        );
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut r = Raw {
            stream,
            buf: Vec::new(),
        };
        r.until("* OK").await;
        let user = accounts["accounts: ".len()..]
            .split(',')
            .next()
            .unwrap()
            .to_string();
        r.send(format!("l LOGIN {user} {password}\r\n").as_bytes())
            .await;
        let login = r.until("l ").await;
        assert!(login.contains("l OK"), "{login}");
        assert!(
            !login.contains("MULTIAPPEND"),
            "the exchange-online profile"
        );
        r.send(b"s EXAMINE INBOX\r\n").await;
        assert!(r.until("s ").await.contains("s OK"));
        drop(r);

        tokio::time::sleep(Duration::from_millis(100)).await;
        let pid = child.id().unwrap().to_string();
        let killed = tokio::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .await
            .unwrap();
        assert!(killed.success());
        let mut rest = String::new();
        out.read_to_string(&mut rest).await.unwrap();
        assert!(child.wait().await.unwrap().success(), "{rest}");
        assert!(rest.contains("budget audit: {"), "{rest}");
        assert!(
            rest.contains(&format!("\"peak_connections_per_user\":{{\"{user}\":1}}")),
            "{rest}"
        );
    })
    .await
}
