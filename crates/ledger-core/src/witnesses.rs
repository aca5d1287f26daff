//! What an auditor requires of a checkpoint's witnesses before trusting it: enough valid
//! `cosignature/v1` lines from witnesses they chose, the newest one recent enough.
//!
//! A checkpoint signed by the operator alone proves nothing about forks or rollbacks: the
//! operator can sign two different trees of the same origin, or hand out an old copy. A
//! witness cosigns a checkpoint only after checking it is consistent with every earlier one
//! it saw for that log (c2sp.org/tlog-witness), and dates its cosignature. So a checkpoint
//! cosigned by a quorum of independent witnesses is the one tree they all saw, and a recent
//! cosignature means the view is not stale.
//!
//! The quorum follows c2sp.org/tlog-policy: a witness, or a group that needs `k` of its
//! members (witnesses or earlier groups), or `none`. A policy is built from the command line
//! (`--witness VKEY ... --witness-quorum K`, one group of all given witnesses) or read from
//! a tlog-policy file ([`WitnessPolicy::parse`]). The maximum age is not part of the
//! tlog-policy format and is given separately.

use std::collections::HashSet;

use crate::finding::{Finding, Rule};
use crate::note::{KeyKind, NoteError, NoteVerifier, open_checkpoint};
use crate::timestamp::Timestamp;

/// The largest tlog-policy file read, in bytes.
pub const MAX_POLICY_SIZE: usize = 64 * 1024;

/// The most witnesses, groups or logs one policy may define (the spec recommends
/// supporting at least 32 of each).
pub const MAX_POLICY_ITEMS: usize = 256;

/// How far in the future a cosignature may be dated, for clocks that differ.
pub const COSIGNATURE_CLOCK_SKEW_S: u64 = 600;

/// Why a witness policy could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessPolicyError {
    /// A line of a tlog-policy file (1-based) is wrong.
    #[error("line {line}: {reason}")]
    Line {
        /// The line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The policy as a whole is wrong.
    #[error("{0}")]
    Invalid(String),
}

/// Who must have cosigned: a witness, `k` of a group's members, or nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Quorum {
    /// No cosignature is needed (`quorum none`).
    None,
    /// The witness at this index of [`WitnessPolicy::witnesses`].
    Witness(usize),
    /// At least `k` of the members.
    Group { k: usize, members: Vec<Quorum> },
}

impl Quorum {
    fn is_met(&self, cosigned: &[bool]) -> bool {
        match self {
            Quorum::None => true,
            Quorum::Witness(i) => cosigned.get(*i).copied().unwrap_or(false),
            Quorum::Group { k, members } => {
                members.iter().filter(|m| m.is_met(cosigned)).count() >= *k
            }
        }
    }

    fn describe(&self, witnesses: &[NoteVerifier]) -> String {
        match self {
            Quorum::None => "no cosignature".into(),
            Quorum::Witness(i) => witnesses
                .get(*i)
                .map_or_else(|| "?".into(), |w| w.name().to_owned()),
            Quorum::Group { k, members } => {
                let names: Vec<String> = members.iter().map(|m| m.describe(witnesses)).collect();
                format!("{k} of ({})", names.join(", "))
            }
        }
    }
}

/// The witnesses an auditor trusts, the quorum of them a checkpoint needs, and how old
/// the newest cosignature may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessPolicy {
    witnesses: Vec<NoteVerifier>,
    quorum: Quorum,
    logs: Vec<NoteVerifier>,
    max_age_s: Option<u64>,
}

/// What checking a checkpoint against a witness policy found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Witnessing {
    /// The policy's witnesses whose cosignatures verified, with their times (POSIX
    /// seconds), in policy order.
    pub cosigned: Vec<(String, u64)>,
    /// CUS-WIT-001 and CUS-WIT-002 findings; empty when the policy is met.
    pub findings: Vec<Finding>,
}

impl WitnessPolicy {
    /// `quorum` of the `witnesses` (cosignature keys, `KeyKind::Cosignature`), the newest
    /// cosignature at most `max_age_s` old when given.
    pub fn new(
        witnesses: Vec<NoteVerifier>,
        quorum: usize,
        max_age_s: Option<u64>,
    ) -> Result<WitnessPolicy, WitnessPolicyError> {
        let invalid = |m: String| Err(WitnessPolicyError::Invalid(m));
        if witnesses.is_empty() {
            return invalid("a witness policy needs at least one witness key".into());
        }
        if quorum == 0 || quorum > witnesses.len() {
            return invalid(format!(
                "the witness quorum must be between 1 and the {} witness keys given, not {quorum}",
                witnesses.len()
            ));
        }
        check_witnesses(&witnesses).map_err(WitnessPolicyError::Invalid)?;
        let members = (0..witnesses.len()).map(Quorum::Witness).collect();
        Ok(WitnessPolicy {
            witnesses,
            quorum: Quorum::Group { k: quorum, members },
            logs: Vec::new(),
            max_age_s,
        })
    }

    /// Reads a c2sp.org/tlog-policy file: `log <vkey> [url]`, `witness <name> <vkey>
    /// [url]`, `group <name> <k|any|all> <member>...` and one `quorum <name|none>`; blank
    /// and `#` lines are ignored. `max_age_s` is added to it.
    pub fn parse(text: &[u8], max_age_s: Option<u64>) -> Result<WitnessPolicy, WitnessPolicyError> {
        if text.len() > MAX_POLICY_SIZE {
            return Err(WitnessPolicyError::Invalid(format!(
                "the policy file is {} bytes, more than the maximum of {MAX_POLICY_SIZE}",
                text.len()
            )));
        }
        let mut witnesses: Vec<NoteVerifier> = Vec::new();
        let mut logs: Vec<NoteVerifier> = Vec::new();
        // Names of witnesses and groups, one namespace, with what they stand for.
        let mut names: Vec<(String, Quorum)> = Vec::new();
        let mut used_as_member: HashSet<String> = HashSet::new();
        let mut quorum = None;
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = i + 1;
            let err = |reason: String| WitnessPolicyError::Line { line, reason };
            if let Some(&b) = raw.iter().find(|&&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Err(err(format!("control character {b:#04x}")));
            }
            let raw = std::str::from_utf8(raw)
                .map_err(|_| err("names and keys must be utf-8 in this implementation".into()))?;
            let words: Vec<&str> = raw.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
            let Some((&keyword, args)) = words.split_first() else {
                continue;
            };
            if keyword.starts_with('#') {
                continue;
            }
            if witnesses.len() + logs.len() + names.len() > MAX_POLICY_ITEMS {
                return Err(err(format!("more than {MAX_POLICY_ITEMS} definitions")));
            }
            match (keyword, args) {
                ("log", [vkey] | [vkey, _]) => {
                    let key = vkey_of(vkey, KeyKind::Ed25519).map_err(err)?;
                    if logs.iter().any(|l| l.public_key() == key.public_key()) {
                        return Err(err("this log key is listed twice".into()));
                    }
                    logs.push(key);
                }
                ("witness", [name, vkey] | [name, vkey, _]) => {
                    if names.iter().any(|(n, _)| n == name) || *name == "none" {
                        return Err(err(format!("the name {name} is already defined")));
                    }
                    let key = vkey_of(vkey, KeyKind::Cosignature).map_err(err)?;
                    if witnesses.iter().any(|w| w.public_key() == key.public_key()) {
                        return Err(err("this witness key is listed twice".into()));
                    }
                    names.push(((*name).to_owned(), Quorum::Witness(witnesses.len())));
                    witnesses.push(key);
                }
                ("group", [name, threshold, members @ ..]) if !members.is_empty() => {
                    if names.iter().any(|(n, _)| n == name) || *name == "none" {
                        return Err(err(format!("the name {name} is already defined")));
                    }
                    let mut parts = Vec::with_capacity(members.len());
                    for member in members {
                        let Some((_, q)) = names.iter().find(|(n, _)| n == member) else {
                            return Err(err(format!(
                                "{member} is not a witness or group defined above"
                            )));
                        };
                        if !used_as_member.insert((*member).to_owned()) {
                            return Err(err(format!("{member} is a member of a group already")));
                        }
                        parts.push(q.clone());
                    }
                    let k = match *threshold {
                        "any" => 1,
                        "all" => parts.len(),
                        n => decimal(n)
                            .filter(|k| (1..=parts.len()).contains(k))
                            .ok_or_else(|| {
                                err(format!(
                                    "the threshold must be any, all or 1 to {}, not {n}",
                                    parts.len()
                                ))
                            })?,
                    };
                    names.push(((*name).to_owned(), Quorum::Group { k, members: parts }));
                }
                ("quorum", [name]) => {
                    if quorum.is_some() {
                        return Err(err("a policy has exactly one quorum line".into()));
                    }
                    quorum = Some(if *name == "none" {
                        Quorum::None
                    } else {
                        names
                            .iter()
                            .find(|(n, _)| n == name)
                            .map(|(_, q)| q.clone())
                            .ok_or_else(|| {
                                err(format!("{name} is not a witness or group defined above"))
                            })?
                    });
                }
                ("log" | "witness" | "group" | "quorum", _) => {
                    return Err(err(format!("wrong number of items on a {keyword} line")));
                }
                (other, _) => {
                    return Err(err(format!(
                        "unknown keyword {other}: expected log, witness, group or quorum"
                    )));
                }
            }
        }
        let quorum = quorum
            .ok_or_else(|| WitnessPolicyError::Invalid("the policy has no quorum line".into()))?;
        Ok(WitnessPolicy {
            witnesses,
            quorum,
            logs,
            max_age_s,
        })
    }

    /// The witnesses' cosignature keys.
    pub fn witnesses(&self) -> &[NoteVerifier] {
        &self.witnesses
    }

    /// The quorum in words, e.g. `2 of (w1, w2, w3)`.
    pub fn describe(&self) -> String {
        let mut text = self.quorum.describe(&self.witnesses);
        if let Some(age) = self.max_age_s {
            text.push_str(&format!(", newest cosignature at most {age} s old"));
        }
        text
    }

    /// Checks the checkpoint `note` of the log `log` against the policy at time `now`.
    /// The note must already have been opened with `log` (its signature is not what this
    /// checks); a note that does not open gives a CUS-WIT-001 finding.
    pub fn check(&self, note: &str, log: &NoteVerifier, now: Timestamp) -> Witnessing {
        let mut found = Witnessing::default();
        if !self.logs.is_empty() && !self.logs.iter().any(|l| l == log) {
            found.findings.push(Finding::new(
                Rule::Unwitnessed,
                format!(
                    "the witness policy does not list the log key {}: its logs are {}",
                    log.vkey(),
                    self.logs
                        .iter()
                        .map(NoteVerifier::vkey)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
            return found;
        }
        let opened = match open_checkpoint(note.as_bytes(), log, &self.witnesses, log.name()) {
            Ok(opened) => opened,
            Err(e) => {
                found.findings.push(Finding::new(
                    Rule::Unwitnessed,
                    format!(
                        "the checkpoint's cosignatures cannot be checked: {}",
                        reason(&e)
                    ),
                ));
                return found;
            }
        };
        let times: Vec<Option<u64>> = self
            .witnesses
            .iter()
            .map(|w| opened.note.cosigned_at(w))
            .collect();
        for (w, time) in self.witnesses.iter().zip(&times) {
            if let Some(t) = time {
                found.cosigned.push((w.name().to_owned(), *t));
            }
        }
        let cosigned: Vec<bool> = times.iter().map(Option::is_some).collect();
        if !self.quorum.is_met(&cosigned) {
            let by = if found.cosigned.is_empty() {
                "none of the policy's witnesses".to_owned()
            } else {
                found
                    .cosigned
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            found.findings.push(Finding::new(
                Rule::Unwitnessed,
                format!(
                    "the checkpoint is cosigned by {by}; the policy needs {}",
                    self.quorum.describe(&self.witnesses)
                ),
            ));
        }
        let now_s = u64::try_from(now.unix()).unwrap_or(0);
        if let Some(newest) = found.cosigned.iter().map(|&(_, t)| t).max() {
            if newest > now_s.saturating_add(COSIGNATURE_CLOCK_SKEW_S) {
                found.findings.push(Finding::new(
                    Rule::StaleCheckpoint,
                    format!(
                        "the newest cosignature is dated {}, after now ({}) plus the \
                         {COSIGNATURE_CLOCK_SKEW_S} s clock-skew allowance",
                        show_time(newest),
                        show_time(now_s)
                    ),
                ));
            } else if let Some(max) = self.max_age_s {
                let age = now_s.saturating_sub(newest);
                if age > max {
                    found.findings.push(Finding::new(
                        Rule::StaleCheckpoint,
                        format!(
                            "the newest cosignature is from {} ({age} s ago), older than the \
                             maximum age of {max} s: the checkpoint may hide what the log \
                             recorded since",
                            show_time(newest)
                        ),
                    ));
                }
            }
        }
        found
    }
}

/// A vkey of `kind`, or why not.
fn vkey_of(text: &str, kind: KeyKind) -> Result<NoteVerifier, String> {
    let key =
        NoteVerifier::from_vkey(text).map_err(|e| format!("bad vkey {text}: {}", reason(&e)))?;
    if key.kind() != kind {
        return Err(match kind {
            KeyKind::Ed25519 => format!("{text} is a witness key, not a log key (type 0x01)"),
            KeyKind::Cosignature => {
                format!("{text} is a log key, not a witness cosignature key (type 0x04)")
            }
        });
    }
    Ok(key)
}

/// Witness keys must be cosignature keys and distinct.
fn check_witnesses(witnesses: &[NoteVerifier]) -> Result<(), String> {
    for (i, w) in witnesses.iter().enumerate() {
        if w.kind() != KeyKind::Cosignature {
            return Err(format!(
                "{} is a log key, not a witness cosignature key (type 0x04)",
                w.vkey()
            ));
        }
        if witnesses
            .get(..i)
            .unwrap_or_default()
            .iter()
            .any(|e| e.public_key() == w.public_key())
        {
            return Err(format!("the witness key {} is given twice", w.vkey()));
        }
    }
    Ok(())
}

/// A decimal without sign or leading zeros.
fn decimal(text: &str) -> Option<usize> {
    if text.is_empty() || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn reason(e: &NoteError) -> String {
    e.to_string()
}

/// POSIX seconds as RFC 3339, or the number if out of range.
fn show_time(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| Timestamp::from_unix(s).ok())
        .map_or_else(|| format!("{seconds} s"), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Digest;
    use crate::note::{Checkpoint, NoteSigner, cosign, sign_checkpoint};
    use ed25519_dalek::SigningKey;

    const ORIGIN: &str = "example.com/log";
    const NOW: i64 = 1_800_000_000;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn witness(i: u8) -> NoteVerifier {
        let k = key(10 + i);
        match NoteSigner::cosigner(&format!("w{i}"), &k) {
            Ok(s) => s.verifier(),
            Err(e) => panic!("{e}"),
        }
    }

    /// A checkpoint signed by the log and cosigned by witnesses `(i, time)`.
    fn cosigned_note(cosigners: &[(u8, u64)]) -> (String, NoteVerifier) {
        let log_key = key(1);
        let checkpoint = Checkpoint::new(ORIGIN, 5, Digest([7; 32]), vec![]).unwrap();
        let log = NoteSigner::new(ORIGIN, &log_key).unwrap();
        let mut note = sign_checkpoint(&checkpoint, &log).unwrap();
        for &(i, time) in cosigners {
            let k = key(10 + i);
            let signer = NoteSigner::cosigner(&format!("w{i}"), &k).unwrap();
            note.push_str(&cosign(&checkpoint.to_text(), &signer, time).unwrap());
        }
        (note, log.verifier())
    }

    fn now() -> Timestamp {
        Timestamp::from_unix(NOW).unwrap()
    }

    fn codes(w: &Witnessing) -> Vec<&'static str> {
        w.findings.iter().map(|f| f.rule.code()).collect()
    }

    #[test]
    fn a_quorum_of_fresh_cosignatures_passes() {
        let policy =
            WitnessPolicy::new(vec![witness(1), witness(2), witness(3)], 2, Some(3600)).unwrap();
        let t = NOW as u64 - 60;
        let (note, log) = cosigned_note(&[(1, t), (3, t - 10)]);
        let found = policy.check(&note, &log, now());
        assert_eq!(codes(&found), Vec::<&str>::new());
        assert_eq!(found.cosigned, [("w1".into(), t), ("w3".into(), t - 10)]);
    }

    #[test]
    fn fail_fewer_cosignatures_than_the_quorum_is_unwitnessed() {
        let policy = WitnessPolicy::new(vec![witness(1), witness(2)], 2, None).unwrap();
        let (note, log) = cosigned_note(&[(1, NOW as u64), (4, NOW as u64)]);
        let found = policy.check(&note, &log, now());
        assert_eq!(codes(&found), ["CUS-WIT-001"]);
        assert!(
            found.findings[0]
                .message
                .contains("cosigned by w1; the policy needs 2 of (w1, w2)")
        );
        let (bare, log) = cosigned_note(&[]);
        let found = policy.check(&bare, &log, now());
        assert!(
            found.findings[0]
                .message
                .contains("none of the policy's witnesses")
        );
    }

    #[test]
    fn fail_an_old_newest_cosignature_is_stale_and_a_future_one_too() {
        let policy = WitnessPolicy::new(vec![witness(1)], 1, Some(3600)).unwrap();
        let (old, log) = cosigned_note(&[(1, NOW as u64 - 3601)]);
        let found = policy.check(&old, &log, now());
        assert_eq!(codes(&found), ["CUS-WIT-002"]);
        assert!(found.findings[0].message.contains("3601 s ago"));
        let (future, log) = cosigned_note(&[(1, NOW as u64 + COSIGNATURE_CLOCK_SKEW_S + 1)]);
        assert_eq!(codes(&policy.check(&future, &log, now())), ["CUS-WIT-002"]);
        // Within the allowance, and without a maximum age, both pass.
        let (soon, log) = cosigned_note(&[(1, NOW as u64 + 60)]);
        assert!(policy.check(&soon, &log, now()).findings.is_empty());
        let ageless = WitnessPolicy::new(vec![witness(1)], 1, None).unwrap();
        assert!(ageless.check(&old, &log, now()).findings.is_empty());
    }

    #[test]
    fn fail_a_forged_cosignature_is_unwitnessed() {
        let policy = WitnessPolicy::new(vec![witness(1)], 1, None).unwrap();
        let (note, log) = cosigned_note(&[(1, NOW as u64)]);
        // Swap the time: the signature no longer covers it.
        let forged = note.replace("\u{2014} w1 ", "\u{2014} w1 X");
        let found = policy.check(&forged, &log, now());
        assert_eq!(codes(&found), ["CUS-WIT-001"]);
    }

    #[test]
    fn command_line_policies_are_checked() {
        let err = |r: Result<WitnessPolicy, WitnessPolicyError>| r.unwrap_err().to_string();
        assert!(err(WitnessPolicy::new(vec![], 1, None)).contains("at least one witness"));
        assert!(err(WitnessPolicy::new(vec![witness(1)], 2, None)).contains("between 1 and"));
        assert!(err(WitnessPolicy::new(vec![witness(1), witness(1)], 1, None)).contains("twice"));
        let (_, log) = cosigned_note(&[]);
        assert!(err(WitnessPolicy::new(vec![log], 1, None)).contains("not a witness"));
    }

    #[test]
    fn tlog_policy_files_define_nested_groups() {
        let (_, log) = cosigned_note(&[]);
        let text = format!(
            "# two organisations\nlog {}\n\nwitness X1 {}\nwitness X2 {}\nwitness X3 {}\n\
             group X 2 X1 X2 X3\nwitness Y1 {} https://y1.example/\ngroup Y any Y1\n\
             group XY all X Y\nquorum XY\n",
            log.vkey(),
            witness(1).vkey(),
            witness(2).vkey(),
            witness(3).vkey(),
            witness(4).vkey()
        );
        let policy = WitnessPolicy::parse(text.as_bytes(), None).unwrap();
        assert_eq!(policy.describe(), "2 of (2 of (w1, w2, w3), 1 of (w4))");
        let t = NOW as u64;
        let (two_x_one_y, log) = cosigned_note(&[(1, t), (3, t), (4, t)]);
        assert!(policy.check(&two_x_one_y, &log, now()).findings.is_empty());
        let (two_x_only, log) = cosigned_note(&[(1, t), (2, t)]);
        assert_eq!(
            codes(&policy.check(&two_x_only, &log, now())),
            ["CUS-WIT-001"]
        );
        // A log the policy does not list is refused.
        let other = NoteSigner::new(ORIGIN, &key(2)).unwrap().verifier();
        assert_eq!(
            codes(&policy.check(&two_x_one_y, &other, now())),
            ["CUS-WIT-001"]
        );
        // quorum none needs nothing.
        let none = WitnessPolicy::parse(b"quorum none\n", None).unwrap();
        assert!(none.check(&two_x_only, &log, now()).findings.is_empty());
    }

    #[test]
    fn fail_bad_tlog_policy_lines_are_named() {
        let w1 = witness(1).vkey();
        let cases = [
            (format!("witness A {w1}\n"), "no quorum line"),
            (
                format!("witness A {w1}\nquorum B\n"),
                "line 2: B is not a witness or group",
            ),
            (
                format!(
                    "witness A {w1}\nwitness A {}\nquorum A\n",
                    witness(2).vkey()
                ),
                "line 2: the name A",
            ),
            (
                format!("witness A {w1}\nwitness B {w1}\nquorum A\n"),
                "line 2: this witness key is listed twice",
            ),
            (
                format!("witness A {w1}\ngroup G 2 A\nquorum G\n"),
                "line 2: the threshold",
            ),
            (
                format!("witness A {w1}\ngroup G 01 A\nquorum G\n"),
                "line 2: the threshold",
            ),
            (
                format!("witness A {w1}\ngroup G any A A\nquorum G\n"),
                "line 2: A is a member",
            ),
            (
                format!("witness A {w1}\nquorum A\nquorum A\n"),
                "line 3: a policy has exactly one",
            ),
            (
                "frobnicate\nquorum none\n".into(),
                "line 1: unknown keyword frobnicate",
            ),
            (
                format!("log {w1}\nquorum none\n"),
                "is a witness key, not a log key",
            ),
            ("quorum none\x01\n".into(), "line 1: control character 0x01"),
        ];
        for (text, expected) in cases {
            let e = WitnessPolicy::parse(text.as_bytes(), None)
                .unwrap_err()
                .to_string();
            assert!(e.contains(expected), "{text:?}: {e}");
        }
        let big = vec![b'#'; MAX_POLICY_SIZE + 1];
        assert!(WitnessPolicy::parse(&big, None).is_err());
    }
}
