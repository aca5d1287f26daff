//! Evidence bundles: everything an auditor needs to verify one lot offline, in one file,
//! with no byte that is not covered by a hash or a signature.
//!
//! A bundle holds the lot's provenance DAG and every other entry the rules need to re-run
//! on it (the [`Selection`]), each as its canonical entry bytes with an RFC 6962 inclusion
//! proof, and one C2SP checkpoint signed by the operator that all the proofs lead to.
//! [`verify`] checks, in this order, and stops after the first group that fails (rules run
//! on entries that are not shown to be in the log would only add noise):
//!
//! 1. **integrity**: the checkpoint note opens under the operator's verifier key and carries
//!    no other signature line; every entry decodes, entries are in strictly increasing log
//!    order (no duplicates), the first is the genesis entry, and each entry's leaf hash is
//!    included at its own `seq` in the checkpoint's tree (CUS-INT-001, CUS-INT-007);
//! 2. **the rules**: the entries are replayed in log order by a sparse
//!    [`Replay`] (every rule of [`crate::rules`] and the signature
//!    check), the checkpoint's key must be an operator key valid at the checkpoint's size
//!    according to those entries, the bundle must hold exactly the entries the selection
//!    asks for and nothing else (this binds the lot id, the one field no hash covers, up to
//!    lots created by the same event, whose evidence is the same), and the lot's provenance
//!    is traced and the origin and due-diligence rules run on it.
//!
//! 3. **the operator key**: without the operator's verifier key from the auditor, the
//!    checkpoint is opened with the key of the bundle's own genesis entry so that every
//!    check above still runs, and the report then carries the error finding CUS-INT-007
//!    "operator key not confirmed": such a bundle never passes.
//!
//! What a bundle cannot show: that the log holds no *other* entry about these lots (a
//! double spend left out of the bundle). Only whole-ledger verification shows that.
//!
//! The byte layout is normative and documented in `docs/format.md` (§8).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::completeness::{self, Completeness};
use crate::event::{Body, Event, Role, Subject};
use crate::finding::{Finding, Rule};
use crate::hash::Digest;
use crate::id::{LotId, PartyId};
use crate::merkle::{leaf_hash, verify_inclusion};
use crate::note::{Checkpoint, NoteVerifier, open_checkpoint};
use crate::policy::Policy;
use crate::provenance::{self, AttestationSet, Lent, Trace, TraceError};
use crate::rules::RuleConfig;
use crate::state::StateError;
use crate::statement::{Entry, Origin, Statement};
use crate::subjects::subjects_of;
use crate::timestamp::Timestamp;
use crate::verify::{KeyCache, Prepared, Replay, prepare_batch};

/// The first bytes of every bundle file.
pub const MAGIC: &[u8; 15] = b"custody-bundle\0";

/// The bundle format version this build reads and writes.
pub const VERSION: u32 = 2;

/// The largest bundle file accepted, header included: 256 MiB.
pub const MAX_BUNDLE: usize = codec::MAX_LARGE_ENCODED;

/// The header: [`MAGIC`] and the `u32` little-endian [`VERSION`].
const HEADER_LEN: usize = MAGIC.len() + 4;

/// Why bytes are not a bundle this build can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The file is larger than [`MAX_BUNDLE`].
    #[error("bundle is {len} bytes, more than the limit of {MAX_BUNDLE}")]
    TooLarge {
        /// The size found.
        len: usize,
    },
    /// The file does not start with [`MAGIC`].
    #[error("not a custody evidence bundle (bad magic bytes)")]
    NotABundle,
    /// The file has another format version.
    #[error("bundle format version {found} is not supported; this build reads version {VERSION}")]
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// The body is truncated, has trailing bytes, or is not the canonical encoding.
    #[error("bundle is damaged: {0}")]
    Damaged(CodecError),
    /// The bundle could not be encoded.
    #[error("cannot encode bundle: {0}")]
    Encode(CodecError),
}

/// One entry of a bundle with its inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleEntry {
    /// The canonical entry bytes; its `seq` is the leaf index of the proof.
    pub entry: Vec<u8>,
    /// The RFC 9162 audit path of the entry's leaf hash in the checkpoint's tree.
    pub proof: Vec<Digest>,
}

/// An evidence bundle (the body after the header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// The lot the bundle is evidence for.
    pub lot: LotId,
    /// The signed checkpoint note (C2SP signed-note text) all proofs lead to.
    pub checkpoint: String,
    /// The entries, in strictly increasing log order.
    pub entries: Vec<BundleEntry>,
    /// The proof that `entries` hold every entry about the parties and lots they concern.
    pub completeness: Completeness,
}

impl Bundle {
    /// The bundle file's bytes: header, then the canonical body.
    pub fn encode(&self) -> Result<Vec<u8>, BundleError> {
        let body = codec::encode_large(self).map_err(BundleError::Encode)?;
        let len = HEADER_LEN + body.len();
        if len > MAX_BUNDLE {
            return Err(BundleError::TooLarge { len });
        }
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Reads a bundle file: header, version, then exactly one canonical body with no
    /// trailing bytes. Nothing is verified yet: see [`verify`].
    pub fn decode(bytes: &[u8]) -> Result<Bundle, BundleError> {
        if bytes.len() > MAX_BUNDLE {
            return Err(BundleError::TooLarge { len: bytes.len() });
        }
        let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
            return Err(BundleError::NotABundle);
        };
        let (Some(version), Some(body)) = (rest.get(..4), rest.get(4..)) else {
            return Err(BundleError::NotABundle);
        };
        let mut le = [0u8; 4];
        le.copy_from_slice(version);
        let found = u32::from_le_bytes(le);
        if found != VERSION {
            return Err(BundleError::UnsupportedVersion { found });
        }
        codec::decode_large(body).map_err(BundleError::Damaged)
    }
}

/// Which entries a bundle for a lot holds, decided the same way by the exporter (over the
/// whole log) and by the verifier (over the bundle, to refuse anything extra):
///
/// - the genesis entry (position 0) and every event of the lot's provenance DAG;
/// - every entry that names a lot named by a DAG event (creates, ships, receives,
///   transforms or attests about it), and every `receive` of a selected `ship`, so custody
///   balances and links of those lots can be re-checked;
/// - every attestation about a party that acted in the DAG (due diligence);
/// - every `enroll` and `revoke` of every party that signed a selected entry, receives a
///   selected shipment, is the subject of a selected attestation, or is named by the
///   caller (the checkpoint's signer), and so on for the operators who signed those.
///
/// Offer every entry (below the checkpoint's size) in log order, then [`Self::finish`].
#[derive(Debug, Clone)]
pub struct Selection {
    dag: HashSet<Digest>,
    lots: HashSet<LotId>,
    chain: HashSet<PartyId>,
    ships: HashSet<Digest>,
    needed: HashSet<PartyId>,
    party_entries: Vec<(u64, PartyId, PartyId)>,
    selected: BTreeSet<u64>,
}

impl Selection {
    /// A selection for the traced lot.
    pub fn new(trace: &Trace) -> Selection {
        let mut lots: HashSet<LotId> = HashSet::from([trace.lot.clone()]);
        for e in trace.events.values() {
            lots.extend(e.statement.event.lots_named().into_iter().cloned());
        }
        Selection {
            dag: trace.events.keys().copied().collect(),
            lots,
            chain: trace.parties().into_iter().collect(),
            ships: HashSet::new(),
            needed: HashSet::new(),
            party_entries: Vec::new(),
            selected: BTreeSet::new(),
        }
    }

    /// Considers the entry at `seq` holding event `id`. Entries must come in log order.
    pub fn offer(&mut self, seq: u64, id: Digest, event: &Event) {
        // The entries about a party (its changes, attestations about it): a needed party's
        // are all selected, so their completeness can be proved.
        for subject in subjects_of(event) {
            if let crate::subjects::Subject::Party(party) = subject {
                self.party_entries.push((seq, party, event.actor.clone()));
            }
        }
        let wanted = seq == 0
            || self.dag.contains(&id)
            || event
                .lots_named()
                .into_iter()
                .any(|l| self.lots.contains(l))
            || matches!(&event.body, Body::Receive(r) if self.ships.contains(&r.shipment))
            || matches!(&event.body, Body::Attest(a)
                if matches!(&a.subject, Subject::Party(p) if self.chain.contains(p)));
        if !wanted {
            return;
        }
        self.selected.insert(seq);
        self.needed.insert(event.actor.clone());
        match &event.body {
            Body::Ship(s) => {
                self.ships.insert(id);
                self.needed.insert(s.to.clone());
            }
            Body::Attest(a) => {
                if let Subject::Party(p) = &a.subject {
                    self.needed.insert(p.clone());
                }
            }
            _ => {}
        }
    }

    /// Also selects the enrollments and revocations of `party` (the party whose key signs
    /// the checkpoint).
    pub fn need(&mut self, party: PartyId) {
        self.needed.insert(party);
    }

    /// The positions of the selected entries, adding the enrollments and revocations of
    /// every needed party until no new party is needed.
    pub fn finish(mut self) -> BTreeSet<u64> {
        loop {
            let mut grew = false;
            for (seq, party, actor) in &self.party_entries {
                if self.needed.contains(party) && self.selected.insert(*seq) {
                    grew |= self.needed.insert(actor.clone());
                }
            }
            if !grew {
                return self.selected;
            }
        }
    }
}

/// The lots a bundle's completeness covers: the product and every lot a DAG event names.
pub fn trace_lots(trace: &Trace) -> BTreeSet<LotId> {
    let mut lots = BTreeSet::from([trace.lot.clone()]);
    for e in trace.events.values() {
        lots.extend(e.statement.event.lots_named().into_iter().cloned());
    }
    lots
}

/// Where the checkpoint's verifier key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    /// Given by the auditor (`--vkey`).
    Given,
    /// The key that signed the bundle's genesis entry: the auditor must compare it with
    /// the operator's published verifier key.
    Genesis,
}

/// What offline verification of a bundle found.
#[derive(Debug, Clone)]
pub struct BundleReport {
    /// The lot the bundle is for.
    pub lot: LotId,
    /// Every finding: integrity, the per-event rules for the lot's DAG, provenance.
    pub findings: Vec<Finding>,
    /// The number of entries in the bundle.
    pub entries: u64,
    /// The verifier key the checkpoint was opened with, if one could be made.
    pub verifier: Option<NoteVerifier>,
    /// Where that key came from.
    pub key_source: KeySource,
    /// The checkpoint, once its signature verified.
    pub checkpoint: Option<Checkpoint>,
    /// The provenance trace, once the integrity checks passed and the lot was found.
    pub trace: Option<Trace>,
    /// Whether the file itself is sound: checkpoint, proofs, order, the checkpoint key's
    /// authority and the exact selection of entries. When false, the findings are about
    /// the file rather than the lot.
    pub sound: bool,
}

/// An entry of the bundle that decoded.
struct Decoded<'a> {
    seq: u64,
    id: Digest,
    bytes: &'a [u8],
    entry: Entry,
    proof: &'a [Digest],
}

fn integrity(message: String) -> Finding {
    Finding::new(Rule::EntryMalformed, message)
}

fn checkpoint_finding(message: String) -> Finding {
    Finding::new(Rule::CheckpointMismatch, message)
}

/// Decodes the bundle file `bytes` and [`verify`]s it: the function `custody verify
/// --bundle` runs. A file that is not a readable bundle is an error; a bundle that reads
/// but does not verify is a report with error findings.
pub fn verify_bytes(
    bytes: &[u8],
    vkey: Option<&NoteVerifier>,
    policy: &Policy,
    as_of: Timestamp,
) -> Result<BundleReport, BundleError> {
    Ok(verify(&Bundle::decode(bytes)?, vkey, policy, as_of))
}

/// Verifies a bundle offline (see the module documentation). `vkey` is the operator's
/// published verifier key; without it, the key that signed the genesis entry is used under
/// the checkpoint's origin so that every other check still runs, and the report carries an
/// error finding (CUS-INT-007, "operator key not confirmed"): a bundle checked only against
/// itself never passes.
pub fn verify(
    bundle: &Bundle,
    vkey: Option<&NoteVerifier>,
    policy: &Policy,
    as_of: Timestamp,
) -> BundleReport {
    let mut report = BundleReport {
        lot: bundle.lot.clone(),
        findings: Vec::new(),
        entries: bundle.entries.len() as u64,
        verifier: vkey.cloned(),
        key_source: if vkey.is_some() {
            KeySource::Given
        } else {
            KeySource::Genesis
        },
        checkpoint: None,
        trace: None,
        sound: false,
    };

    // Entries: decode, strict log order.
    let mut decoded: Vec<Decoded<'_>> = Vec::with_capacity(bundle.entries.len());
    for (i, item) in bundle.entries.iter().enumerate() {
        let entry = match Entry::decode(&item.entry) {
            Ok(entry) => entry,
            Err(e) => {
                report.findings.push(integrity(format!(
                    "bundle entry {} does not decode: {e}",
                    i + 1
                )));
                continue;
            }
        };
        let id = match entry.statement.id() {
            Ok(id) => id,
            Err(e) => {
                report
                    .findings
                    .push(integrity(format!("bundle entry {}: {e}", i + 1)));
                continue;
            }
        };
        if let Some(last) = decoded.last()
            && entry.seq <= last.seq
        {
            report.findings.push(integrity(format!(
                "bundle entry {} is #{} after #{}: entries must be in strictly increasing \
                     log order, each once",
                i + 1,
                entry.seq,
                last.seq
            )));
            continue;
        }
        decoded.push(Decoded {
            seq: entry.seq,
            id,
            bytes: &item.entry,
            entry,
            proof: &item.proof,
        });
    }
    let genesis = decoded.first().filter(|d| d.seq == 0);
    if genesis.is_none() {
        report.findings.push(integrity(
            "the bundle does not start with the genesis entry #0".into(),
        ));
    }

    // The checkpoint and its key.
    if report.verifier.is_none() {
        let origin = bundle.checkpoint.split('\n').next().unwrap_or_default();
        match genesis {
            Some(g) => match g
                .entry
                .statement
                .signer
                .parse()
                .map_err(|e| e.to_string())
                .and_then(|key| {
                    NoteVerifier::new(origin, *key.verifying_key()).map_err(|e| e.to_string())
                }) {
                Ok(v) => report.verifier = Some(v),
                Err(e) => report.findings.push(checkpoint_finding(format!(
                    "cannot make a verifier key from the checkpoint's origin and the genesis \
                     key: {e}"
                ))),
            },
            None => report.findings.push(checkpoint_finding(
                "no verifier key: the bundle has no genesis entry to take the operator key \
                 from; give the operator's verifier key"
                    .into(),
            )),
        }
    }
    if let Some(verifier) = &report.verifier {
        // Other signature lines are witnesses' cosignatures: an auditor's witness policy
        // checks them (`witnesses`); without one they are not read.
        match open_checkpoint(bundle.checkpoint.as_bytes(), verifier, &[], verifier.name()) {
            Ok(opened) => report.checkpoint = Some(opened.checkpoint),
            Err(e) => report.findings.push(checkpoint_finding(format!(
                "the checkpoint does not verify under {}: {e}",
                verifier.vkey()
            ))),
        }
    }

    // Inclusion of every entry in the signed tree.
    if let Some(checkpoint) = &report.checkpoint {
        for d in &decoded {
            let leaf = leaf_hash(d.bytes);
            if let Err(e) =
                verify_inclusion(d.seq, checkpoint.size(), &leaf, d.proof, checkpoint.root())
            {
                report.findings.push(
                    checkpoint_finding(format!(
                        "entry #{} is not shown to be in the log of the signed checkpoint \
                         (size {}): {e}",
                        d.seq,
                        checkpoint.size()
                    ))
                    .at(d.id, d.seq),
                );
            }
        }
    }
    let Some(checkpoint) = report.checkpoint.clone() else {
        return report;
    };
    if !report.findings.is_empty() {
        return report;
    }
    report.sound = true;

    // The rules, over the bundle's entries in log order. Statement signatures cover the
    // ledger's origin: the one of the checkpoint that just verified.
    let origin = match Origin::new(checkpoint.origin()) {
        Ok(origin) => origin,
        Err(e) => {
            report.sound = false;
            report.findings.push(checkpoint_finding(format!(
                "the checkpoint's origin cannot be a ledger's: {e}"
            )));
            return report;
        }
    };
    let keys = KeyCache::default();
    let entries: Vec<(u64, &[u8])> = decoded.iter().map(|d| (d.seq, d.bytes)).collect();
    let prepared: Vec<(u64, Prepared)> = prepare_batch(&entries, &origin, &keys);
    let mut signer_party = None;
    let mut before_selection = |replay: &Replay| {
        signer_party = check_checkpoint_signer(&mut report, replay, &checkpoint);
        signer_party.clone()
    };
    let evidence = check_evidence(
        &bundle.lot,
        &prepared,
        policy,
        as_of,
        Some(&mut before_selection),
    );
    match evidence {
        Ok(evidence) => {
            let lots = trace_lots(&evidence.trace);
            let required = completeness::required(
                decoded.iter().map(|d| &d.entry.statement.event),
                lots.iter(),
            );
            let missing = completeness::check(
                &bundle.completeness,
                &checkpoint,
                decoded
                    .iter()
                    .map(|d| (d.seq, &d.id, &d.entry.statement.event)),
                &required,
            );
            if !missing.is_empty() {
                report.sound = false;
                report.findings.extend(missing);
            }
            for (seq, id) in &evidence.extra {
                report.sound = false;
                report.findings.push(
                    integrity(format!(
                        "entry #{seq} is not part of the evidence for lot {}: a bundle holds \
                         exactly the entries its lot needs",
                        bundle.lot
                    ))
                    .at(*id, *seq),
                );
            }
            report.findings.extend(evidence.findings);
            report.trace = Some(evidence.trace);
        }
        Err(message) => {
            report.sound = false;
            report.findings.push(integrity(message));
        }
    }
    if report.key_source == KeySource::Genesis {
        report.findings.push(operator_key_not_confirmed(&report));
    }
    report
}

/// The finding that fails a bundle verified without the operator's verifier key: the
/// checkpoint verified under the key of the bundle's own genesis entry, which whoever made
/// the bundle chose. Everything else may check out, but nothing ties the file to the
/// operator's ledger, so the verdict must not be a pass.
fn operator_key_not_confirmed(report: &BundleReport) -> Finding {
    let key = report
        .verifier
        .as_ref()
        .map_or_else(|| "no key".to_owned(), NoteVerifier::vkey);
    checkpoint_finding(format!(
        "operator key not confirmed: the checkpoint verifies only under the key of the \
         bundle's own genesis entry ({key}), which whoever made the file chose; verify again \
         with --vkey and the operator's published verifier key"
    ))
}

/// What the rules say about a lot's evidence (see [`check_evidence`]).
pub struct Evidence {
    /// Rule findings about the entries the verdict relies on, then origin and
    /// due-diligence findings.
    pub findings: Vec<Finding>,
    /// The lot's provenance, traced over the evidence alone.
    pub trace: Trace,
    /// Entries given that are not part of the lot's evidence ([`Selection`]); empty when
    /// no selection was asked for.
    pub extra: Vec<(u64, Digest)>,
    /// The attestations due diligence read: those of the evidence without an error
    /// finding. A report shows these, not what an index lists.
    pub attestations: AttestationSet,
}

/// What [`check_evidence`] calls before it matches the entries against the [`Selection`]:
/// it sees the replay and may name one more party whose enrollments belong.
pub type BeforeSelection<'a> = &'a mut dyn FnMut(&Replay) -> Option<PartyId>;

/// Runs every rule that applies to `lot` over `entries`, given in strictly increasing log
/// order with the genesis entry first: a sparse replay of the per-event rules, the trace
/// over the replayed state, the rule findings that concern the DAG (its events and lots),
/// then origins and due diligence. With `before_selection`, the entries are matched against
/// the [`Selection`] (a bundle must hold exactly those): it sees the replay first and may
/// name one more party whose enrollments belong (a checkpoint's signer). Without it, as for
/// `verify --lot` on a ledger, where evidence beyond the selection is harmless, no
/// selection is made. Shared by offline bundles and `verify --lot`.
pub fn check_evidence(
    lot: &LotId,
    entries: &[(u64, Prepared)],
    policy: &Policy,
    as_of: Timestamp,
    before_selection: Option<BeforeSelection<'_>>,
) -> Result<Evidence, String> {
    let mut findings = Vec::new();
    let mut replay = Replay::sparse(RuleConfig::default());
    for (seq, p) in entries {
        if let Err(e) = replay.push_prepared(*seq, p) {
            findings.push(integrity(format!("entry #{seq}: {e}")));
        }
    }
    // `Some(party)` when a selection is asked for.
    let extra_party = before_selection.map(|before| before(&replay));
    let decoded: Vec<(u64, &Statement, Digest)> = entries
        .iter()
        .filter_map(|(seq, p)| {
            p.decoded
                .as_ref()
                .ok()
                .map(|e| (*seq, e.statement.statement(), e.statement.id()))
        })
        .collect();
    // The evidence's statements by event id, lent to the walk.
    let events: HashMap<Digest, (u64, &Statement)> = decoded
        .iter()
        .map(|(seq, statement, id)| (*id, (*seq, *statement)))
        .collect();
    let lend = |id: &Digest| -> Result<Lent<'_>, StateError> {
        Ok(events
            .get(id)
            .map(|(seq, statement)| (*seq, Cow::Borrowed(*statement))))
    };
    let trace = match provenance::trace_lent(lot, replay.state(), &lend) {
        Ok(trace) => trace,
        Err(TraceError::UnknownLot(lot)) => {
            return Err(format!(
                "the evidence is for lot {lot}, but none of its entries creates that lot"
            ));
        }
        Err(e) => return Err(format!("cannot trace lot {lot}: {e}")),
    };

    // Exactly the selected entries, nothing else.
    let mut extra = Vec::new();
    if let Some(extra_party) = extra_party {
        let mut selection = Selection::new(&trace);
        if let Some(party) = extra_party {
            selection.need(party);
        }
        for (seq, statement, id) in &decoded {
            selection.offer(*seq, *id, &statement.event);
        }
        let selected = selection.finish();
        extra = decoded
            .iter()
            .filter(|(seq, _, _)| !selected.contains(seq))
            .map(|(seq, _, id)| (*seq, *id))
            .collect();
    }

    // Which rule findings count. Every entry the verdict relies on must pass every check:
    // the genesis, the DAG's events, every entry that changes a party (enrollments, keys,
    // roles: the authority of every signer) and every attestation (due diligence), whatever the finding. A finding
    // about the entry itself (it does not decode, its signature or its signer's authority
    // fails) counts at any entry of the evidence: a failure anywhere in the evidence fails
    // the verdict. The other entries only give balances of the DAG's lots their context:
    // their findings count when they concern one of those lots (a sparse replay lacks what
    // such an entry links to elsewhere, so its other findings would be noise).
    let lots: HashSet<&LotId> = trace.edges.iter().map(|e| &e.lot).chain([lot]).collect();
    let relied: HashSet<Digest> = decoded
        .iter()
        .filter(|(seq, statement, id)| {
            *seq == 0
                || trace.events.contains_key(id)
                || matches!(statement.event.body, Body::Attest(_))
                || statement
                    .event
                    .body
                    .party_changed(&statement.event.actor)
                    .is_some()
        })
        .map(|(_, _, id)| *id)
        .collect();
    let kept: Vec<Finding> = replay
        .findings
        .iter()
        .filter(|f| match (&f.event, &f.lot) {
            (None, _) => true,
            (Some(id), found) => {
                relied.contains(id)
                    || about_the_entry_itself(f.rule)
                    || found.as_ref().is_some_and(|l| lots.contains(l))
            }
        })
        .cloned()
        .collect();
    // An attestation with an error finding (a bad signature, an auditor without the role or
    // with a revoked key, an unknown subject) counts for nothing, in the verdict and in
    // the report.
    let failed: HashSet<Digest> = kept
        .iter()
        .filter(|f| f.severity == crate::finding::Severity::Error)
        .filter_map(|f| f.event)
        .collect();
    findings.extend(kept);
    let attestations = AttestationSet::new(
        replay
            .attestations()
            .iter()
            .filter(|a| !failed.contains(&a.event))
            .cloned(),
    );
    match provenance::provenance_findings(&trace, replay.state(), &attestations, policy, as_of) {
        Ok(found) => findings.extend(found),
        Err(e) => findings.push(integrity(format!("cannot check provenance: {e}"))),
    }
    Ok(Evidence {
        findings,
        trace,
        extra,
        attestations,
    })
}

/// Whether `rule` is about an entry itself, whatever else is in the log: its bytes, its
/// position, its signature, its signer's authority, its recording time. These need no
/// other entry than the signer's enrollments, which every evidence holds, so they count at
/// every entry of the evidence.
fn about_the_entry_itself(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::EntryMalformed
            | Rule::SequenceGap
            | Rule::BadSignature
            | Rule::UnknownSigner
            | Rule::RevokedKey
            | Rule::RoleNotAllowed
            | Rule::BadEnrollment
            | Rule::AfterRecorded
    )
}

/// Checks that the checkpoint's key is an operator key, not revoked, according to the
/// bundle's own enrollments (all of which precede the checkpoint). Returns its party.
fn check_checkpoint_signer(
    report: &mut BundleReport,
    replay: &Replay,
    checkpoint: &Checkpoint,
) -> Option<PartyId> {
    let verifier = report.verifier.as_ref()?;
    let key = crate::keys::PublicKey::from_bytes(verifier.verifying_key().as_bytes()).ok()?;
    let state = replay.state();
    let owner = state.key_owner(&key).ok().flatten();
    let valid = owner.as_ref().is_some_and(|party| {
        crate::rules::authority(
            state,
            party,
            &key.into(),
            checkpoint.size(),
            &[Role::Operator],
            "sign checkpoints",
        )
        .is_ok_and(|found| found.is_empty())
    });
    if !valid {
        report.sound = false;
        report.findings.push(checkpoint_finding(format!(
            "the checkpoint for size {} is signed by {}, which the bundle's entries do not show \
             as an operator key valid at that size",
            checkpoint.size(),
            verifier.vkey()
        )));
    }
    owner
}
