//! A `decision-engine serve` child process on a loopback port, shared by the
//! integration tests that need a real server.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use decision_grpc::pb::decision_service_client::DecisionServiceClient;
use tonic::transport::Channel;

/// A `decision-engine serve` child process.
pub struct Server {
    pub child: Child,
    pub addr: String,
    /// The REST door's address.
    pub http: String,
}

impl Server {
    /// Starts a server with its store in `data_dir`; `extra` flags are added
    /// (metrics are off unless `extra` sets `--metrics-listen`).
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data_dir)
            .args(if extra.contains(&"--metrics-listen") {
                &[][..]
            } else {
                &["--metrics-listen", "off"][..]
            })
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server starts");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut read = |prefix: &str| {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            line.trim()
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}"))
                .to_string()
        };
        let addr = read("decision-engine listening on ");
        let http = read("decision-engine http listening on ");
        Server { child, addr, http }
    }

    pub async fn client(&self) -> DecisionServiceClient<Channel> {
        DecisionServiceClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap()
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Once `acknowledged()` reaches `at_least` (or after 30 s), kills the
    /// server with SIGKILL mid-load and waits for it and the `workers`.
    pub async fn kill_9_under_load<T>(
        &mut self,
        acknowledged: impl Fn() -> usize,
        at_least: usize,
        workers: Vec<tokio::task::JoinHandle<T>>,
    ) {
        for _ in 0..1500 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            if acknowledged() >= at_least {
                break;
            }
        }
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        for w in workers {
            w.await.unwrap();
        }
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP/1.1 reply: status, headers (lower-case names), body.
pub struct HttpReply {
    pub status: u16,
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
}

/// One HTTP/1.1 call to the REST door (a new connection, closed after).
pub fn http(addr: &str, method: &str, path: &str, token: &str, body: &str) -> HttpReply {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let auth = if token.is_empty() {
        String::new()
    } else {
        format!("authorization: Bearer {token}\r\n")
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    HttpReply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// Every row of a CSV file as column -> cell.
pub fn read_csv(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// `decision-engine ARGS` with `env` set (and DECISION_ENGINE_TOKEN
/// unset unless given): exit status, stdout, stderr.
pub fn cli_with(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_decision-engine"));
    command.args(args).env_remove("DECISION_ENGINE_TOKEN");
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `decision-engine ARGS`: exit status, stdout, stderr.
pub fn cli(args: &[&str]) -> (i32, String, String) {
    cli_with(args, &[])
}
