//! The log side of tlog-witness: ask each configured witness to cosign a new checkpoint,
//! proving it consistent with the last one that witness cosigned, and keep only the
//! cosignatures that verify under the witness key the log operator configured.
//!
//! A log does not know in advance what a witness last saw (it may have been restarted,
//! or another instance of the log may have talked to it): it sends the size it remembers
//! (0 at first), and on `409` with the witness's size it proves consistency from there and
//! asks once more. A witness that has seen a larger tree than the checkpoint is not asked
//! again: it cannot cosign a smaller one, and it may be holding a fork.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use ledger_core::hash::Digest;
use ledger_core::note::{KeyKind, NoteVerifier, open_checkpoint};

use crate::client::{self, Answer};
use crate::protocol::Request;

/// A witness a log asks: its submission URL and its cosignature key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The submission prefix (`POST <url>/add-checkpoint`).
    pub url: String,
    /// Its `cosignature/v1` verifier key.
    pub key: NoteVerifier,
}

impl FromStr for Endpoint {
    type Err = String;

    /// `URL,VKEY`, as `--witness` takes it.
    fn from_str(text: &str) -> Result<Endpoint, String> {
        let (url, vkey) = text
            .split_once(',')
            .ok_or_else(|| format!("{text:?} is not URL,VKEY"))?;
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(format!(
                "the witness URL {url:?} is not http:// or https://"
            ));
        }
        let key = NoteVerifier::from_vkey(vkey.trim())
            .map_err(|e| format!("the witness key {vkey:?}: {e}"))?;
        if key.kind() != KeyKind::Cosignature {
            return Err(format!(
                "{vkey} is a log key (type 0x01), not a witness cosignature key (type 0x04)"
            ));
        }
        Ok(Endpoint {
            url: url.to_owned(),
            key,
        })
    }
}

/// What asking the witnesses gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigning {
    /// The checkpoint note with every verified cosignature line appended.
    pub note: String,
    /// Names of the witnesses that cosigned, in the order given.
    pub cosigned: Vec<String>,
    /// Witnesses that did not, with why.
    pub failed: Vec<(String, String)>,
}

/// Asks every witness in `endpoints` to cosign `note`, the log's signed checkpoint of
/// `size` verified by `log`. `proof(old)` gives the consistency proof from `old` to
/// `size`. `known` remembers, per witness URL, the size it last cosigned, and is updated.
pub fn cosign(
    note: &str,
    size: u64,
    log: &NoteVerifier,
    endpoints: &[Endpoint],
    known: &mut HashMap<String, u64>,
    proof: &dyn Fn(u64) -> Result<Vec<Digest>, String>,
    timeout: Duration,
) -> Cosigning {
    let mut out = Cosigning {
        note: note.to_owned(),
        cosigned: Vec::new(),
        failed: Vec::new(),
    };
    for endpoint in endpoints {
        let name = endpoint.key.name().to_owned();
        match ask(note, size, endpoint, known, proof, timeout) {
            Ok(lines) => match verified_lines(&out.note, &lines, log, &endpoint.key) {
                Some(kept) => {
                    out.note.push_str(&kept);
                    out.cosigned.push(name);
                }
                None => out.failed.push((
                    name,
                    "its answer carries no valid cosignature by the configured key".into(),
                )),
            },
            Err(reason) => out.failed.push((name, reason)),
        }
    }
    out
}

/// One witness: at most two requests (the second after a 409 names its size).
fn ask(
    note: &str,
    size: u64,
    endpoint: &Endpoint,
    known: &mut HashMap<String, u64>,
    proof: &dyn Fn(u64) -> Result<Vec<Digest>, String>,
    timeout: Duration,
) -> Result<String, String> {
    let mut old = known.get(&endpoint.url).copied().unwrap_or(0).min(size);
    for _ in 0..2 {
        let request = Request {
            old_size: old,
            proof: if old == 0 { Vec::new() } else { proof(old)? },
            note: note.to_owned(),
        };
        match client::add_checkpoint(&endpoint.url, &request, timeout) {
            Ok(Answer::Cosigned(lines)) => {
                known.insert(endpoint.url.clone(), size);
                return Ok(lines);
            }
            Ok(Answer::Conflict(theirs)) if theirs > size => {
                known.insert(endpoint.url.clone(), theirs);
                return Err(format!(
                    "it has cosigned a tree of {theirs} entries, larger than this checkpoint's \
                     {size}: it saw a later checkpoint, or a fork of this log"
                ));
            }
            Ok(Answer::Conflict(theirs)) => old = theirs,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!(
        "it still disagrees about the size it last cosigned after a retry from {old}"
    ))
}

/// The lines of `answer` that are valid cosignatures of `note` by `key`, or `None`.
fn verified_lines(
    note: &str,
    answer: &str,
    log: &NoteVerifier,
    key: &NoteVerifier,
) -> Option<String> {
    let mut kept = String::new();
    for line in answer.lines() {
        let candidate = format!("{note}{kept}{line}\n");
        let opened = open_checkpoint(
            candidate.as_bytes(),
            log,
            std::slice::from_ref(key),
            log.name(),
        )
        .ok()?;
        let own = line.split(' ').nth(1) == Some(key.name());
        if own
            && opened.note.cosigned_at(key).is_some()
            && !opened.note.unverified.iter().any(|n| n == key.name())
        {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    (!kept.is_empty()).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_core::keys::SecretKey;
    use ledger_core::note::NoteSigner;

    #[test]
    fn endpoints_parse_from_url_and_witness_key() {
        let secret = SecretKey::from_seed(&[3; 32]);
        let key = secret.signing_key();
        let w = NoteSigner::cosigner("w1", key).unwrap().verifier();
        let parsed: Endpoint = format!("http://127.0.0.1:9/,{}", w.vkey()).parse().unwrap();
        assert_eq!(parsed.url, "http://127.0.0.1:9/");
        assert_eq!(parsed.key, w);
        let log = NoteSigner::new("w1", key).unwrap().verifier().vkey();
        let errors = [
            ("no-comma".to_owned(), "is not URL,VKEY"),
            (format!("ftp://x,{}", w.vkey()), "not http"),
            (format!("http://x,{log}"), "is a log key"),
            ("http://x,garbage".to_owned(), "the witness key"),
        ];
        for (text, expected) in errors {
            let e = text.parse::<Endpoint>().unwrap_err();
            assert!(e.contains(expected), "{text}: {e}");
        }
    }
}
