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
}

impl Server {
    /// Starts a server with its store in `data_dir`; `extra` flags are added
    /// (metrics are off unless `extra` sets `--metrics-listen`).
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
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
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("decision-engine listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, addr }
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
