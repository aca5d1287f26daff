//! The evidence indexes, re-derived and compared. `verify --lot`, `report` and
//! `export-bundle` find a lot's entries and the attestations about a party or lot through
//! the store's indexes; a store that lost or gained an index record would make them leave
//! evidence out (a failed audit) or bring in something the log does not hold. Whole-ledger
//! verification derives the same indexes from the entries it replays and reports every
//! difference (CUS-INT-008), so a tampered index cannot pass the auditor who holds the log.

use std::collections::{BTreeMap, HashMap, HashSet};

use ledger_core::event::Subject;
use ledger_core::finding::{Finding, Rule};
use ledger_core::hash::Digest;
use ledger_core::id::{LotId, PartyId};
use ledger_core::state::AttestationRecord;
use ledger_core::subjects::{SubjectState, Subjects};
use ledger_core::verify::Prepared;
use ledger_store::Store;

use crate::error::Result;

/// Lots read at a time from the store's indexes, and listed at a time when the store's
/// lots are scanned for records the log lacks.
const LOT_PAGE: usize = 4096;

/// The indexes the log implies: which entries name each lot, and which entries change a
/// party (an `enroll`, `amend`, `request-key`, `add-key` or `revoke`).
#[derive(Default)]
pub(crate) struct LogIndexes {
    lot_events: BTreeMap<LotId, Vec<u64>>,
    party_events: Vec<u64>,
}

impl LogIndexes {
    /// Notes the entry at `seq` (its position in the log, not the one it claims).
    pub(crate) fn observe(&mut self, seq: u64, prepared: &Prepared) {
        let Ok(entry) = &prepared.decoded else {
            return;
        };
        let event = &entry.statement.statement().event;
        for lot in event.lots_named() {
            self.lot_events.entry(lot.clone()).or_default().push(seq);
        }
        if event.body.party_changed(&event.actor).is_some() {
            self.party_events.push(seq);
        }
    }

    /// Compares these and `attestations` (the replay's, in log order) with the store's
    /// indexes, and reports each lot, party or list that differs.
    pub(crate) fn check<S: Store>(
        &self,
        store: &S,
        attestations: &[AttestationRecord],
        subjects: &Subjects,
    ) -> Result<Vec<Finding>> {
        // The store's lot records are listed on a thread of their own, beside the other
        // comparisons: both only read the store, and the listing is about a third of the
        // time whole-ledger verify spends after its last entry.
        std::thread::scope(|scope| {
            let unnamed = scope.spawn(|| self.unnamed_lots(store));
            let mut findings = self.compare_indexes(store, attestations, subjects)?;
            findings.extend(
                unnamed
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
            );
            differ(
                &mut findings,
                "the entries that change a party",
                &self.party_events,
                &store.party_events()?,
            );
            Ok(findings)
        })
    }

    /// The subject states, the entries naming each lot and the attestations about each lot
    /// and party, against the store's.
    fn compare_indexes<S: Store>(
        &self,
        store: &S,
        attestations: &[AttestationRecord],
        subjects: &Subjects,
    ) -> Result<Vec<Finding>> {
        let mut findings = Vec::new();
        // The subject states the next append builds its index roots from.
        let stored: HashMap<Digest, SubjectState> = store.subject_states()?.into_iter().collect();
        let derived: HashMap<Digest, SubjectState> =
            subjects.states().map(|(k, s)| (*k, *s)).collect();
        if stored != derived {
            let differing = derived
                .iter()
                .filter(|(k, s)| stored.get(*k) != Some(*s))
                .count()
                + stored.keys().filter(|k| !derived.contains_key(*k)).count();
            findings.push(Finding::new(
                Rule::IndexMismatch,
                format!(
                    "the store's subject index states differ from the log's for {differing} \
                     subject(s): the next append would commit wrong subject index roots"
                ),
            ));
        }
        let mut about_parties: BTreeMap<&PartyId, Vec<u64>> = BTreeMap::new();
        let mut about_lots: BTreeMap<&LotId, Vec<u64>> = BTreeMap::new();
        for a in attestations {
            match &a.attest.subject {
                Subject::Party(p) => about_parties.entry(p).or_default().push(a.seq),
                Subject::Lot(l) => about_lots.entry(l).or_default().push(a.seq),
            }
        }
        let lots: Vec<&LotId> = self.lot_events.keys().collect();
        // A page of lots at a time, so what the store returns stays bounded.
        for page in lots.chunks(LOT_PAGE) {
            self.check_lots(store, page, &about_lots, &mut findings)?;
        }
        let stored_parties = store.parties()?;
        for party in &stored_parties {
            let derived = about_parties.get(&party.id).map_or(&[][..], Vec::as_slice);
            let stored: Vec<u64> = store
                .attestations(&party.id)?
                .iter()
                .map(|a| a.seq)
                .collect();
            differ(
                &mut findings,
                &format!("the attestations about party {}", party.id),
                derived,
                &stored,
            );
        }
        let enrolled: HashSet<&PartyId> = stored_parties.iter().map(|p| &p.id).collect();
        for (party, positions) in &about_parties {
            if !enrolled.contains(*party) {
                // Attestations about a party nobody enrolled (CUS-DD-003 reports them):
                // the store indexes them all the same.
                let stored: Vec<u64> = store.attestations(party)?.iter().map(|a| a.seq).collect();
                differ(
                    &mut findings,
                    &format!("the attestations about party {party}"),
                    positions,
                    &stored,
                );
            }
        }
        Ok(findings)
    }

    /// A finding for each lot the store holds a record of that no entry in the log names.
    fn unnamed_lots<S: Store>(&self, store: &S) -> Result<Vec<Finding>> {
        let mut findings = Vec::new();
        let mut after: Option<LotId> = None;
        loop {
            let page = store.lots(after.as_ref(), LOT_PAGE)?;
            for (lot, _) in &page {
                if !self.lot_events.contains_key(lot) {
                    findings.push(Finding::new(
                        Rule::IndexMismatch,
                        format!("the store holds lot {lot}, which no entry in the log names"),
                    ));
                }
            }
            match page.last() {
                Some((lot, _)) if page.len() == LOT_PAGE => after = Some(lot.clone()),
                _ => return Ok(findings),
            }
        }
    }
    /// Compares the entries naming each of `lots` and the attestations about it with the
    /// store's indexes of them.
    fn check_lots<S: Store>(
        &self,
        store: &S,
        lots: &[&LotId],
        about_lots: &BTreeMap<&LotId, Vec<u64>>,
        findings: &mut Vec<Finding>,
    ) -> Result<()> {
        let stored_events = store.lot_events_of(lots)?;
        let stored_attestations = store.lot_attestations_of(lots)?;
        for ((lot, stored), attested) in lots.iter().zip(stored_events).zip(stored_attestations) {
            let positions = self.lot_events.get(*lot).map_or(&[][..], Vec::as_slice);
            differ(
                findings,
                &format!("the entries that name lot {lot}"),
                positions,
                &stored,
            );
            let derived = about_lots.get(*lot).map_or(&[][..], Vec::as_slice);
            let stored: Vec<u64> = attested.iter().map(|a| a.seq).collect();
            differ(
                findings,
                &format!("the attestations about lot {lot}"),
                derived,
                &stored,
            );
        }
        Ok(())
    }
}

/// Reports `what` when the store's positions are not the log's: which are missing from the
/// store's index and which it lists though the log does not.
fn differ(findings: &mut Vec<Finding>, what: &str, log: &[u64], stored: &[u64]) {
    if log == stored {
        return;
    }
    let list = |positions: Vec<&u64>| {
        let shown: Vec<String> = positions.iter().take(8).map(|p| format!("#{p}")).collect();
        let more = positions.len().saturating_sub(8);
        if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    let (in_log, in_store): (HashSet<&u64>, HashSet<&u64>) =
        (log.iter().collect(), stored.iter().collect());
    let missing: Vec<&u64> = log.iter().filter(|p| !in_store.contains(p)).collect();
    let extra: Vec<&u64> = stored.iter().filter(|p| !in_log.contains(p)).collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("leaves out {}", list(missing)));
    }
    if !extra.is_empty() {
        parts.push(format!("lists {}, which the log does not", list(extra)));
    }
    if parts.is_empty() {
        parts.push("lists them out of log order".to_owned());
    }
    findings.push(Finding::new(
        Rule::IndexMismatch,
        format!(
            "the store's index of {what} {}: commands that read the index (verify --lot, \
             report, export-bundle) would see other evidence than the log holds",
            parts.join(" and ")
        ),
    ));
}
