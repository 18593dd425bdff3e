//! A TCP proxy the tests own, to inject faults a real network has: a connection whose
//! packets are dropped while its socket stays open (a black hole), and an upstream that
//! changes for new connections while old ones stay where they were (a failover behind a
//! moving address). Plain threads, so it never depends on the test's runtime.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

/// One proxied connection.
struct Link {
    /// Whether the client has sent the proxy's feed marker on it (a change feed: Redis
    /// `SUBSCRIBE`, PostgreSQL `LISTEN`).
    feed: AtomicBool,
    /// Whether every byte, both ways, is dropped (the sockets stay open).
    black_hole: AtomicBool,
    /// The client's socket, to cut the connection.
    client: TcpStream,
}

/// A proxy on a loopback port forwarding to `127.0.0.1:upstream`.
pub struct Proxy {
    pub port: u16,
    upstream: Arc<AtomicU16>,
    links: Arc<Mutex<Vec<Arc<Link>>>>,
}

impl Proxy {
    /// Starts forwarding to `127.0.0.1:upstream`, taking connections that send a Redis
    /// `SUBSCRIBE` for change feeds.
    pub fn start(upstream: u16) -> Self {
        Self::start_marking(upstream, b"SUBSCRIBE")
    }

    /// Starts forwarding to `127.0.0.1:upstream`, taking connections on which the client
    /// sends `marker` (any case) for change feeds.
    pub fn start_marking(upstream: u16, marker: &'static [u8]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream = Arc::new(AtomicU16::new(upstream));
        let links: Arc<Mutex<Vec<Arc<Link>>>> = Arc::default();
        let (to, all) = (Arc::clone(&upstream), Arc::clone(&links));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", to.load(Ordering::SeqCst)))
                else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let link = Arc::new(Link {
                    feed: AtomicBool::new(false),
                    black_hole: AtomicBool::new(false),
                    client: client.try_clone().unwrap(),
                });
                all.lock().unwrap().push(Arc::clone(&link));
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let l2 = Arc::clone(&link);
                std::thread::spawn(move || pump(client, server, &link, Some(marker)));
                std::thread::spawn(move || pump(s2, c2, &l2, None));
            }
        });
        Self {
            port,
            upstream,
            links,
        }
    }

    /// A `redis://` URL through the proxy.
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `url` with its port replaced by the proxy's (`…:PORT/…`).
    pub fn through(&self, url: &str, port: u16) -> String {
        url.replacen(&format!(":{port}/"), &format!(":{}/", self.port), 1)
    }

    /// Drops every byte of the connections that carry a change feed now, both ways,
    /// leaving their sockets open; later connections pass.
    pub fn black_hole_feeds(&self) -> usize {
        let links = self.links.lock().unwrap();
        let mut n = 0;
        // Links black-holed before are not counted again.
        for link in links
            .iter()
            .filter(|l| l.feed.load(Ordering::SeqCst) && !l.black_hole.load(Ordering::SeqCst))
        {
            link.black_hole.store(true, Ordering::SeqCst);
            n += 1;
        }
        n
    }

    /// Cuts every open connection that carries no change feed (the clients' command
    /// connections), as a moving address does; their clients reconnect.
    pub fn cut_commands(&self) -> usize {
        let links = self.links.lock().unwrap();
        let mut n = 0;
        for link in links.iter().filter(|l| !l.feed.load(Ordering::SeqCst)) {
            let _ = link.client.shutdown(Shutdown::Both);
            n += 1;
        }
        n
    }

    /// New connections go to `127.0.0.1:port`; open ones stay where they are.
    pub fn redirect(&self, port: u16) {
        self.upstream.store(port, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` until either side closes, dropping the bytes while the link is a
/// black hole; `marker` is given for the client-to-server direction, where a feed is seen.
fn pump(mut from: TcpStream, mut to: TcpStream, link: &Link, marker: Option<&[u8]>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(m) = marker
            && buf[..n].windows(m.len()).any(|w| w.eq_ignore_ascii_case(m))
        {
            link.feed.store(true, Ordering::SeqCst);
        }
        if link.black_hole.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
