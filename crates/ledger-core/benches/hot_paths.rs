//! Criterion benchmarks of the hot paths of append and verify: the canonical codec, entry
//! hashing, signature checks, the per-event rules, and the Merkle tree. Run with
//! `cargo bench -p ledger-core`; `custody bench` measures whole-ledger throughput.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]
#![allow(
    missing_docs,
    reason = "criterion_group! generates undocumented functions"
)]

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use ledger_core::event::{
    Body, Enroll, Event, Extract, LotMove, LotOutput, Method, Role, Ship, Site,
};
use ledger_core::hash::Digest;
use ledger_core::id::{Component, Country, LotId, Material, PartyId, SiteId};
use ledger_core::keys::SecretKey;
use ledger_core::merkle::{MemoryTree, consistency_proof, inclusion_proof};
use ledger_core::quantity::Quantity;
use ledger_core::rules::{self, RuleConfig};
use ledger_core::state::{Empty, Overlay};
use ledger_core::statement::{Entry, Origin, Statement, entry_hash};
use ledger_core::timestamp::Timestamp;

/// The origin of the ledger the benchmark statements are signed for.
fn origin() -> Origin {
    Origin::new("bench.custody.example/log").unwrap()
}

fn key(name: &str) -> SecretKey {
    SecretKey::from_seed(&Digest::of(&[b"custody bench key\0", name.as_bytes()]).0)
}

fn event(actor: &str, seconds: i64, body: Body) -> Event {
    Event {
        actor: PartyId::new(actor).unwrap(),
        time: Timestamp::from_unix(1_772_000_000 + seconds).unwrap(),
        nonce: seconds as u64,
        emissions_g_co2e: Some(1_200_000),
        documents: Vec::new(),
        body,
    }
}

fn extract(lot: &str) -> Body {
    Body::Extract(Extract {
        site: Site {
            id: SiteId::new("KV-PIT-2").unwrap(),
            country: Country::parse("CD").unwrap(),
            lat_micro: -10_710_000,
            lon_micro: 25_470_000,
            method: Method::Industrial,
        },
        outputs: vec![LotOutput {
            lot: LotId::new(lot).unwrap(),
            material: Material::new("cobalt-ore").unwrap(),
            quantity: Quantity::Grams(50_000_000),
            content: [(Component::parse("Co").unwrap(), 31_000)]
                .into_iter()
                .collect(),
            capacity_wh: None,
            unit_mass_mg: None,
        }],
    })
}

fn codec_and_hashing(c: &mut Criterion) {
    let statement = Statement::sign(
        event("kivu", 1, extract("KV-ORE-1")),
        &origin(),
        &key("kivu"),
    )
    .unwrap();
    let entry = Entry {
        seq: 7,
        prev: Digest::ZERO,
        recorded_at: Timestamp::from_unix(1_772_000_100).unwrap(),
        subjects: Digest::ZERO,
        statement: statement.clone(),
    };
    let bytes = entry.encode().unwrap();
    c.bench_function("codec/encode entry", |b| {
        b.iter(|| black_box(&entry).encode().unwrap())
    });
    c.bench_function("codec/decode entry (canonical check)", |b| {
        b.iter(|| Entry::decode(black_box(&bytes)).unwrap())
    });
    c.bench_function("hash/entry hash", |b| {
        b.iter(|| entry_hash(black_box(&bytes)))
    });
    c.bench_function("hash/event id", |b| {
        b.iter(|| black_box(&statement).id().unwrap())
    });
    let id = statement.id().unwrap();
    c.bench_function("signature/verify (ZIP-215 rule, single)", |b| {
        b.iter(|| {
            statement
                .verify_signature(&origin(), black_box(&id))
                .unwrap()
        })
    });
}

fn rules_per_event(c: &mut Criterion) {
    let operator = key("operator");
    let miner = key("kivu");
    let enroll = |party: &str, role: Role, k: &SecretKey| {
        Body::Enroll(Enroll {
            party: PartyId::new(party).unwrap(),
            name: party.to_owned(),
            country: Country::parse("CD").unwrap(),
            roles: vec![role],
            keys: vec![k.public_key()],
        })
    };
    let mut setup = vec![
        Statement::sign(
            event("operator", 0, enroll("operator", Role::Operator, &operator)),
            &origin(),
            &operator,
        )
        .unwrap(),
        Statement::sign(
            event("operator", 0, enroll("kivu", Role::Miner, &miner)),
            &origin(),
            &operator,
        )
        .unwrap(),
        Statement::sign(
            event(
                "operator",
                0,
                enroll("lualaba", Role::Refiner, &key("lualaba")),
            ),
            &origin(),
            &operator,
        )
        .unwrap(),
    ];
    setup.push(Statement::sign(event("kivu", 1, extract("KV-ORE-1")), &origin(), &miner).unwrap());
    let extract_id = setup[3].id().unwrap();
    let ship = Statement::sign(
        event(
            "kivu",
            2,
            Body::Ship(Ship {
                to: PartyId::new("lualaba").unwrap(),
                lots: vec![LotMove {
                    lot: LotId::new("KV-ORE-1").unwrap(),
                    quantity: Quantity::Grams(1_000),
                    from: extract_id,
                }],
            }),
        ),
        &origin(),
        &miner,
    )
    .unwrap();
    let cfg = RuleConfig::default();
    let recorded = Timestamp::from_unix(1_772_000_100).unwrap();
    let empty = Empty;
    let mut base = Overlay::new(&empty);
    for (seq, s) in setup.iter().enumerate() {
        let subject = rules::Subject {
            seq: seq as u64,
            id: s.id().unwrap(),
            event: &s.event,
            signer: &s.signer,
            recorded_at: recorded,
        };
        rules::apply(&mut base, &subject, &cfg, &mut Vec::new()).unwrap();
    }
    let ship_id = ship.id().unwrap();
    c.bench_function("rules/apply ship", |b| {
        b.iter(|| {
            let mut overlay = Overlay::new(&base);
            let mut findings = Vec::new();
            let subject = rules::Subject {
                seq: 4,
                id: ship_id,
                event: &ship.event,
                signer: &ship.signer,
                recorded_at: recorded,
            };
            rules::apply(&mut overlay, &subject, &cfg, &mut findings).unwrap();
            assert!(findings.is_empty());
        })
    });
}

fn merkle(c: &mut Criterion) {
    let leaves: Vec<Digest> = (0..100_000u64)
        .map(|i| Digest::of(&[&i.to_le_bytes()]))
        .collect();
    c.bench_function("merkle/append 1000 leaves", |b| {
        b.iter(|| {
            let mut tree = MemoryTree::new();
            for leaf in &leaves[..1000] {
                tree.push(*leaf);
            }
            tree.root()
        })
    });
    let tree = MemoryTree::from_leaf_hashes(leaves.iter().copied());
    c.bench_function("merkle/inclusion proof (n = 100000)", |b| {
        b.iter(|| inclusion_proof(black_box(31_337), 100_000, &tree).unwrap())
    });
    c.bench_function("merkle/consistency proof (n = 100000)", |b| {
        b.iter(|| consistency_proof(black_box(31_337), 100_000, &tree).unwrap())
    });
}

criterion_group!(benches, codec_and_hashing, rules_per_event, merkle);
criterion_main!(benches);
