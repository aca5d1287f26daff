//! The key layout of stored records (the whole of sled's tree; the records table of the
//! PostgreSQL store): every key a store writes is built here, so the storage
//! format has one place to read and one place to change.
//!
//! All records live in **one** sled tree (a second tree roughly halves insert speed), told
//! apart by a short ASCII prefix. Integers in keys are big-endian so that sled's byte order
//! is numeric order: entries, attestations, Merkle nodes and checkpoints iterate in
//! sequence. Party and lot ids use the alphabet `[A-Za-z0-9._:-]`, so they never contain
//! `0x00` and can be followed by a `0x00` separator without ambiguity. Every value is
//! encoded with [`ledger_core::codec`] (bincode, fixed-width little-endian integers), except
//! log entries, which PostgreSQL stores as the exact canonical bytes the caller hands over
//! (sled keeps them in its entry log and stores where), and the index records, whose key says
//! everything. State records are the storage types of
//! [`crate::records`].
//!
//! | key                                      | value                                        |
//! |------------------------------------------|----------------------------------------------|
//! | `meta/format`                            | format version, `u32` (4 bytes LE)           |
//! | `meta/origin`                            | log origin, `String`                         |
//! | `meta/head`                              | `(u64 size, Digest last)`, 40 bytes          |
//! | `meta/entry-log` (sled only)             | committed length of `entries.log`, `u64`     |
//! | `meta/pending-append` (sled only)        | start position of a chunked append, `u64`    |
//! | `u/` + start `u64` BE + key (sled only)  | the key's value before that append: `0x00`   |
//! |                                          | (absent), or `0x01` and the old bytes; for   |
//! |                                          | state and event records only (keys not       |
//! |                                          | [`new_since`] start), but not for an event   |
//! |                                          | record the append found absent               |
//! | `e/` + seq `u64` BE                      | where the entry is in `entries.log` (sled):  |
//! |                                          | payload offset `u64` LE, length `u32` LE; the |
//! |                                          | canonical entry bytes, raw (PostgreSQL)      |
//! | `v/` + event id (32 bytes)               | `StoredEvent`                                |
//! | `l/` + lot id                            | `StoredLot`                                  |
//! | `h/` + lot id + `0x00` + party id        | `StoredHolding`                              |
//! | `p/` + party id                          | `StoredParty`                                |
//! | `k/` + public key (32 bytes)             | `PartyId` of the key's owner                 |
//! | `s/` + ship event id (32 bytes)          | `StoredShipment`                             |
//! | `a/` + party id + `0x00` + seq `u64` BE  | `StoredAttestation` whose subject is a party |
//! | `A/` + lot id + `0x00` + seq `u64` BE    | `StoredAttestation` whose subject is a lot   |
//! | `t/` + lot id + `0x00` + seq `u64` BE    | empty: the entry at seq names the lot        |
//! | `n/` + seq `u64` BE                      | empty: the entry at seq changes a party      |
//! | `x/` + subject key (32 bytes)            | `StoredSubject`: count and chain             |
//! | `m/` + level `u8` + index `u64` BE       | Merkle complete-subtree hash, `Digest`       |
//! | `c/` + tree size `u64` BE                | signed checkpoint note, `String`             |
//!
//! No prefix is a prefix of another (`m/` and `meta/` differ in their second byte). Undoing
//! a chunked append puts back its `u/` records and removes by position the entries, Merkle
//! nodes, `n/`, `t/`, `a/` and `A/` keys it wrote, which cannot have existed before it, and
//! the event records whose position is at or past its start.

use ledger_core::Digest;
use ledger_core::id::{LotId, PartyId};
use ledger_core::keys::PublicKey;

/// The format version record.
pub const FORMAT: &[u8] = b"meta/format";
/// The log origin record.
pub const ORIGIN: &[u8] = b"meta/origin";
/// The head record.
pub const HEAD: &[u8] = b"meta/head";
/// The committed length of the entry log (`entries.log`), `u64`.
pub const ENTRY_LOG: &[u8] = b"meta/entry-log";
/// The start position (`u64`) of a sled append too large for one batch, from its first
/// batch to its last: an open that finds it undoes that append from its [`UNDO`] records.
pub const PENDING_APPEND: &[u8] = b"meta/pending-append";

/// Prefix of log entries.
pub const ENTRY: &[u8] = b"e/";
/// Prefix of event records.
pub const EVENT: &[u8] = b"v/";
/// Prefix of lot records.
pub const LOT: &[u8] = b"l/";
/// Prefix of holdings.
pub const HOLDING: &[u8] = b"h/";
/// Prefix of party records.
pub const PARTY: &[u8] = b"p/";
/// Prefix of key owners.
pub const KEY_OWNER: &[u8] = b"k/";
/// Prefix of shipment records.
pub const SHIPMENT: &[u8] = b"s/";
/// Prefix of attestations about parties.
pub const PARTY_ATTESTATION: &[u8] = b"a/";
/// Prefix of attestations about lots.
pub const LOT_ATTESTATION: &[u8] = b"A/";
/// Prefix of Merkle nodes.
pub const MERKLE: &[u8] = b"m/";
/// Prefix of checkpoints.
pub const CHECKPOINT: &[u8] = b"c/";
/// `t/` + lot + `0x00` + seq (big-endian) → empty: the entries that name a lot.
pub const LOT_EVENT: &[u8] = b"t/";
/// `n/` + seq (big-endian) → empty: the entries that change a party.
pub const PARTY_EVENT: &[u8] = b"n/";
/// `x/` + subject key → the subject index state of a party or attested lot.
pub const SUBJECT: &[u8] = b"x/";
/// `u/` + start position (big-endian) + key → the key's value before the sled append that
/// starts there, so an interrupted one can be undone (see [`PENDING_APPEND`]).
pub const UNDO: &[u8] = b"u/";

/// Separates an id from what follows it; ids never contain it.
pub(crate) const SEP: u8 = 0x00;

pub(crate) fn key(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let len = prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(prefix);
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// The key of the entry at `seq`.
pub fn entry(seq: u64) -> Vec<u8> {
    key(ENTRY, &[&seq.to_be_bytes()])
}

/// The first key after every entry key: `e0` (`'0'` follows `'/'`).
pub fn entry_end() -> Vec<u8> {
    b"e0".to_vec()
}

/// The sequence number of an entry key, if it has the right shape.
pub fn entry_seq(key: &[u8]) -> Option<u64> {
    let rest = key.strip_prefix(ENTRY)?;
    let bytes: [u8; 8] = rest.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// The key of an event record.
pub fn event(id: &Digest) -> Vec<u8> {
    key(EVENT, &[id.as_bytes()])
}

/// The key of a lot record.
pub fn lot(id: &LotId) -> Vec<u8> {
    key(LOT, &[id.as_str().as_bytes()])
}

/// The key of what `party` holds of `lot`.
pub fn holding(lot: &LotId, party: &PartyId) -> Vec<u8> {
    key(
        HOLDING,
        &[lot.as_str().as_bytes(), &[SEP], party.as_str().as_bytes()],
    )
}

/// The key of a party record.
pub fn party(id: &PartyId) -> Vec<u8> {
    key(PARTY, &[id.as_str().as_bytes()])
}

/// The key of a public key's owner.
pub fn key_owner(public: &PublicKey) -> Vec<u8> {
    key_owner_bytes(public.as_bytes())
}

/// The key of a key-owner record, from the key's 32 bytes (as `StateKeys` lists them).
pub fn key_owner_bytes(public: &[u8; 32]) -> Vec<u8> {
    key(KEY_OWNER, &[public])
}

/// The key of a shipment record.
pub fn shipment(id: &Digest) -> Vec<u8> {
    key(SHIPMENT, &[id.as_bytes()])
}

/// The prefix of every attestation about `party`.
pub fn party_attestations(party: &PartyId) -> Vec<u8> {
    key(PARTY_ATTESTATION, &[party.as_str().as_bytes(), &[SEP]])
}

/// The key of the attestation about `party` at log position `seq`.
pub fn party_attestation(party: &PartyId, seq: u64) -> Vec<u8> {
    key(
        PARTY_ATTESTATION,
        &[party.as_str().as_bytes(), &[SEP], &seq.to_be_bytes()],
    )
}

/// The prefix of every attestation about `lot`.
pub fn lot_attestations(lot: &LotId) -> Vec<u8> {
    key(LOT_ATTESTATION, &[lot.as_str().as_bytes(), &[SEP]])
}

/// The prefix of the entries that name `lot`.
pub fn lot_events(lot: &LotId) -> Vec<u8> {
    key(LOT_EVENT, &[lot.as_str().as_bytes(), &[SEP]])
}

/// The key recording that the entry at `seq` names `lot`.
pub fn lot_event(lot: &LotId, seq: u64) -> Vec<u8> {
    key(
        LOT_EVENT,
        &[lot.as_str().as_bytes(), &[SEP], &seq.to_be_bytes()],
    )
}

/// The key of a subject's index state.
pub fn subject(subject: &Digest) -> Vec<u8> {
    key(SUBJECT, &[subject.as_bytes()])
}

/// The key recording that the entry at `seq` changes a party.
pub fn party_event(seq: u64) -> Vec<u8> {
    key(PARTY_EVENT, &[&seq.to_be_bytes()])
}

/// The log position at the end of a `t/` or `n/` key.
pub fn trailing_seq(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

/// The lot and log position of a key `prefix` + lot + `0x00` + 8-byte position (a `t/`
/// lot-index or `A/` lot-attestation key); `None` when `key` is not one.
pub fn split_lot_key<'k>(prefix: &[u8], key: &'k [u8]) -> Option<(&'k [u8], u64)> {
    let rest = key.strip_prefix(prefix)?;
    let (lot, tail) = rest.split_at(rest.len().checked_sub(9)?);
    let (separator, seq) = tail.split_first()?;
    (*separator == SEP && !lot.is_empty())
        .then_some((lot, u64::from_be_bytes(seq.try_into().ok()?)))
}

/// The log position an entry (`e/`), party-index (`n/`), lot-index (`t/`) or attestation
/// (`a/`, `A/`) key ends with: the position of the entry that wrote it. `None` for any other
/// key or a key of the wrong shape.
pub fn position(key: &[u8]) -> Option<u64> {
    if let Some(rest) = key.strip_prefix(PARTY_EVENT) {
        return Some(u64::from_be_bytes(rest.try_into().ok()?));
    }
    entry_seq(key).or_else(|| {
        [LOT_EVENT, PARTY_ATTESTATION, LOT_ATTESTATION]
            .iter()
            .find_map(|prefix| split_lot_key(prefix, key))
            .map(|(_, seq)| seq)
    })
}

/// The level and index of a Merkle node key, if it has the right shape.
pub fn merkle_position(key: &[u8]) -> Option<(u8, u64)> {
    let (&level, index) = key.strip_prefix(MERKLE)?.split_first()?;
    Some((level, u64::from_be_bytes(index.try_into().ok()?)))
}

/// Whether `key` cannot exist before an append starting at log position `start`: an entry
/// or a positional index key ([`position`]) at or past `start`, or a Merkle node covering a
/// leaf at or past it (a node is written when its last leaf is, so none of those is complete
/// before). Such keys need no undo record; undoing the append removes them by position.
/// Levels from 64 on (never written) are not claimed.
pub fn new_since(key: &[u8], start: u64) -> bool {
    match merkle_position(key) {
        Some((level, index)) => level < 64 && index >= start >> level,
        None => position(key).is_some_and(|seq| seq >= start),
    }
}

/// The prefix of the undo records of the append starting at log position `start`: fixed
/// width, so one append's prefix never covers another's records.
pub fn undo_prefix(start: u64) -> Vec<u8> {
    key(UNDO, &[&start.to_be_bytes()])
}

/// The key of the undo record for `record`, written by the append starting at `start`.
pub fn undo(start: u64, record: &[u8]) -> Vec<u8> {
    key(UNDO, &[&start.to_be_bytes(), record])
}

/// The key of the attestation about `lot` at log position `seq`.
pub fn lot_attestation(lot: &LotId, seq: u64) -> Vec<u8> {
    key(
        LOT_ATTESTATION,
        &[lot.as_str().as_bytes(), &[SEP], &seq.to_be_bytes()],
    )
}

/// The key of the Merkle node at `level`, `index`.
pub fn merkle(level: u8, index: u64) -> Vec<u8> {
    key(MERKLE, &[&[level], &index.to_be_bytes()])
}

/// The key of the checkpoint for tree size `size`.
pub fn checkpoint(size: u64) -> Vec<u8> {
    key(CHECKPOINT, &[&size.to_be_bytes()])
}

/// The tree size of a checkpoint key, if it has the right shape.
pub fn checkpoint_size(key: &[u8]) -> Option<u64> {
    let rest = key.strip_prefix(CHECKPOINT)?;
    let bytes: [u8; 8] = rest.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// A key as readable text for error messages: printable ASCII as is, other bytes escaped.
pub fn show(key: &[u8]) -> String {
    key.escape_ascii().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lot_id(s: &str) -> LotId {
        LotId::new(s).unwrap()
    }

    fn party_id(s: &str) -> PartyId {
        PartyId::new(s).unwrap()
    }

    #[test]
    fn entry_keys_sort_numerically_and_stay_below_the_end_key() {
        let keys: Vec<_> = [0u64, 1, 255, 256, 1 << 40, u64::MAX]
            .iter()
            .map(|s| entry(*s))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(keys.iter().all(|k| k.as_slice() < entry_end().as_slice()));
        assert_eq!(entry_seq(&entry(258)), Some(258));
        assert_eq!(entry_seq(b"e/short"), None);
    }

    #[test]
    fn a_party_attestation_prefix_does_not_match_a_longer_party_id() {
        // Guards the 0x00 separator: "p" must not list the attestations of "p2".
        let prefix = party_attestations(&party_id("p"));
        assert!(party_attestation(&party_id("p"), 7).starts_with(&prefix));
        assert!(!party_attestation(&party_id("p2"), 7).starts_with(&prefix));
        assert!(!lot_attestation(&lot_id("p"), 7).starts_with(&prefix));
    }

    #[test]
    fn holding_keys_separate_lot_and_party() {
        assert_ne!(
            holding(&lot_id("ab"), &party_id("c")),
            holding(&lot_id("a"), &party_id("bc"))
        );
    }

    #[test]
    fn meta_keys_do_not_fall_under_the_merkle_prefix() {
        for meta in [FORMAT, ORIGIN, HEAD, ENTRY_LOG, PENDING_APPEND] {
            assert!(!meta.starts_with(MERKLE));
        }
    }

    #[test]
    fn undo_keys_of_one_append_are_under_its_prefix_only() {
        // Guards the fixed-width start: stale records of one append are never under the
        // prefix of another, whatever key follows the start.
        let record = entry(300);
        let key = undo(1, &record);
        assert!(key.starts_with(&undo_prefix(1)));
        assert!(!key.starts_with(&undo_prefix(256)));
        assert_eq!(&key[undo_prefix(1).len()..], record.as_slice());
        assert!(!key.starts_with(ENTRY) && !key.starts_with(MERKLE));
    }

    #[test]
    fn new_since_claims_only_keys_no_earlier_append_can_have_written() {
        // Guards the keys a chunked append writes without undo records: a wrong `true`
        // would lose an old value when the append is undone.
        let (l, p) = (lot_id("L"), party_id("P"));
        let start = 5;
        for (key, new) in [
            (entry(4), false),
            (entry(5), true),
            (party_event(4), false),
            (party_event(5), true),
            (lot_event(&l, 4), false),
            (lot_event(&l, 5), true),
            (party_attestation(&p, 4), false),
            (party_attestation(&p, 5), true),
            (lot_attestation(&l, 4), false),
            (lot_attestation(&l, u64::MAX), true),
            // Leaves 4..6 and 2..4: the first is complete only once leaf 5 is written.
            (merkle(1, 2), true),
            (merkle(1, 1), false),
            (merkle(0, 4), false),
            (merkle(2, 1), true),
            (merkle(3, 0), true),
            (merkle(63, 0), true),
            (merkle(64, 0), false),
            (party(&p), false),
            (lot(&l), false),
            (holding(&l, &p), false),
            (event(&Digest::ZERO), false),
            (subject(&Digest::ZERO), false),
            (checkpoint(9), false),
            (undo(5, &entry(6)), false),
            (b"n/short".to_vec(), false),
            (b"m/\x00short".to_vec(), false),
        ] {
            assert_eq!(new_since(&key, start), new, "{}", show(&key));
        }
        assert!(new_since(&merkle(0, 0), 0) && new_since(&entry(0), 0));
    }

    #[test]
    fn merkle_and_checkpoint_keys_have_fixed_width() {
        assert_eq!(merkle(3, 9), [b'm', b'/', 3, 0, 0, 0, 0, 0, 0, 0, 9]);
        assert_eq!(checkpoint_size(&checkpoint(42)), Some(42));
        assert_eq!(show(&holding(&lot_id("L"), &party_id("P"))), "h/L\\x00P");
    }
}
