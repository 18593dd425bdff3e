//! What handing work to another thread costs on this machine, the bound on a lone
//! client's rotation on the SQLite store (whose writes run on the store's writer thread):
//! the round trip of a request to a thread and of its answer back to a tokio task, when
//! both sides sleep as soon as they wait, and when both first look for a moment (as the
//! store's writer and a lone caller do).
//!
//! Run: `cargo run --release --manifest-path benches/peers/Cargo.toml --example handoff`

use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

const LOOK: Duration = Duration::from_micros(50);

/// Round trips per second through a thread that answers each request at once.
async fn round_trip(look: bool) -> f64 {
    let (queue, requests) = mpsc::channel::<oneshot::Sender<()>>();
    std::thread::spawn(move || {
        loop {
            let start = Instant::now();
            let request = loop {
                match requests.try_recv() {
                    Ok(r) => break Some(r),
                    Err(mpsc::TryRecvError::Empty) if look && start.elapsed() < LOOK => {
                        std::thread::yield_now();
                    }
                    Err(mpsc::TryRecvError::Empty) => break requests.recv().ok(),
                    Err(mpsc::TryRecvError::Disconnected) => break None,
                }
            };
            match request {
                Some(r) => drop(r.send(())),
                None => return,
            }
        }
    });
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        let (reply, mut answer) = oneshot::channel();
        queue.send(reply).unwrap();
        let asked = Instant::now();
        let mut answered = false;
        while look && !answered && asked.elapsed() < LOOK {
            answered = answer.try_recv().is_ok();
            std::thread::yield_now();
            tokio::task::yield_now().await;
        }
        if !answered {
            let _ = answer.await;
        }
        n += 1;
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for _ in 0..3 {
        let asleep = tokio::spawn(round_trip(false)).await.unwrap();
        let looking = tokio::spawn(round_trip(true)).await.unwrap();
        println!(
            "round trip to a thread and back: {asleep:.1} µs sleeping at once, {looking:.1} µs looking first"
        );
    }
}
