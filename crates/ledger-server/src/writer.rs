//! The writer thread: the only place the server appends. Admitted requests arrive on a
//! bounded queue; the writer gathers them into a group (bounded by a statement count and a
//! latency), appends the group as one durable store batch ([`Ledger::append_group`]), signs a
//! checkpoint covering it (at most once per checkpoint interval) and only then answers each
//! request with receipts proved against that checkpoint.
//!
//! With witnesses ([`crate::witnessing`]), a signed checkpoint is handed to the witness
//! thread and published only when it comes back cosigned; requests wait for a published
//! checkpoint that covers them, and the writer goes on appending meanwhile.
//!
//! The store's append transaction holds a `std` mutex guard and so stays on the thread that
//! began it: that is why appends run here, on one dedicated thread, not on the async runtime.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ledger::serve::{Admitted, GroupOutcome};
use ledger::{Ledger, Receipt, Refused};
use ledger_core::hash::Digest;
use ledger_core::keys::SecretKey;
use ledger_core::merkle::Frontier;
use ledger_core::statement::entry_hash;
use ledger_store::Store;
use ledger_store_postgres::AnyStore;
use tokio::sync::oneshot;

use crate::metrics::Metrics;

/// How often a group is checked again after another server sharing the database moved
/// the head first, before its requests are answered with the conflict.
const CONFLICT_RETRIES: u32 = 8;

/// How long a stopping server waits for the witnesses to cosign what requests wait for.
const STOP_WAIT_FOR_WITNESSES: Duration = Duration::from_secs(10);

/// How groups and checkpoints are bounded.
#[derive(Debug, Clone, Copy)]
pub struct GroupSettings {
    /// Most statements in one group.
    pub max_statements: usize,
    /// Longest a group stays open after its first request arrives.
    pub max_latency: Duration,
    /// Shortest time between two signed checkpoints.
    pub checkpoint_interval: Duration,
}

/// The latest signed checkpoint, as served at `/checkpoint`.
#[derive(Debug, Clone)]
pub struct Published {
    /// Its tree size.
    pub size: u64,
    /// Its root.
    pub root: Digest,
    /// The signed note.
    pub note: String,
}

/// What the writer answers a request with.
#[derive(Debug)]
pub enum Reply {
    /// Appended (`duplicate` false) or already in the log (`duplicate` true): one receipt per
    /// statement, proved against `checkpoint`.
    Receipts {
        /// The receipts, in request order.
        receipts: Vec<Receipt>,
        /// The signed checkpoint note the proofs lead to.
        checkpoint: String,
        /// Whether every statement was already in the log.
        duplicate: bool,
    },
    /// The rules refused the request in its group; nothing of it was written.
    Refused(Refused),
    /// The group could not be written or proved; nothing of it was acknowledged.
    Failed(String),
}

/// One job on the writer's queue.
pub enum Job {
    /// Append an admitted request and answer on `reply`.
    Append {
        /// The request.
        request: Admitted,
        /// Where the answer goes.
        reply: oneshot::Sender<Reply>,
    },
    /// A checkpoint the witnesses cosigned: publish it and answer who it covers.
    Witnessed(Published),
    /// Finish the open group, sign, and stop.
    Stop,
}

/// The handle request handlers submit through.
#[derive(Clone)]
pub struct Writer {
    jobs: SyncSender<Job>,
    metrics: Arc<Metrics>,
}

/// Why a job was not queued.
pub enum Rejected {
    /// The queue is full: the server is overloaded.
    Full,
    /// The writer has stopped (shutting down or failed).
    Stopped,
}

impl Writer {
    /// Queues `request`, never waiting: a full queue is overload.
    pub fn submit(&self, request: Admitted) -> Result<oneshot::Receiver<Reply>, Rejected> {
        let (reply, answer) = oneshot::channel();
        match self.jobs.try_send(Job::Append { request, reply }) {
            Ok(()) => {
                self.metrics.queued.inc();
                Ok(answer)
            }
            Err(TrySendError::Full(_)) => Err(Rejected::Full),
            Err(TrySendError::Disconnected(_)) => Err(Rejected::Stopped),
        }
    }

    /// Asks the writer to finish and stop (blocking until the request is queued).
    pub fn stop(&self) {
        let _ = self.jobs.send(Job::Stop);
    }
}

/// A request whose answer waits for a checkpoint covering it.
struct Waiting {
    reply: oneshot::Sender<Reply>,
    /// `(event id, position, leaf hash and the receipt's own proof when it has one)`.
    receipts: Vec<Receipt>,
    duplicate: bool,
}

impl Waiting {
    /// Whether a checkpoint of `size` covers every receipt.
    fn covered_by(&self, size: u64) -> bool {
        self.receipts.iter().all(|r| r.seq < size)
    }
}

/// The writer's state.
struct State {
    ledger: Arc<Ledger<AnyStore>>,
    key: Arc<SecretKey>,
    settings: GroupSettings,
    published: Arc<RwLock<Option<Published>>>,
    metrics: Arc<Metrics>,
    frontier: Frontier,
    last_signed: Option<Instant>,
    /// The size of the latest signed checkpoint (published, or with the witnesses).
    signed_size: Option<u64>,
    /// Where signed checkpoints go to be cosigned, when the server has witnesses.
    witnesses: Option<crate::witnessing::ToWitnesses>,
}

/// Recomputes the log's frontier from every entry (once, at start) and makes sure a
/// checkpoint covers the whole log; then starts the writer thread.
pub fn start(
    ledger: Arc<Ledger<AnyStore>>,
    key: Arc<SecretKey>,
    settings: GroupSettings,
    queue: usize,
    published: Arc<RwLock<Option<Published>>>,
    metrics: Arc<Metrics>,
    witnesses: Option<crate::witnessing::WitnessSettings>,
) -> Result<(Writer, std::thread::JoinHandle<()>), ledger::Error> {
    ledger.check_operator(&key.public_key())?;
    let mut frontier = Frontier::new();
    for item in ledger.store().entries(0) {
        let (seq, bytes) = item.map_err(ledger::Error::from)?;
        if seq != frontier.size() {
            return Err(ledger::Error::Damaged(format!(
                "the store skips from entry #{} to #{seq}; run custody verify",
                frontier.size()
            )));
        }
        frontier
            .push(entry_hash(&bytes))
            .map_err(|e| ledger::Error::Damaged(e.to_string()))?;
    }
    let (jobs, rx) = std::sync::mpsc::sync_channel(queue.max(1));
    let thread_error =
        |e: std::io::Error| ledger::Error::BadInput(format!("cannot start a server thread: {e}"));
    let (to_witnesses, witness_thread) = match witnesses {
        Some(settings) => {
            let log = ledger.verifier_key(&key.public_key())?;
            let (tx, thread) = crate::witnessing::start(
                ledger.clone(),
                log,
                settings,
                jobs.clone(),
                metrics.clone(),
            )
            .map_err(thread_error)?;
            (Some(tx), Some(thread))
        }
        None => (None, None),
    };
    let mut state = State {
        ledger,
        key,
        settings,
        published,
        metrics: metrics.clone(),
        frontier,
        last_signed: None,
        signed_size: None,
        witnesses: to_witnesses,
    };
    let latest = state.ledger.latest_checkpoint()?;
    match latest {
        Some((size, note)) if size == state.frontier.size() => {
            state.signed_size = Some(size);
            state.hand_over(Published {
                size,
                root: state.frontier.root(),
                note,
            });
        }
        _ => state.sign()?,
    }
    let thread = std::thread::Builder::new()
        .name("custody-writer".into())
        .spawn(move || {
            // `run` consumes the state, and with it the witness thread's sender: the
            // witness thread then ends. It holds the ledger, which the server closes after
            // this thread ends, so wait for it.
            state.run(&rx);
            // A witness thread blocked on a full queue must not wait for us forever.
            drop(rx);
            if let Some(thread) = witness_thread {
                let _ = thread.join();
            }
        })
        .map_err(thread_error)?;
    Ok((Writer { jobs, metrics }, thread))
}

impl State {
    fn publish(&mut self, published: Published) {
        self.metrics
            .tree_size
            .set(i64::try_from(published.size).unwrap_or(i64::MAX));
        let mut slot = self
            .published
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Some(published);
    }

    fn published_size(&self) -> Option<u64> {
        self.published
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|p| p.size)
    }

    /// Signs a checkpoint of the whole log as the writer knows it, and publishes it (or
    /// hands it to the witnesses).
    fn sign(&mut self) -> Result<(), ledger::Error> {
        let size = self.frontier.size();
        let signed = self
            .ledger
            .sign_checkpoint_at(&self.key, size, self.frontier.root())?;
        self.metrics.checkpoints.inc();
        self.last_signed = Some(Instant::now());
        self.signed_size = Some(size);
        self.hand_over(Published {
            size,
            root: *signed.checkpoint.root(),
            note: signed.note,
        });
        Ok(())
    }

    /// Publishes a signed checkpoint, or with witnesses sends it to be cosigned first.
    fn hand_over(&mut self, signed: Published) {
        match &self.witnesses {
            Some(to) => {
                if to.send(signed).is_err() {
                    tracing::error!("the witness thread stopped: no checkpoint will be published");
                }
            }
            None => self.publish(signed),
        }
    }

    fn run(mut self, rx: &Receiver<Job>) {
        let mut waiting: Vec<Waiting> = Vec::new();
        let mut stopping = false;
        loop {
            let mut witnessed = None;
            let mut group: Vec<(Admitted, oneshot::Sender<Reply>)> = Vec::new();
            if stopping {
                // Whatever was queued before the stop is appended too.
                while let Ok(job) = rx.try_recv() {
                    if let Job::Append { request, reply } = job {
                        group.push((request, reply));
                    }
                }
            } else {
                stopping = self.gather(rx, &mut group, &mut witnessed, !waiting.is_empty());
            }
            self.metrics
                .queued
                .sub(i64::try_from(group.len()).unwrap_or(0));
            if !group.is_empty() {
                self.commit(group, &mut waiting);
            }
            let arrived = witnessed.is_some();
            if let Some(cosigned) = witnessed {
                self.publish_witnessed(cosigned);
            }
            let due = self
                .last_signed
                .is_none_or(|t| t.elapsed() >= self.settings.checkpoint_interval);
            if !waiting.is_empty() && (due || stopping || arrived) {
                self.answer(&mut waiting);
            }
            if stopping && !waiting.is_empty() && self.witnesses.is_some() {
                self.wait_for_witnesses(rx, &mut waiting);
            }
            if stopping {
                // Whoever still waits for the witnesses is told the statements are in.
                fail_waiting(
                    &mut waiting,
                    "the server stopped before the witnesses cosigned a checkpoint covering \
                     this request; its statements are in the log: submit them again for receipts",
                );
                break;
            }
        }
        tracing::info!("writer stopped");
    }

    /// Gathers one group: waits for a first request (or, when answers are waiting for a
    /// checkpoint, at most until one is due), then takes more until the group is full or
    /// its latency bound passes. A cosigned checkpoint from the witnesses ends the wait and
    /// lands in `witnessed`. Returns whether the server is stopping.
    fn gather(
        &self,
        rx: &Receiver<Job>,
        group: &mut Vec<(Admitted, oneshot::Sender<Reply>)>,
        witnessed: &mut Option<Published>,
        answers_waiting: bool,
    ) -> bool {
        // Answers wait for a checkpoint the writer signs, not for one with the witnesses.
        let answers_waiting = answers_waiting && self.signed_size != Some(self.frontier.size());
        let first = if answers_waiting {
            let wait = self
                .last_signed
                .map(|t| {
                    self.settings
                        .checkpoint_interval
                        .saturating_sub(t.elapsed())
                })
                .unwrap_or_default();
            match rx.recv_timeout(wait) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => return false,
                Err(RecvTimeoutError::Disconnected) => return true,
            }
        } else {
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return true,
            }
        };
        let mut statements = 0;
        match first {
            Job::Append { request, reply } => {
                statements += request.len();
                group.push((request, reply));
            }
            Job::Witnessed(cosigned) => {
                *witnessed = Some(cosigned);
                return false;
            }
            Job::Stop => return true,
        }
        let deadline = Instant::now() + self.settings.max_latency;
        while statements < self.settings.max_statements {
            let left = deadline.saturating_duration_since(Instant::now());
            let job = if left.is_zero() {
                match rx.try_recv() {
                    Ok(job) => job,
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => return true,
                }
            } else {
                match rx.recv_timeout(left) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return true,
                }
            };
            match job {
                Job::Append { request, reply } => {
                    statements += request.len();
                    group.push((request, reply));
                }
                Job::Witnessed(cosigned) => *witnessed = Some(cosigned),
                Job::Stop => return true,
            }
        }
        false
    }

    /// Appends one group and files each request's answer: refusals at once, receipts to
    /// wait for a checkpoint.
    fn commit(
        &mut self,
        group: Vec<(Admitted, oneshot::Sender<Reply>)>,
        waiting: &mut Vec<Waiting>,
    ) {
        let start = Instant::now();
        let (requests, replies): (Vec<Admitted>, Vec<oneshot::Sender<Reply>>) =
            group.into_iter().unzip();
        let recorded_at = match ledger::now() {
            Ok(now) => now,
            Err(e) => return fail_all(replies, &e.to_string()),
        };
        let mut conflicts = 0;
        let appended = loop {
            match self.ledger.append_group(&requests, recorded_at) {
                // Another server sharing the database appended first: the group is checked
                // again on the new head (what it already appended comes back as duplicates).
                Err(ledger::Error::Conflict(_)) if conflicts < CONFLICT_RETRIES => {
                    conflicts += 1;
                }
                appended => break appended,
            }
        };
        let outcomes = match appended {
            Ok(outcomes) => outcomes,
            Err(e) => {
                tracing::error!(error = %e, requests = requests.len(), "a group could not be written");
                return fail_all(replies, &e.to_string());
            }
        };
        let mut accepted: Vec<(u64, Digest)> = Vec::new();
        let mut statements = 0u64;
        // The end of the log that the duplicates' positions show, for the frontier to reach.
        let mut known_end = 0u64;
        for ((outcome, reply), request) in outcomes.into_iter().zip(replies).zip(&requests) {
            match outcome {
                GroupOutcome::Accepted(receipts) => {
                    statements += receipts.len() as u64;
                    accepted.extend(receipts.iter().map(|r| (r.seq, r.leaf_hash)));
                    waiting.push(Waiting {
                        reply,
                        receipts,
                        duplicate: false,
                    });
                }
                GroupOutcome::Refused(refused) => {
                    self.metrics.refused(&refused);
                    let _ = reply.send(Reply::Refused(refused));
                }
                GroupOutcome::Duplicate(positions) => {
                    if let Some(last) = positions.iter().max() {
                        known_end = known_end.max(last.saturating_add(1));
                    }
                    let receipts = request
                        .ids()
                        .into_iter()
                        .zip(positions)
                        .map(|(id, seq)| Receipt {
                            id,
                            seq,
                            leaf_hash: Digest::ZERO,
                            tree_size: 0,
                            root: Digest::ZERO,
                            inclusion_path: Vec::new(),
                        })
                        .collect();
                    waiting.push(Waiting {
                        reply,
                        receipts,
                        duplicate: true,
                    });
                }
            }
        }
        accepted.sort_unstable_by_key(|(seq, _)| *seq);
        for (seq, leaf) in accepted {
            // Entries this writer did not append: another server's, on a shared database,
            // or a group of this one whose acknowledgement a failover lost.
            if seq > self.frontier.size()
                && let Err(e) = self.catch_up(seq)
            {
                tracing::error!(error = %e, "cannot read the entries another server appended");
                fail_waiting(waiting, &format!("cannot read the log: {e}"));
                return;
            }
            if seq != self.frontier.size() {
                tracing::error!(seq, size = self.frontier.size(), "receipts out of order");
                // The next checkpoint cannot be trusted: stop answering with proofs.
                fail_waiting(
                    waiting,
                    "the writer lost track of the log; run custody verify",
                );
                return;
            }
            if self.frontier.push(leaf).is_err() {
                fail_waiting(waiting, "the log is full");
                return;
            }
        }
        // A duplicate may sit past this writer's tree: appended by another server, or by a
        // group of this one whose commit landed though its acknowledgement was lost in a
        // failover. Its answer waits for a checkpoint covering it, so the tree must reach it.
        if known_end > self.frontier.size() {
            if let Err(e) = self.catch_up(known_end) {
                tracing::error!(error = %e, "cannot read the entries another server appended");
                fail_waiting(waiting, &format!("cannot read the log: {e}"));
                return;
            }
            if self.frontier.size() < known_end {
                tracing::error!(
                    end = known_end,
                    size = self.frontier.size(),
                    "the log ends before a duplicate's position"
                );
                fail_waiting(
                    waiting,
                    "the writer lost track of the log; run custody verify",
                );
                return;
            }
        }
        self.metrics.appended.inc_by(statements);
        self.metrics.group_statements.observe(statements as f64);
        self.metrics.group_requests.observe(requests.len() as f64);
        self.metrics
            .commit_seconds
            .observe(start.elapsed().as_secs_f64());
    }

    /// Extends the frontier up to log position `seq` with the entries appended since this
    /// writer's last group that it did not see: another server's on a shared database, or
    /// its own group whose commit landed as its acknowledgement was lost (none on sled).
    fn catch_up(&mut self, seq: u64) -> Result<(), ledger_store::StoreError> {
        let start = self.frontier.size();
        let missing = usize::try_from(seq.saturating_sub(start)).unwrap_or(usize::MAX);
        for entry in self.ledger.store().entries(start).take(missing) {
            let (at, bytes) = entry?;
            if at != self.frontier.size() || self.frontier.push(entry_hash(&bytes)).is_err() {
                break;
            }
        }
        Ok(())
    }

    /// Publishes a cosigned checkpoint unless a larger one is out already.
    fn publish_witnessed(&mut self, cosigned: Published) {
        if self
            .published_size()
            .is_none_or(|size| size < cosigned.size)
        {
            self.publish(cosigned);
        }
    }

    /// On stop, waits a bounded time for the witnesses to cosign what is waiting.
    fn wait_for_witnesses(&mut self, rx: &Receiver<Job>, waiting: &mut Vec<Waiting>) {
        let deadline = Instant::now() + STOP_WAIT_FOR_WITNESSES;
        while !waiting.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Job::Witnessed(cosigned)) => {
                    self.publish_witnessed(cosigned);
                    self.answer(waiting);
                }
                Ok(Job::Append { reply, .. }) => {
                    let _ = reply.send(Reply::Failed("the server is stopping".into()));
                }
                Ok(Job::Stop) => {}
                Err(_) => return,
            }
        }
    }

    /// Signs a checkpoint if the log grew since the last signed one, and answers every
    /// waiting request that the published checkpoint covers with receipts proved against
    /// it (with witnesses, the others wait for the next cosigned one).
    fn answer(&mut self, waiting: &mut Vec<Waiting>) {
        if self.signed_size != Some(self.frontier.size())
            && let Err(e) = self.sign()
        {
            tracing::error!(error = %e, "cannot sign a checkpoint");
            fail_waiting(waiting, &format!("cannot sign a checkpoint: {e}"));
            return;
        }
        let Some(published) = self
            .published
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
        else {
            if self.witnesses.is_none() {
                fail_waiting(waiting, "no checkpoint is published");
            }
            return;
        };
        let (covered, later): (Vec<Waiting>, Vec<Waiting>) = waiting
            .drain(..)
            .partition(|w| w.covered_by(published.size));
        *waiting = later;
        for w in covered {
            let proved: Result<Vec<Receipt>, ledger::Error> = w
                .receipts
                .into_iter()
                .map(|r| prove(&self.ledger, r, &published))
                .collect();
            let reply = match proved {
                Ok(receipts) => Reply::Receipts {
                    receipts,
                    checkpoint: published.note.clone(),
                    duplicate: w.duplicate,
                },
                Err(e) => Reply::Failed(e.to_string()),
            };
            let _ = w.reply.send(reply);
        }
    }
}

/// `receipt` proved against `published` (its own proof when it is already against that tree).
fn prove(
    ledger: &Ledger<AnyStore>,
    receipt: Receipt,
    published: &Published,
) -> Result<Receipt, ledger::Error> {
    if receipt.tree_size == published.size && receipt.root == published.root {
        return Ok(receipt);
    }
    let proof = ledger.inclusion_proof(receipt.seq, Some(published.size))?;
    if proof.root != published.root {
        return Err(ledger::Error::Damaged(
            "the store's tree disagrees with the signed checkpoint; run custody verify".into(),
        ));
    }
    Ok(Receipt {
        id: receipt.id,
        seq: receipt.seq,
        leaf_hash: proof.leaf_hash,
        tree_size: proof.tree_size,
        root: proof.root,
        inclusion_path: proof.path,
    })
}

fn fail_all(replies: Vec<oneshot::Sender<Reply>>, message: &str) {
    for reply in replies {
        let _ = reply.send(Reply::Failed(message.to_owned()));
    }
}

fn fail_waiting(waiting: &mut Vec<Waiting>, message: &str) {
    for w in waiting.drain(..) {
        let _ = w.reply.send(Reply::Failed(message.to_owned()));
    }
}
