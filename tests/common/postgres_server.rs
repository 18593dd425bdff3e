//! Real PostgreSQL servers for tests and benches: `initdb` into a private temporary
//! directory, `postgres` on a free loopback port, stopped when dropped. No mock stands in
//! for PostgreSQL, and no test uses a server that was running before it.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the server runs as
//! the `postgres` user (which Debian's `postgresql` package creates) through `setpriv`.
//! The binaries are found in `TOK_PG_BIN`, or in `/usr/lib/postgresql/*/bin` (Debian's
//! layout; `scripts/setup.sh` installs the package).
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The user every server accepts (trust authentication on loopback only).
pub const USER: &str = "tok";

/// One running PostgreSQL server.
pub struct PostgresServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    settings: Vec<String>,
}

/// The folder holding `initdb`, `postgres` and `psql`.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TOK_PG_BIN") {
        return dir.into();
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL must be installed (scripts/setup.sh installs Debian's postgresql)")
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("no /usr/lib/postgresql/*/bin/initdb: install Debian's postgresql")
}

fn is_root() -> bool {
    // The effective uid, as `id -u` prints it, without a libc dependency.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// A command that runs `program` as the unprivileged `postgres` user when we are root.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid",
            "postgres",
            "--regid",
            "postgres",
            "--init-groups",
        ]);
        c.arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PostgresServer {
    /// A server with the given extra settings (`name=value`, passed as `-c`), fsync off:
    /// tests kill processes, not machines, and the OS keeps what a killed server wrote.
    pub fn start(settings: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            std::os::unix::fs::chown(dir.path(), Some(uid_of_postgres()), None).unwrap();
        }
        let out = as_server_user(&bin_dir().join("initdb"))
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-A", "trust", "-U", USER, "-E", "UTF8", "--no-sync"])
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self::on_a_free_port(Self {
            child: None,
            port: 0,
            dir,
            settings: std::iter::once("fsync=off")
                .chain(settings.iter().copied())
                .map(str::to_owned)
                .collect(),
        })
    }

    /// Starts `server` on a free port.
    ///
    /// The port is picked here and handed to `postgres` (which cannot pick its own), so
    /// another process may take it in between: the server then exits or another answers,
    /// and the first start is tried again on a new port.
    fn on_a_free_port(mut server: Self) -> Self {
        let mut failures = Vec::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.launch() {
                Ok(()) => return server,
                Err(e) => {
                    server.stop();
                    failures.push(e);
                }
            }
        }
        panic!("postgres did not start: {failures:#?}");
    }

    /// A streaming standby of `primary` (`pg_basebackup -R`: a copy of its data that
    /// follows its WAL), started and answering (read-only) on a port of its own.
    pub fn standby_of(primary: &PostgresServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            std::os::unix::fs::chown(dir.path(), Some(uid_of_postgres()), None).unwrap();
        }
        let out = as_server_user(&bin_dir().join("pg_basebackup"))
            .arg("-D")
            .arg(dir.path().join("data"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                USER,
            ])
            .args(["-R", "-X", "stream", "--no-sync", "--checkpoint=fast"])
            .output()
            .expect("pg_basebackup");
        assert!(
            out.status.success(),
            "pg_basebackup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self::on_a_free_port(Self {
            child: None,
            port: 0,
            dir,
            settings: primary.settings.clone(),
        })
    }

    /// Promotes this standby to a primary (`pg_promote()`, which waits until it is).
    pub fn promote(&self) {
        assert_eq!(self.psql("postgres", "SELECT pg_promote()").trim(), "t");
    }

    /// Starts (again) on the same port and data directory.
    pub fn restart(&mut self) {
        if let Err(e) = self.launch() {
            panic!("{e}");
        }
    }

    /// Starts the server and waits until it answers as itself.
    fn launch(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "already running");
        let mut command = as_server_user(&bin_dir().join("postgres"));
        command
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().display()
            ))
            .args(["-c", "max_connections=300"]);
        for setting in &self.settings {
            command.arg("-c").arg(setting);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres");
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return Err(format!("postgres on port {} exited: {status}", self.port));
            }
            // The server answering must be ours, not another process on a reused port:
            // ours names its pid and port in its data directory, with the status "ready"
            // once it accepts connections (a server that failed to bind never does).
            let ready = self.says_ready()
                && Command::new(bin_dir().join("pg_isready"))
                    .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                    .status()
                    .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err(format!("postgres on port {} did not start", self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether our server's lock file names its pid and port with the status "ready".
    fn says_ready(&self) -> bool {
        let postmaster = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid"))
            .unwrap_or_default();
        let lines: Vec<&str> = postmaster.lines().map(str::trim).collect();
        let pid = self
            .child
            .as_ref()
            .map(Child::id)
            .unwrap_or_default()
            .to_string();
        let port = self.port.to_string();
        lines.first() == Some(&pid.as_str())
            && lines.get(3) == Some(&port.as_str())
            && lines.get(7) == Some(&"ready")
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
            // Its backends notice the postmaster's death and exit; wait until the port
            // is free so that a restart can bind it.
            let start = Instant::now();
            while TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && start.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            // Backends may still hold the shared memory a restart must take over.
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the server quickly and cleanly (SIGQUIT: immediate shutdown).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` sends SIGKILL; an immediate shutdown also frees shared memory.
            let _ = Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status();
            let start = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if start.elapsed() > Duration::from_secs(5) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database; returns its URL.
    pub fn new_database(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("t{}", NEXT.fetch_add(1, Ordering::SeqCst));
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Runs `sql` with `psql` on `database` and returns what it printed (unaligned, no
    /// headers). Panics if psql fails.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(bin_dir().join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .args(["-d", database, "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The server's own folder (its data directory is `data/` inside), readable by it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Makes `path` the server's own (it refuses a key file another user owns).
    pub fn hand_over(&self, path: &Path) {
        if is_root() {
            std::os::unix::fs::chown(path, Some(uid_of_postgres()), None).unwrap();
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn uid_of_postgres() -> u32 {
    let out = Command::new("id")
        .args(["-u", "postgres"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "no postgres user: install Debian's postgresql"
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// One server shared by every test of this test binary (each takes its own database
/// with [`PostgresServer::new_database`]), stopped when the binary exits.
pub fn shared() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let server = PostgresServer::start(&[]);
        let pid = server.pid().unwrap();
        let dir = server.dir.path().display().to_string();
        // Statics are never dropped: a watcher process stops the server when this test
        // binary exits, however it exits.
        let parent = std::process::id();
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 {parent} 2>/dev/null; do sleep 0.2; done; \
                 kill -QUIT {pid}; sleep 2; rm -rf '{dir}'"
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        server
    })
}

/// A fresh database on the shared server: its URL.
pub fn database() -> String {
    shared().new_database()
}
