//! A throw-away PostgreSQL cluster for tests: `initdb` in a temporary
//! directory, `pg_ctl start` on a free loopback port with its socket in that
//! directory, and `pg_ctl stop` when dropped. Tests that need PostgreSQL
//! start their own and never touch another database; nothing needs to run
//! beforehand, only the server binaries of the distribution's packages
//! (`.ci/run` installs them when missing).
//!
//! The binaries are looked for in `$DECISION_PG_BIN`, then in Debian's
//! `/usr/lib/postgresql/<version>/bin` (the newest), then on `PATH`. The
//! server refuses to run as root: as root the cluster is made and run as
//! the `postgres` user the package creates.

#![forbid(unsafe_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running throw-away cluster. Dropping it stops the server and removes
/// its directory.
pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
    // Last: removed after the server stopped.
    _dir: tempfile::TempDir,
}

fn find_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("DECISION_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists());
    on_path.unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install the distribution's \
             `postgresql` package (.ci/run does) or set DECISION_PG_BIN to their directory"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A process that outlives this one to stop the cluster in `data` and
/// remove `dir` once this process is gone: for a cluster never dropped (the
/// shared one), or a test run killed mid-way. Started before the cluster,
/// so no window leaves a server running.
fn watchdog(bin: &Path, data: &Path, dir: &Path, as_postgres: bool) {
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
         [ -d {data} ] && {as_postgres}{pg_ctl} -D {data} -m immediate -w stop >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        as_postgres = if as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        },
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    // Never waited for, by design: it outlives this process. Its own
    // process group: a signal to the test's group (a killed test run) does
    // not take the watchdog with it.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &stop])
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cannot start the cluster's watchdog");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

impl Cluster {
    /// Makes and starts a cluster (about two seconds). Panics with the
    /// server's own words if it cannot: a test that needs PostgreSQL is
    /// never skipped.
    pub fn start() -> Cluster {
        let bin = find_bin();
        let dir = tempfile::Builder::new()
            .prefix("decision-pg-")
            .tempdir()
            .expect("cannot make a temporary directory");
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:", &dir.path().display().to_string()])
                .status()
                .expect("cannot run chown");
            assert!(
                status.success(),
                "cannot give {} to the postgres user (does it exist? the postgresql package creates it)",
                dir.path().display()
            );
        }
        let data = dir.path().join("data");
        watchdog(&bin, &data, dir.path(), as_postgres);
        let mut cluster = Cluster {
            bin,
            data,
            port: 0,
            as_postgres,
            _dir: dir,
        };
        let out = cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", text(&out));
        // Several replicas and the pool of each: more than the default 100.
        let conf = cluster.data.join("postgresql.conf");
        let mut settings = std::fs::read_to_string(&conf).unwrap_or_default();
        settings.push_str("\nmax_connections = 300\nshared_buffers = 64MB\n");
        std::fs::write(&conf, settings).expect("cannot write postgresql.conf");
        cluster.port = free_port();
        cluster.start_server();
        cluster
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
    }

    /// Starts the server again (after [`Cluster::stop`]) on the same port.
    pub fn start_server(&self) {
        let socket_dir = self.data.parent().unwrap_or(Path::new("/tmp"));
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            socket_dir.display()
        );
        let log = socket_dir.join("server.log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-o",
                &options,
                "-l",
                &log.display().to_string(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            text(&out),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&self) {
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
        assert!(out.status.success(), "pg_ctl stop failed: {}", text(&out));
    }

    /// One cluster for every test of this process, started on first use,
    /// each test in a database of its own ([`Cluster::fresh_database`]).
    /// Its watchdog stops it and removes its directory once the process is
    /// gone (a static is never dropped).
    pub fn shared() -> &'static Cluster {
        static SHARED: std::sync::OnceLock<Cluster> = std::sync::OnceLock::new();
        SHARED.get_or_init(Cluster::start)
    }

    /// A new, empty database of this cluster (named `t1`, `t2`, ...), and
    /// its URL.
    pub fn fresh_database(&self) -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.database(&format!("t{n}"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates database `name` and returns its URL.
    pub fn database(&self, name: &str) -> String {
        let out = self.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ],
        );
        assert!(
            out.status.success(),
            "createdb {name} failed: {}",
            text(&out)
        );
        self.url(name)
    }

    /// The URL of database `name` (which must exist).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Immediate: the directory goes next, nothing needs to be kept.
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
