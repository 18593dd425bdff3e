//! Real `redis-server` processes for tests: started on a free loopback port with a private
//! temporary directory, stopped when dropped. No mock stands in for Redis.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One running `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    extra: Vec<String>,
}

fn free_port() -> u16 {
    // Cluster nodes also listen on port + 10000; keep both in range.
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

impl RedisServer {
    /// A server with append-only persistence fsynced on every write, so a kill -9 loses
    /// nothing it acknowledged.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server with extra arguments (e.g. cluster mode).
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_with_port_hook(|_| extra.iter().map(|s| s.to_string()).collect())
    }

    /// A server whose extra arguments depend on its own port (e.g. cluster announce
    /// settings).
    ///
    /// The port is picked here and handed to `redis-server` (which cannot pick its own),
    /// so another process may take it in between: the server then exits or another
    /// answers, and the first start is tried again on a new port.
    pub fn start_with_port_hook(extra: impl Fn(u16) -> Vec<String>) -> Self {
        let mut failures = Vec::new();
        for _ in 0..5 {
            let port = free_port();
            let mut server = Self {
                child: None,
                port,
                dir: tempfile::tempdir().unwrap(),
                extra: extra(port),
            };
            match server.launch() {
                Ok(()) => return server,
                Err(e) => {
                    server.kill();
                    failures.push(e);
                }
            }
        }
        panic!("redis-server did not start: {failures:#?}");
    }

    /// Starts (again) on the same port and directory.
    pub fn restart(&mut self) {
        if let Err(e) = self.launch() {
            panic!("{e}");
        }
    }

    /// Starts the server and waits until it answers as itself.
    fn launch(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--protected-mode",
                "no",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/setup.sh installs it)");
        self.child = Some(child);
        let start = Instant::now();
        // Wait until it has loaded its data and answers.
        while !self.pongs() {
            self.alive()?;
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!("redis-server on port {} did not answer", self.port));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // The server answering must be ours: another process on a reused port would
        // answer PING too, and the test would run against it.
        self.alive()?;
        let pid = self.child.as_ref().map(Child::id).unwrap_or_default();
        let info = self.cli(&["INFO", "server"]);
        if !info
            .lines()
            .any(|l| l.trim() == format!("process_id:{pid}"))
        {
            return Err(format!(
                "port {} is answered by another process than our redis-server {pid}",
                self.port
            ));
        }
        Ok(())
    }

    /// Whether something on the port answers PING with PONG within a second (with a
    /// timeout: whatever else might hold the port need not answer at all).
    fn pongs(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// Fails if the server process has exited (e.g. it could not bind its port).
    fn alive(&mut self) -> Result<(), String> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait().unwrap()
        {
            return Err(format!(
                "redis-server on port {} exited: {status}",
                self.port
            ));
        }
        Ok(())
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// The server's process id (to stop and continue it).
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs `redis-cli` against this server and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three local nodes joined into a Redis Cluster (no replicas), once every slot is
/// served; returns them with the `redis+cluster://` URL naming all three.
pub fn start_cluster() -> (Vec<RedisServer>, String) {
    let nodes: Vec<RedisServer> = (0..3)
        .map(|_| {
            RedisServer::start_with(&["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
        })
        .collect();
    join_cluster(&nodes);
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let url = format!("redis+cluster://{}", addrs.join(","));
    (nodes, url)
}

/// Joins `nodes` into one cluster (no replicas) and waits until every slot is served.
pub fn join_cluster(nodes: &[RedisServer]) {
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let out = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let start = Instant::now();
    while !nodes[0]
        .cli(&["CLUSTER", "INFO"])
        .contains("cluster_state:ok")
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "cluster never became ok"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A URL, with a prefix no other caller gets, to one three-node Redis Cluster shared by
/// every test of this test binary and stopped when the binary exits (statics are never
/// dropped: a watcher process stops the nodes).
pub fn shared_cluster_prefix() -> String {
    static CLUSTER: std::sync::OnceLock<(Vec<RedisServer>, String)> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let (_, url) = CLUSTER.get_or_init(|| {
        let (nodes, url) = start_cluster();
        let pids: Vec<String> = nodes
            .iter()
            .filter_map(|n| n.child.as_ref().map(|c| c.id().to_string()))
            .collect();
        let dirs: Vec<String> = nodes
            .iter()
            .map(|n| format!("'{}'", n.dir.path().display()))
            .collect();
        let parent = std::process::id();
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 {parent} 2>/dev/null; do sleep 0.2; done; kill {}; sleep 1; rm -rf {}",
                pids.join(" "),
                dirs.join(" ")
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        (nodes, url)
    });
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{url}?prefix=conf{n}")
}

/// A primary and `n` replicas of it, each caught up with it.
pub fn primary_with_replicas(n: usize) -> (RedisServer, Vec<RedisServer>) {
    let primary = RedisServer::start();
    let port = primary.port.to_string();
    let replicas: Vec<RedisServer> = (0..n)
        .map(|_| RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]))
        .collect();
    for replica in &replicas {
        synced(&primary, replica);
    }
    (primary, replicas)
}

/// Waits until `replica` has caught up with `primary`'s writes (their replication
/// offsets agree).
pub fn synced(primary: &RedisServer, replica: &RedisServer) {
    let start = Instant::now();
    let offset = |s: &RedisServer, field: &str| -> Option<i64> {
        s.cli(&["INFO", "replication"])
            .lines()
            .find_map(|l| l.trim().strip_prefix(field)?.parse().ok())
    };
    loop {
        let (p, r) = (
            offset(primary, "master_repl_offset:"),
            offset(replica, "slave_repl_offset:"),
        );
        if p.is_some() && p == r {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the replica never synced"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Redis Sentinels (`redis-server CONFIG --sentinel`) watching one primary under the
/// name `mymaster`, on loopback, each with its own config file (Sentinel rewrites it).
pub struct Sentinels {
    children: Vec<Child>,
    pub ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl Sentinels {
    /// `n` sentinels with a quorum of `n / 2 + 1` that take the primary for down after
    /// `down_after_ms` of silence.
    pub fn start(n: usize, primary: u16, down_after_ms: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut children = Vec::new();
        let mut ports = Vec::new();
        for i in 0..n {
            let port = free_port();
            let conf = dir.path().join(format!("sentinel-{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                     sentinel monitor mymaster 127.0.0.1 {primary} {quorum}\n\
                     sentinel down-after-milliseconds mymaster {down_after_ms}\n\
                     sentinel failover-timeout mymaster 4000\n\
                     sentinel parallel-syncs mymaster 1\n",
                    dir = dir.path().display(),
                    quorum = n / 2 + 1,
                ),
            )
            .unwrap();
            let child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed (scripts/setup.sh installs it)");
            children.push(child);
            ports.push(port);
        }
        let sentinels = Self {
            children,
            ports,
            _dir: dir,
        };
        let start = Instant::now();
        while sentinels.primary().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the sentinels did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        sentinels
    }

    /// The port of the primary the first sentinel names, if it answers.
    pub fn primary(&self) -> Option<u16> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.ports[0].to_string()])
            .args(["SENTINEL", "get-master-addr-by-name", "mymaster"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)?
            .trim()
            .parse()
            .ok()
    }

    /// The `redis+sentinel://` URL naming every sentinel.
    pub fn url(&self, query: &str) -> String {
        let hosts: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+sentinel://{}/mymaster?{query}", hosts.join(","))
    }
}

impl Drop for Sentinels {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
