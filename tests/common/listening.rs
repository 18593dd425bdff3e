//! An example server as a process: started with its stdout piped, its first line read for
//! `listening on ADDR`, killed when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A server process that said where it listens.
pub struct Listening {
    child: Child,
    /// What followed `listening on ` (an address or a URL).
    pub at: String,
}

impl Listening {
    /// Starts `command` and waits for its first line; what it printed instead if it
    /// did not listen (e.g. a port given to it was taken).
    pub fn start(command: &mut Command) -> Result<Self, String> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        match line.trim().strip_prefix("listening on ") {
            Some(at) => Ok(Self {
                at: at.to_owned(),
                child,
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(line)
            }
        }
    }
}

impl Listening {
    /// The process id (to send it a signal).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
