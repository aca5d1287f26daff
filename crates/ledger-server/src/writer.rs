//! The writer thread: the only place the server appends. Admitted requests arrive on a
//! bounded queue; the writer gathers them into a group (bounded by a statement count and a
//! latency), appends the group as one durable store batch ([`Ledger::append_group`]), signs a
//! checkpoint covering it (at most once per checkpoint interval) and only then answers each
//! request with receipts proved against that checkpoint.
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
use ledger_store::{SledStore, Store};
use tokio::sync::oneshot;

use crate::metrics::Metrics;

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

/// The writer's state.
struct State {
    ledger: Arc<Ledger<SledStore>>,
    key: Arc<SecretKey>,
    settings: GroupSettings,
    published: Arc<RwLock<Option<Published>>>,
    metrics: Arc<Metrics>,
    frontier: Frontier,
    last_signed: Option<Instant>,
}

/// Recomputes the log's frontier from every entry (once, at start) and makes sure a
/// checkpoint covers the whole log; then starts the writer thread.
pub fn start(
    ledger: Arc<Ledger<SledStore>>,
    key: Arc<SecretKey>,
    settings: GroupSettings,
    queue: usize,
    published: Arc<RwLock<Option<Published>>>,
    metrics: Arc<Metrics>,
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
    let mut state = State {
        ledger,
        key,
        settings,
        published,
        metrics: metrics.clone(),
        frontier,
        last_signed: None,
    };
    let latest = state.ledger.latest_checkpoint()?;
    match latest {
        Some((size, note)) if size == state.frontier.size() => {
            state.publish(Published {
                size,
                root: state.frontier.root(),
                note,
            });
        }
        _ => state.sign()?,
    }
    let (jobs, rx) = std::sync::mpsc::sync_channel(queue.max(1));
    let thread = std::thread::Builder::new()
        .name("custody-writer".into())
        .spawn(move || state.run(&rx))
        .map_err(|e| ledger::Error::BadInput(format!("cannot start the writer thread: {e}")))?;
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

    /// Signs and publishes a checkpoint of the whole log as the writer knows it.
    fn sign(&mut self) -> Result<(), ledger::Error> {
        let size = self.frontier.size();
        let signed = self
            .ledger
            .sign_checkpoint_at(&self.key, size, self.frontier.root())?;
        self.metrics.checkpoints.inc();
        self.last_signed = Some(Instant::now());
        self.publish(Published {
            size,
            root: *signed.checkpoint.root(),
            note: signed.note,
        });
        Ok(())
    }

    fn run(mut self, rx: &Receiver<Job>) {
        let mut waiting: Vec<Waiting> = Vec::new();
        let mut stopping = false;
        loop {
            let mut group: Vec<(Admitted, oneshot::Sender<Reply>)> = Vec::new();
            if stopping {
                // Whatever was queued before the stop is appended too.
                while let Ok(job) = rx.try_recv() {
                    if let Job::Append { request, reply } = job {
                        group.push((request, reply));
                    }
                }
            } else {
                stopping = self.gather(rx, &mut group, !waiting.is_empty());
            }
            self.metrics
                .queued
                .sub(i64::try_from(group.len()).unwrap_or(0));
            if !group.is_empty() {
                self.commit(group, &mut waiting);
            }
            let due = self
                .last_signed
                .is_none_or(|t| t.elapsed() >= self.settings.checkpoint_interval);
            if !waiting.is_empty() && (due || stopping) {
                self.answer(&mut waiting);
            }
            if stopping && waiting.is_empty() {
                break;
            }
        }
        tracing::info!("writer stopped");
    }

    /// Gathers one group: waits for a first request (or, when answers are waiting for a
    /// checkpoint, at most until one is due), then takes more until the group is full or
    /// its latency bound passes. Returns whether the server is stopping.
    fn gather(
        &self,
        rx: &Receiver<Job>,
        group: &mut Vec<(Admitted, oneshot::Sender<Reply>)>,
        answers_waiting: bool,
    ) -> bool {
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
        let outcomes = match self.ledger.append_group(&requests, recorded_at) {
            Ok(outcomes) => outcomes,
            Err(e) => {
                tracing::error!(error = %e, requests = requests.len(), "a group could not be written");
                return fail_all(replies, &e.to_string());
            }
        };
        let mut accepted: Vec<(u64, Digest)> = Vec::new();
        let mut statements = 0u64;
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
        self.metrics.appended.inc_by(statements);
        self.metrics.group_statements.observe(statements as f64);
        self.metrics.group_requests.observe(requests.len() as f64);
        self.metrics
            .commit_seconds
            .observe(start.elapsed().as_secs_f64());
    }

    /// Signs a checkpoint if the log grew since the published one, and answers every waiting
    /// request with receipts proved against it.
    fn answer(&mut self, waiting: &mut Vec<Waiting>) {
        if self.published_size() != Some(self.frontier.size())
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
            fail_waiting(waiting, "no checkpoint is published");
            return;
        };
        for w in waiting.drain(..) {
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
    ledger: &Ledger<SledStore>,
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
