//! Group commit: one writer thread per store drains a queue of write requests and runs
//! them in shared durable transactions.
//!
//! With `synchronous=FULL` a commit is an fsync, and SQLite admits one writer at a time,
//! so one transaction per request caps a process at one fsync's worth of rotations per
//! fsync whatever the concurrency. Here the writer takes every request waiting when it
//! starts a batch (a lone request waits for nothing), runs each in its own `SAVEPOINT`
//! inside one `BEGIN IMMEDIATE … COMMIT`, and answers each caller only after `COMMIT`
//! returned: a rotation reported is on disk. A request that fails rolls back
//! its own savepoint only; if `COMMIT` fails, every request of the batch gets the error
//! and none was applied. `BEGIN IMMEDIATE` takes SQLite's write lock before anything is
//! read, so other processes on the same file stay correct.
//!
//! Handing a request to a sleeping thread, and its answer back to a sleeping task, costs
//! a wake-up each way, which can take longer than the transaction itself when it need not
//! wait for the disk (figures in `benches/README.md`). So while requests stream in
//! ([`came_straight_back`]), neither side sleeps at once: the writer looks for the next
//! request for a moment after each batch ([`SPIN`]), and a lone caller whose batches are
//! quick polls for its answer ([`poll_budget`]), yielding to the runtime's other tasks
//! meanwhile. Sparse requests sleep at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::error::Error;

/// How long the writer looks for the next request before it sleeps, and how much longer
/// than the last batch took a lone caller polls: longer than the round trip it saves
/// (a wake-up each way), short enough to burn next to nothing when no answer comes.
const SPIN: Duration = Duration::from_micros(50);

/// A lone caller polls for its answer only while batches take less than this (see
/// [`poll_budget`]).
const POLL_LIMIT: Duration = Duration::from_micros(400);

/// How many requests may wait for the writer: past this, callers wait to queue (without
/// blocking their runtime) rather than piling up memory behind a slow disk.
const QUEUE: usize = 4096;

/// The writer thread has stopped (its store is being dropped, or it panicked): the
/// [`source`](std::error::Error::source) of the store error a request then gets, so a
/// caller can tell it from a failed statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterStopped;

impl std::fmt::Display for WriterStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the SQLite writer thread has stopped")
    }
}

impl std::error::Error for WriterStopped {}

/// A thread the store waits for when its last handle is dropped, so that every
/// connection is closed by the time the drop returns (SQLite checkpoints and removes the
/// WAL when the last one closes; a thread closing on its own time would race a caller
/// that reads or moves the file next).
pub(super) struct Joined(std::sync::Mutex<Option<std::thread::JoinHandle<()>>>);

impl std::fmt::Debug for Joined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Joined")
    }
}

impl Joined {
    pub(super) fn new(thread: std::thread::JoinHandle<()>) -> Arc<Self> {
        Arc::new(Self(std::sync::Mutex::new(Some(thread))))
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        let thread = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        // A thread never drops its own store, so this never joins itself.
        if let Some(thread) = thread
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

/// The store's handle on its writer thread: the queue, what the writer last measured, and
/// the thread itself. Fields drop in order: the queue first, so that when the last handle
/// goes the thread sees the queue closed and ends, and is then joined.
#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::SyncSender<Box<dyn Pending>>,
    pace: Arc<Pace>,
    /// Held for its drop: the last handle joins the thread.
    _thread: Arc<Joined>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

/// Shared between the writer and its callers, to decide whether waiting awake pays.
#[derive(Default)]
struct Pace {
    /// How long a lone caller should poll for its answer (ns; 0: not at all), as the
    /// writer judged from its last batch ([`poll_budget`]). One value, so a caller never
    /// reads a judgement made of two different batches.
    poll_nanos: AtomicU64,
    /// Requests sent and not yet answered (or given up on).
    in_flight: AtomicUsize,
}

impl Pace {
    /// How long a caller polls for its answer, if at all. Only a lone caller polls: under
    /// concurrency the wake-ups are shared by a batch, and polling tasks would take the
    /// CPU the others need to come back.
    fn poll_for(&self, alone: bool) -> Option<Duration> {
        let budget = Duration::from_nanos(self.poll_nanos.load(Ordering::Relaxed));
        (alone && !budget.is_zero()).then_some(budget)
    }
}

/// Counts a request in flight for as long as its caller waits (also when the caller's
/// future is dropped).
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    /// Counts one more request in flight; also says whether it is the only one.
    fn enter(count: &'a AtomicUsize) -> (Self, bool) {
        let alone = count.fetch_add(1, Ordering::Relaxed) == 0;
        (Self(count), alone)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Writer {
    /// Starts the writer thread on `conn`; it ends when every handle is dropped.
    pub(super) fn start(conn: Connection) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::sync_channel(QUEUE);
        let pace = Arc::new(Pace::default());
        let measured = Arc::clone(&pace);
        let thread = std::thread::Builder::new()
            .name("tok-sqlite-writer".into())
            .spawn(move || run(conn, jobs, &measured))?;
        Ok(Self {
            queue,
            pace,
            _thread: Joined::new(thread),
        })
    }

    /// Queues `work` and waits for its outcome, which comes once its batch committed.
    pub(super) async fn submit<R, F>(&self, what: &'static str, work: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    {
        let stopped = || Error::store(what, WriterStopped);
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        let (_in_flight, alone) = InFlight::enter(&self.pace.in_flight);
        let mut request: Box<dyn Pending> = Box::new(Request {
            what,
            sent: Instant::now(),
            span: tracing::Span::current(),
            work: Some(work),
            result: None,
            reply,
        });
        loop {
            match self.queue.try_send(request) {
                Ok(()) => break,
                Err(mpsc::TrySendError::Disconnected(_)) => return Err(stopped()),
                // Full: the writer is behind; wait for room without blocking the runtime.
                Err(mpsc::TrySendError::Full(back)) => {
                    request = back;
                    tokio::task::yield_now().await;
                    std::thread::yield_now();
                }
            }
        }
        if let Some(budget) = self.pace.poll_for(alone) {
            let start = Instant::now();
            while start.elapsed() < budget {
                match answer.try_recv() {
                    Ok(outcome) => return outcome,
                    Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                        return Err(stopped());
                    }
                    Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {
                        // The OS thread's yield first: if this worker shares a core with
                        // the writer, polling without it keeps the writer off the core
                        // until the poll gives up.
                        std::thread::yield_now();
                        tokio::task::yield_now().await;
                    }
                }
            }
        }
        answer.await.map_err(|_| stopped())?
    }
}

/// How long a lone caller polls for its answer rather than sleeping at once (zero: not at
/// all), judged from the last batch: its size, how long it took, whether it streamed in.
///
/// Only after a batch of one request: a shared batch means concurrency, where the
/// wake-ups are shared and polling would take the CPU the others need. Only while
/// requests stream (see [`came_straight_back`]): a sparse rotation would pay the poll's
/// CPU for a gain no one sees. Only when the last batch took less than [`POLL_LIMIT`],
/// and then for that long and [`SPIN`] more: an answer expected that soon is worth a
/// core's time, while a slow disk's commit would only burn it (the rule InnoDB applies to
/// its redo-log flush). What each choice measured is in `benches/README.md`.
fn poll_budget(len: usize, took: Duration, streaming: bool) -> Duration {
    if len <= 1 && streaming && took < POLL_LIMIT {
        took + SPIN
    } else {
        Duration::ZERO
    }
}

/// The most requests one transaction carries: bounds the time a batch holds the write
/// lock and the work redone after a failed commit.
const MAX_BATCH: usize = 256;

/// A request in the queue: runs inside its savepoint, then learns whether the batch
/// committed.
pub(super) trait Pending: Send {
    /// Runs the request on the writer's connection (inside its savepoint). Returns
    /// whether it succeeded (its savepoint is kept) or failed (rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Delivers the outcome: the request's own result if the batch committed, else the
    /// commit's (or the `BEGIN`'s) error.
    fn finish(self: Box<Self>, batch: Result<(), &rusqlite::Error>);
    /// When the caller queued it.
    fn sent(&self) -> Instant;
    /// Whether the caller has stopped waiting (its future was dropped: a timeout, a
    /// client that hung up).
    fn abandoned(&self) -> bool;
}

/// One typed request and the channel its caller waits on.
pub(super) struct Request<R, F> {
    pub(super) what: &'static str,
    /// When the caller queued it.
    pub(super) sent: Instant,
    /// The caller's span, entered while the request runs, so its events land in it.
    pub(super) span: tracing::Span,
    pub(super) work: Option<F>,
    pub(super) result: Option<rusqlite::Result<R>>,
    pub(super) reply: tokio::sync::oneshot::Sender<Result<R, Error>>,
}

impl<R, F> Pending for Request<R, F>
where
    R: Send,
    F: FnOnce(&Connection) -> rusqlite::Result<R> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let _entered = self.span.enter();
        let result = match self.work.take() {
            Some(work) => work(conn),
            None => Err(rusqlite::Error::InvalidQuery),
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, batch: Result<(), &rusqlite::Error>) {
        let Self {
            what,
            result,
            reply,
            ..
        } = *self;
        let outcome = match (batch, result) {
            (Ok(()), Some(Ok(value))) => Ok(value),
            (Ok(()), Some(Err(e))) => Err(Error::store(what, e)),
            (Ok(()), None) => Err(Error::store(what, rusqlite::Error::InvalidQuery)),
            (Err(e), _) => Err(Error::new(
                crate::error::ErrorKind::Store,
                format!("{what}: the transaction did not commit: {e}"),
            )),
        };
        // The caller may have gone (its future dropped): nothing to tell it then.
        let _ = reply.send(outcome);
    }

    fn sent(&self) -> Instant {
        self.sent
    }

    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }
}

/// The writer's loop, on its own thread, until every sender is gone.
fn run(conn: Connection, queue: mpsc::Receiver<Box<dyn Pending>>, pace: &Pace) {
    let mut last = 1;
    let mut streaming = false;
    let mut idle_since = Instant::now();
    while let Some(first) = next(&queue, streaming) {
        streaming = came_straight_back(first.sent(), idle_since);
        let start = Instant::now();
        let batch = gather(first, &queue, last, SPIN);
        last = batch.len();
        metrics::histogram!("tok_sqlite_write_batch_size").record(last as f64);
        commit(&conn, batch);
        idle_since = Instant::now();
        let poll = poll_budget(last, idle_since - start, streaming);
        let poll = u64::try_from(poll.as_nanos()).unwrap_or(u64::MAX);
        pace.poll_nanos.store(poll, Ordering::Relaxed);
    }
}

/// Whether a request queued at `sent` came within [`SPIN`] of the writer's last answer
/// (`idle_since`): clients are coming straight back, so it is worth looking for the next
/// request awake, and worth a lone caller's polling. Sparse requests (the usual case for
/// a web service) get neither, and cost no more CPU than sleeping would. Measured from
/// when the request was queued, not from when the writer woke for it, so that the
/// writer's own wake-up does not count against the client.
fn came_straight_back(sent: Instant, idle_since: Instant) -> bool {
    sent.saturating_duration_since(idle_since) < SPIN
}

/// The next request: looked for during [`SPIN`] when `streaming` (a client whose answer
/// just went out is on its way back), then waited for asleep. `None` once every sender is
/// gone.
fn next(queue: &mpsc::Receiver<Box<dyn Pending>>, streaming: bool) -> Option<Box<dyn Pending>> {
    let start = Instant::now();
    while streaming && start.elapsed() < SPIN {
        match queue.try_recv() {
            Ok(request) => return Some(request),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            // `yield_now`, not a busy loop: on a machine with few cores the callers need
            // the CPU to come back.
            Err(mpsc::TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    queue.recv().ok()
}

/// `first` and every request already waiting, up to [`MAX_BATCH`]; while fewer than the
/// `last` batch held, also those arriving within `patience` ([`SPIN`]). Without that wait, the
/// callers of one batch come back one by one, the first starts a batch alone, and the
/// rest form the next: two alternating half-batches, each paying a whole commit. A lone
/// client (`last` = 1) waits for nothing.
fn gather(
    first: Box<dyn Pending>,
    queue: &mpsc::Receiver<Box<dyn Pending>>,
    last: usize,
    patience: Duration,
) -> Vec<Box<dyn Pending>> {
    let want = last.min(MAX_BATCH);
    let start = Instant::now();
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(next) => batch.push(next),
            Err(mpsc::TryRecvError::Empty) if batch.len() < want && start.elapsed() < patience => {
                std::thread::yield_now();
            }
            Err(_) => break,
        }
    }
    batch
}

/// Runs one transaction-control statement, prepared once per connection (`execute_batch`
/// would parse its text on every batch).
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn commit(conn: &Connection, mut batch: Vec<Box<dyn Pending>>) {
    // Another process may hold the write lock: the busy timeout waits for it, and a BUSY
    // that SQLite returns without waiting is retried (nothing has run yet).
    if let Err(e) = super::busy::retry_busy(|| control(conn, "BEGIN IMMEDIATE")) {
        for request in batch {
            request.finish(Err(&e));
        }
        return;
    }
    // The write lock may have taken long to get (another process held it). A caller
    // that gave up meanwhile must not have its request applied: a rotation nobody
    // receives retires the client's only token, which would then be reuse.
    batch.retain(|request| !request.abandoned());
    if batch.is_empty() {
        let _ = control(conn, "ROLLBACK");
        return;
    }
    // A lone request needs no savepoint: if it fails, the whole transaction is its own
    // and rolls back (two statements fewer on the path of a lone client).
    if let [only] = batch.as_mut_slice() {
        if only.run(conn) {
            match control(conn, "COMMIT") {
                Ok(()) => batch.into_iter().for_each(|r| r.finish(Ok(()))),
                Err(e) => abort(conn, batch, &e),
            }
        } else {
            let _ = control(conn, "ROLLBACK");
            batch.into_iter().for_each(|r| r.finish(Ok(())));
        }
        return;
    }
    for request in &mut batch {
        if let Err(e) = control(conn, "SAVEPOINT request") {
            abort(conn, batch, &e);
            return;
        }
        let ok = request.run(conn);
        let closed = if ok {
            control(conn, "RELEASE request")
        } else {
            control(conn, "ROLLBACK TO request").and_then(|()| control(conn, "RELEASE request"))
        };
        if let Err(e) = closed {
            abort(conn, batch, &e);
            return;
        }
    }
    match control(conn, "COMMIT") {
        Ok(()) => {
            for request in batch {
                request.finish(Ok(()));
            }
        }
        Err(e) => abort(conn, batch, &e),
    }
}

/// Rolls the batch back and tells every request it did not commit.
fn abort(conn: &Connection, batch: Vec<Box<dyn Pending>>, e: &rusqlite::Error) {
    let _ = control(conn, "ROLLBACK");
    for request in batch {
        request.finish(Err(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        sql: &'static str,
    ) -> (
        Box<dyn Pending>,
        tokio::sync::oneshot::Receiver<Result<usize, Error>>,
    ) {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let work = move |conn: &Connection| conn.execute(sql, []);
        let request: Box<dyn Pending> = Box::new(Request {
            what: "test",
            sent: Instant::now(),
            span: tracing::Span::none(),
            work: Some(work),
            result: None,
            reply,
        });
        (request, answer)
    }

    fn answer(
        mut rx: tokio::sync::oneshot::Receiver<Result<usize, Error>>,
    ) -> Result<usize, Error> {
        rx.try_recv().expect("answered after the batch")
    }

    /// A lone request that fails rolls back the transaction that was its own, and hears
    /// its own error.
    #[test]
    fn a_lone_failing_request_rolls_back() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)")
            .unwrap();
        let (a, ra) = request("INSERT INTO t VALUES (1)");
        commit(&conn, vec![a]);
        assert!(answer(ra).is_err());
        let (b, rb) = request("INSERT INTO t VALUES (2)");
        commit(&conn, vec![b]);
        assert_eq!(answer(rb).unwrap(), 1);
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }

    /// One batch: the failing request rolls back its own savepoint only; the others
    /// commit, and each caller hears its own outcome.
    #[test]
    fn a_failing_request_rolls_back_only_itself() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            .unwrap();
        let (a, ra) = request("INSERT INTO t VALUES (1)");
        let (b, rb) = request("INSERT INTO t VALUES (1)"); // duplicate key: fails
        let (c, rc) = request("INSERT INTO t VALUES (3)");
        commit(&conn, vec![a, b, c]);
        assert_eq!(answer(ra).unwrap(), 1);
        assert!(answer(rb).is_err());
        assert_eq!(answer(rc).unwrap(), 1);
        let rows: Vec<i64> = conn
            .prepare("SELECT x FROM t ORDER BY x")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows, [1, 3]);
    }

    /// A batch that cannot begin (the transaction is already open, as a stand-in for any
    /// failure before the requests run) tells every request, and applies nothing.
    #[test]
    fn a_batch_that_cannot_begin_applies_nothing() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY); BEGIN")
            .unwrap();
        let (a, ra) = request("INSERT INTO t VALUES (1)");
        let (b, rb) = request("INSERT INTO t VALUES (2)");
        commit(&conn, vec![a, b]);
        assert!(answer(ra).is_err() && answer(rb).is_err());
        conn.execute_batch("ROLLBACK").unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    /// A batch takes what is waiting, up to the bound, and leaves the rest for the next.
    #[test]
    fn batches_are_bounded() {
        let (tx, rx) = mpsc::channel();
        let mut answers = Vec::new();
        for _ in 0..MAX_BATCH + 44 {
            let (r, a) = request("SELECT 1");
            tx.send(r).unwrap();
            answers.push(a);
        }
        let first = rx.recv().unwrap();
        assert_eq!(gather(first, &rx, 1, SPIN).len(), MAX_BATCH);
        let first = rx.recv().unwrap();
        assert_eq!(gather(first, &rx, MAX_BATCH, SPIN).len(), 44);
    }

    /// A batch waits (briefly) for as many requests as the last one held, and a lone
    /// client's waits for nothing.
    #[test]
    fn batches_wait_briefly_for_the_last_batchs_callers() {
        let (tx, rx) = mpsc::channel();
        let (first, _a) = request("SELECT 1");
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let (r, a) = request("SELECT 1");
            tx.send(r).unwrap();
            a
        });
        let patience = Duration::from_secs(10);
        assert_eq!(
            gather(first, &rx, 2, patience).len(),
            2,
            "the late caller joined"
        );
        let _b = late.join().unwrap();

        let (tx, rx) = mpsc::channel();
        let (first, _a) = request("SELECT 1");
        let start = Instant::now();
        let patience = Duration::from_millis(20);
        assert_eq!(gather(first, &rx, 8, patience).len(), 1);
        assert!(
            start.elapsed() >= patience,
            "waited for the others, then no longer"
        );
        let (r, _b) = request("SELECT 1");
        tx.send(r).unwrap();
        let (first, _c) = request("SELECT 1");
        let start = Instant::now();
        assert_eq!(
            gather(first, &rx, 2, patience).len(),
            2,
            "takes what is waiting"
        );
        assert!(
            start.elapsed() < patience,
            "and, as many as the last batch held, waits for no more"
        );
    }

    /// Polling is for a lone caller whose batches are quick, for about a batch's time.
    #[test]
    fn only_a_lone_caller_with_quick_batches_polls() {
        let quick = Duration::from_micros(100);
        assert_eq!(poll_budget(1, quick, true), quick + SPIN);
        assert_eq!(poll_budget(2, quick, true), Duration::ZERO, "shared");
        assert_eq!(poll_budget(1, quick, false), Duration::ZERO, "sparse");
        assert_eq!(poll_budget(1, POLL_LIMIT, true), Duration::ZERO);
        assert_eq!(
            poll_budget(1, Duration::from_millis(5), true),
            Duration::ZERO
        );
        let pace = Pace::default();
        assert_eq!(pace.poll_for(true), None, "no judgement yet");
        pace.poll_nanos.store(150_000, Ordering::Relaxed);
        assert_eq!(pace.poll_for(true), Some(Duration::from_micros(150)));
        assert_eq!(pace.poll_for(false), None, "not alone");
        let count = AtomicUsize::new(0);
        let (first, alone) = InFlight::enter(&count);
        assert!(alone);
        let (second, alone) = InFlight::enter(&count);
        assert!(!alone);
        drop((first, second));
        assert_eq!(count.load(Ordering::Relaxed), 0);
        assert!(
            InFlight::enter(&count).1,
            "alone again once the others are done"
        );
    }

    /// Callers hear their own outcome whether they poll (quick batches, alone) or sleep
    /// (several in flight), and the writer ends when the last handle goes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_hear_their_own_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch("PRAGMA synchronous = OFF; CREATE TABLE t (x INTEGER PRIMARY KEY)")
            .unwrap();
        let writer = Writer::start(conn).unwrap();
        assert_eq!(format!("{writer:?}"), "Writer");
        for x in 0..50i64 {
            let n = writer
                .submit("test", move |c: &Connection| {
                    c.execute("INSERT INTO t VALUES (?1)", [x])
                })
                .await
                .unwrap();
            assert_eq!(n, 1);
        }
        let tasks: Vec<_> = (0..40i64)
            .map(|x| {
                let w = writer.clone();
                tokio::spawn(async move {
                    // Every other insert collides with one already made.
                    let x = if x % 2 == 0 { x } else { 100 + x };
                    w.submit("test", move |c: &Connection| {
                        c.execute("INSERT INTO t VALUES (?1)", [x])
                    })
                    .await
                    .is_ok()
                })
            })
            .collect();
        for (x, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), x % 2 == 1, "request {x}");
        }
        assert_eq!(writer.pace.in_flight.load(Ordering::Relaxed), 0);
        let count = writer
            .submit("test", |c: &Connection| {
                c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
            })
            .await
            .unwrap();
        assert_eq!(count, 70);
    }

    /// A COMMIT that fails (a deferred foreign key) tells every request of the batch,
    /// leaves nothing applied, and leaves the connection ready for the next batch.
    #[test]
    fn a_failed_commit_applies_nothing_and_tells_everyone() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE p (id INTEGER PRIMARY KEY);
             CREATE TABLE c (x INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
        let (a, ra) = request("INSERT INTO p VALUES (1)");
        let (b, rb) = request("INSERT INTO c VALUES (9)"); // no parent: fails at COMMIT
        commit(&conn, vec![a, b]);
        assert!(answer(ra).is_err() && answer(rb).is_err());
        let n: i64 = conn
            .query_row("SELECT count(*) FROM p", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        assert!(
            conn.is_autocommit(),
            "the failed transaction was rolled back"
        );
        let (c, rc) = request("INSERT INTO p VALUES (2)");
        commit(&conn, vec![c]);
        assert_eq!(answer(rc).unwrap(), 1);
    }

    /// The loop drains what is waiting into one batch, and ends when the senders go.
    #[test]
    fn the_loop_batches_and_ends() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let mut answers = Vec::new();
        for sql in ["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"] {
            let (r, a) = request(sql);
            tx.send(r).unwrap();
            answers.push(a);
        }
        drop(tx);
        let pace = Pace::default();
        run(conn, rx, &pace);
        for a in answers {
            assert_eq!(answer(a).unwrap(), 1);
        }
        // One batch of two: shared, so no lone caller polls after it.
        assert_eq!(pace.poll_nanos.load(Ordering::Relaxed), 0);
    }

    /// Streaming means queued within SPIN of the last answer, whenever the writer woke.
    #[test]
    fn streaming_is_measured_from_the_last_answer_to_the_request() {
        let idle_since = Instant::now();
        assert!(came_straight_back(idle_since + SPIN / 2, idle_since));
        assert!(!came_straight_back(idle_since + SPIN, idle_since));
        assert!(!came_straight_back(idle_since + SPIN * 40, idle_since));
        // Queued before the last batch ended (it waited in the queue): straight back.
        assert!(came_straight_back(idle_since, idle_since + SPIN));
    }

    /// `next` takes a waiting request, sleeps for a late one, and ends with the senders.
    #[test]
    fn next_takes_waiting_and_late_requests() {
        let (tx, rx) = mpsc::channel();
        let (r, _a) = request("SELECT 1");
        tx.send(r).unwrap();
        assert!(next(&rx, false).is_some());
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let (r, a) = request("SELECT 1");
            tx.send(r).unwrap();
            a
        });
        assert!(
            next(&rx, true).is_some(),
            "looked for, then slept until it came"
        );
        let _b = late.join().unwrap();
        assert!(next(&rx, true).is_none(), "every sender is gone");
    }
}
