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
    /// Whether the client has sent a Redis `SUBSCRIBE` on it (a change feed).
    subscriber: AtomicBool,
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
    /// Starts forwarding to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Self {
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
                    subscriber: AtomicBool::new(false),
                    black_hole: AtomicBool::new(false),
                    client: client.try_clone().unwrap(),
                });
                all.lock().unwrap().push(Arc::clone(&link));
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let l2 = Arc::clone(&link);
                std::thread::spawn(move || pump(client, server, &link, true));
                std::thread::spawn(move || pump(s2, c2, &l2, false));
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

    /// Drops every byte of the connections that carry a subscription now, both ways,
    /// leaving their sockets open; later connections pass.
    pub fn black_hole_subscribers(&self) -> usize {
        let links = self.links.lock().unwrap();
        let mut n = 0;
        for link in links.iter().filter(|l| l.subscriber.load(Ordering::SeqCst)) {
            link.black_hole.store(true, Ordering::SeqCst);
            n += 1;
        }
        n
    }

    /// Cuts every open connection that carries no subscription (the clients' command
    /// connections), as a moving address does; their clients reconnect.
    pub fn cut_commands(&self) -> usize {
        let links = self.links.lock().unwrap();
        let mut n = 0;
        for link in links
            .iter()
            .filter(|l| !l.subscriber.load(Ordering::SeqCst))
        {
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
/// black hole; `upward` is the client-to-server direction, where a subscription is seen.
fn pump(mut from: TcpStream, mut to: TcpStream, link: &Link, upward: bool) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if upward
            && buf[..n]
                .windows(9)
                .any(|w| w.eq_ignore_ascii_case(b"SUBSCRIBE"))
        {
            link.subscriber.store(true, Ordering::SeqCst);
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
