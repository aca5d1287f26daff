//! Rule codes and findings: what verification reports and `append` refuses with.
//! `docs/verification.md` documents every code; the codes are stable.

use serde::{Deserialize, Serialize};

use crate::hash::Digest;
use crate::id::{LotId, PartyId};

/// Whether a finding fails the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look; does not fail the verdict.
    Warning,
    /// Fails the verdict; refused at append.
    Error,
}

macro_rules! rules {
    ($($variant:ident = $code:literal, $severity:ident, $doc:literal;)*) => {
        /// A verification rule.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Rule {
            $(#[doc = $doc] $variant,)*
        }

        impl Rule {
            /// Every rule, in code order.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)*];

            /// The stable code, such as `CUS-BAL-001`.
            pub fn code(self) -> &'static str {
                match self { $(Rule::$variant => $code,)* }
            }

            /// The default severity.
            pub fn severity(self) -> Severity {
                match self { $(Rule::$variant => Severity::$severity,)* }
            }

            /// One line on what the rule guards.
            pub fn summary(self) -> &'static str {
                match self { $(Rule::$variant => $doc,)* }
            }

            /// The rule with this code.
            pub fn from_code(code: &str) -> Option<Rule> {
                Rule::ALL.iter().copied().find(|r| r.code() == code)
            }
        }
    };
}

rules! {
    EntryMalformed = "CUS-INT-001", Error, "An entry or its statement does not decode, or breaks a structural limit.";
    SequenceGap = "CUS-INT-002", Error, "An entry's sequence number is not its position in the log.";
    ChainBroken = "CUS-INT-003", Error, "An entry's previous-entry hash is not the hash of the entry before it.";
    BadSignature = "CUS-INT-004", Error, "A statement's signature does not verify under its signer key over this ledger's origin: it was changed, forged, or signed for another ledger.";
    BrokenLink = "CUS-INT-005", Error, "A hash link does not point to an earlier creation or receipt of the lot by the actor.";
    Replay = "CUS-INT-006", Error, "A statement already in the log is appended again.";
    CheckpointMismatch = "CUS-INT-007", Error, "A checkpoint is not signed by the operator, not consistent with the log, or (a bundle) not confirmed with the operator's key.";
    IndexMismatch = "CUS-INT-008", Error, "The store's index of the entries naming a lot, the attestations about a party or lot, or the entries changing a party differs from the log.";
    UnknownSigner = "CUS-AUT-001", Error, "The signer key is not enrolled for the actor, or the actor is not enrolled.";
    RevokedKey = "CUS-AUT-002", Error, "The signer key was revoked at or before this log position.";
    RoleNotAllowed = "CUS-AUT-003", Error, "The actor's roles, at this log position, do not allow this kind of event (only operators enroll, amend, add and revoke keys).";
    BadEnrollment = "CUS-AUT-004", Error, "A change of a party is inconsistent: bad genesis, a party enrolled again, a key of another party, a key added without the party's request, an unknown key.";
    NotHeld = "CUS-CUS-001", Error, "The actor ships or transforms a lot it does not hold.";
    ReceiveMismatch = "CUS-CUS-002", Error, "A receive does not match a ship addressed to the receiver, or names a lot not shipped.";
    ReceivedTwice = "CUS-CUS-003", Error, "A shipment is received more than once.";
    OverReceived = "CUS-CUS-004", Error, "More of a lot is received than was shipped.";
    TransitLoss = "CUS-CUS-005", Warning, "Less arrived than was shipped, beyond the tolerance: material lost in transit.";
    DuplicateLot = "CUS-CUS-006", Error, "A lot is created a second time.";
    UnknownReceiver = "CUS-CUS-007", Error, "A shipment is addressed to a party that is not enrolled.";
    NegativeBalance = "CUS-BAL-001", Error, "A consuming event draws more from a receipt than it holds: double spending, over-shipping, or links that do not account for the quantity.";
    MassOverClaimed = "CUS-BAL-002", Error, "A transform's outputs contain more of an element than its inputs: untraced material laundered in.";
    UnitMismatch = "CUS-BAL-003", Error, "A quantity is not in the lot's unit: pieces are consumed whole, mass in grams.";
    BeforeLinked = "CUS-TIM-001", Error, "An event is earlier than an event it links to.";
    AfterRecorded = "CUS-TIM-002", Error, "An event is later than when it was recorded, plus the clock-skew allowance.";
    NoOrigin = "CUS-ORI-001", Error, "A provenance path does not end at an extract by a miner or a recycle by a recycler.";
    HighRiskCountry = "CUS-ORI-002", Warning, "A mine site is in a country on the high-risk list: enhanced due diligence.";
    ArtisanalSite = "CUS-ORI-003", Warning, "A mine site is artisanal and small-scale: enhanced due diligence.";
    MissingAttestation = "CUS-DD-001", Warning, "A party in the chain lacks a required, valid attestation, or a lot on the way failed one (error where the policy says so).";
    OpenCorrectiveAction = "CUS-DD-002", Warning, "A party in the chain or a lot on the way has an open major corrective action plan (error where the policy says so).";
    UnknownSubject = "CUS-DD-003", Error, "An attestation is about a party or lot the ledger does not know.";
    Unwitnessed = "CUS-WIT-001", Error, "The checkpoint lacks the cosignatures the witness policy requires: a fork or a private view of the log cannot be ruled out.";
    StaleCheckpoint = "CUS-WIT-002", Error, "The checkpoint's newest witness cosignature is older than the policy's maximum age (or dated in the future): the view may be stale.";
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Rule::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown rule code {code:?}")))
    }
}

/// One thing verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// Error or warning.
    pub severity: Severity,
    /// The event, when there is one.
    pub event: Option<Digest>,
    /// Its log position, when it has one.
    pub seq: Option<u64>,
    /// The party concerned.
    pub party: Option<PartyId>,
    /// The lot concerned.
    pub lot: Option<LotId>,
    /// A sentence a person understands.
    pub message: String,
}

impl Finding {
    /// A finding of `rule` at its default severity.
    pub fn new(rule: Rule, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            severity: rule.severity(),
            event: None,
            seq: None,
            party: None,
            lot: None,
            message: message.into(),
        }
    }

    /// Sets the event and position.
    pub fn at(mut self, event: Digest, seq: u64) -> Finding {
        self.event = Some(event);
        self.seq = Some(seq);
        self
    }

    /// Sets the party.
    pub fn party(mut self, party: &PartyId) -> Finding {
        self.party = Some(party.clone());
        self
    }

    /// Sets the lot.
    pub fn lot(mut self, lot: &LotId) -> Finding {
        self.lot = Some(lot.clone());
        self
    }

    /// Overrides the severity (policies escalate due-diligence gaps to errors).
    pub fn severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level} {}", self.rule.code())?;
        if let Some(seq) = self.seq {
            write!(f, " at #{seq}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No error findings.
    Pass,
    /// At least one error finding.
    Fail,
}

/// The verdict for a list of findings.
pub fn verdict(findings: &[Finding]) -> Verdict {
    if findings.iter().any(|f| f.severity == Severity::Error) {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}
