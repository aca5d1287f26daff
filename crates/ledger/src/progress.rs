//! Progress of long work, reported to whatever the caller draws it with (a terminal bar in
//! the CLI, nothing in a server). The engine never writes to a terminal itself.

/// Receives progress of long work: a whole-ledger replay, a bulk append's checks.
pub trait Progress: Sync {
    /// Work named `what` of `total` steps begins.
    fn start(&self, what: &'static str, total: u64) {
        let _ = (what, total);
    }

    /// `steps` more steps are done.
    fn advance(&self, steps: u64) {
        let _ = steps;
    }

    /// The work is done (or abandoned).
    fn finish(&self) {}
}

/// Progress nobody watches.
pub struct Silent;

impl Progress for Silent {}
