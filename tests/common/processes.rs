//! Other processes as servers behind a load balancer: each runs the `rotate_steps`
//! example against a store URL.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// A `rotate_steps` process: one "server" with its own store connection. It reads tokens
/// on stdin, so tokens written to several servers one after another reach processes that
/// are all already running and waiting: a barrier across processes.
pub struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Server {
    pub fn start(url: &str) -> Self {
        Self::start_with_grace(url, 0)
    }

    /// A server whose sessions have a grace window of `grace_secs`.
    pub fn start_with_grace(url: &str, grace_secs: u64) -> Self {
        let bin = super::example_bin("rotate_steps");
        let mut child = Command::new(bin)
            .arg(url)
            .arg(grace_secs.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            stdin,
            stdout,
        }
    }

    pub fn send(&mut self, token: &str) {
        writeln!(self.stdin, "{token}").unwrap();
        self.stdin.flush().unwrap();
    }

    pub fn answer(&mut self) -> Result<String, String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        match line.trim().split_once(' ') {
            Some(("ok", token)) => Ok(token.to_owned()),
            Some(("err", code)) => Err(code.to_owned()),
            _ => panic!("unexpected answer {line:?}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
