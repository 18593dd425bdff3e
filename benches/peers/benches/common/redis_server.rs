//! A `redis-server` of the bench's own on a free loopback port, in a folder of its own,
//! stopped when dropped: `Server::start(&["--appendonly", "yes", ...])`.

use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

/// One running `redis-server`.
pub struct Server {
    child: std::process::Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn start(persistence: &[&str]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir_in(".").unwrap();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(persistence)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
        Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

impl Server {
    /// The server's process id (for the CPU it used).
    #[allow(dead_code)] // Only the heartbeat_cost example reads it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
