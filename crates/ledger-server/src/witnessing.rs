//! The witness thread: with `--witness`, the server publishes a checkpoint only once a
//! quorum of witnesses cosigned it (c2sp.org/tlog-witness), so every receipt and bundle it
//! hands out carries a witnessed checkpoint.
//!
//! The writer signs a checkpoint and hands it here; it goes on appending meanwhile. This
//! thread always works on the newest checkpoint it was given (older ones are skipped: a
//! cosignature of the newer tree covers every older entry), asks every witness with the
//! consistency proof from the size each last cosigned, stores the cosignatures with the
//! checkpoint, and gives the cosigned checkpoint back to the writer when the quorum is met.
//! When it is not, it retries after a pause, with whatever newer checkpoint came meanwhile.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender};
use std::time::Duration;

use ledger::Ledger;
use ledger_core::note::NoteVerifier;
use ledger_store_postgres::AnyStore;
use ledger_witness::log::{self as witness_log, Endpoint};

use crate::metrics::Metrics;
use crate::writer::{Job, Published};

/// The witnesses a server asks, and how many must cosign.
#[derive(Debug, Clone)]
pub struct WitnessSettings {
    /// The witnesses, by submission URL and cosignature key.
    pub endpoints: Vec<Endpoint>,
    /// How many must cosign before a checkpoint is published.
    pub quorum: usize,
    /// The longest wait for one witness.
    pub timeout: Duration,
    /// The pause before asking again after the quorum was missed.
    pub retry: Duration,
}

/// Where the writer sends signed checkpoints to be witnessed.
pub type ToWitnesses = Sender<Published>;

/// Starts the witness thread. Cosigned checkpoints come back on `jobs` as
/// [`Job::Witnessed`]. The thread ends when the returned sender is dropped.
pub fn start(
    ledger: Arc<Ledger<AnyStore>>,
    log: NoteVerifier,
    settings: WitnessSettings,
    jobs: SyncSender<Job>,
    metrics: Arc<Metrics>,
) -> std::io::Result<(ToWitnesses, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("custody-witnesses".into())
        .spawn(move || run(&ledger, &log, &settings, &rx, &jobs, &metrics))?;
    Ok((tx, thread))
}

fn run(
    ledger: &Ledger<AnyStore>,
    log: &NoteVerifier,
    settings: &WitnessSettings,
    rx: &Receiver<Published>,
    jobs: &SyncSender<Job>,
    metrics: &Metrics,
) {
    let mut known: HashMap<String, u64> = HashMap::new();
    let keys: Vec<NoteVerifier> = settings.endpoints.iter().map(|e| e.key.clone()).collect();
    let Ok(mut current) = rx.recv() else {
        return;
    };
    loop {
        // Only the newest checkpoint matters.
        while let Ok(newer) = rx.try_recv() {
            current = newer;
        }
        let size = current.size;
        let proof = |old: u64| {
            ledger
                .consistency_proof(old, Some(size))
                .map(|p| p.path)
                .map_err(|e| e.to_string())
        };
        let asked = witness_log::cosign(
            &current.note,
            size,
            log,
            &settings.endpoints,
            &mut known,
            &proof,
            settings.timeout,
        );
        for (name, why) in &asked.failed {
            tracing::warn!(witness = %name, size, reason = %why, "a witness did not cosign");
        }
        let lines = asked.note.get(current.note.len()..).unwrap_or_default();
        let stored = if lines.is_empty() {
            Ok(current.note.clone())
        } else {
            ledger.add_cosignatures(size, lines, &keys)
        };
        match stored {
            Ok(note) if asked.cosigned.len() >= settings.quorum => {
                metrics.witnessed.inc();
                let witnessed = Published {
                    size,
                    root: current.root,
                    note,
                };
                if jobs.send(Job::Witnessed(witnessed)).is_err() {
                    return;
                }
                match rx.recv() {
                    Ok(next) => current = next,
                    Err(_) => return,
                }
            }
            result => {
                if let Err(e) = result {
                    tracing::error!(error = %e, size, "cannot store the cosignatures");
                } else {
                    tracing::warn!(
                        size,
                        cosigned = asked.cosigned.len(),
                        quorum = settings.quorum,
                        "the witness quorum was missed; retrying"
                    );
                }
                metrics.witness_misses.inc();
                match rx.recv_timeout(settings.retry) {
                    Ok(next) => current = next,
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        }
    }
}
