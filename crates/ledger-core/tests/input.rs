//! Supplier JSON input: every kind parses into exact integers, and every bad value is
//! refused with an error that names its field (SPEC §2).

use ledger_core::event::{Body, Event};
use ledger_core::hash::Digest;
use ledger_core::id::{LotId, PartyId};
use ledger_core::input::{NoContext, SignContext, parse_event, parse_events};
use ledger_core::quantity::{Quantity, Unit};
use ledger_core::state::{Holding, Receipt};
use serde_json::Value;

/// A context that knows lot `L-KG` (kg) and `L-PCS` (pcs), held by `acme` through two
/// receipts: event 0x11… (1000 t or 10^6 pieces) and event 0x12… (as much again).
struct Known;

impl SignContext for Known {
    fn lot_unit(&self, lot: &LotId) -> Option<Unit> {
        match lot.as_str() {
            "L-KG" => Some(Unit::Kg),
            "L-PCS" => Some(Unit::Pcs),
            _ => None,
        }
    }
    fn holding(&self, lot: &LotId, holder: &PartyId) -> Option<Holding> {
        let each = match self.lot_unit(lot)? {
            Unit::Kg => 1_000_000_000,
            Unit::Pcs => 1_000_000,
        };
        (holder.as_str() == "acme").then(|| Holding {
            receipts: vec![
                Receipt {
                    source: Digest([0x11; 32]),
                    balance: each,
                },
                Receipt {
                    source: Digest([0x12; 32]),
                    balance: each,
                },
            ],
        })
    }
    fn open_shipments(&self, receiver: &PartyId, _: &[LotId]) -> Vec<Digest> {
        match receiver.as_str() {
            "acme" => vec![Digest([0x22; 32])],
            "busy" => vec![Digest([0x22; 32]), Digest([0x33; 32])],
            _ => Vec::new(),
        }
    }
}

fn parse(json: &str) -> Result<Event, String> {
    let value: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    parse_event(value, &Known, &mut || 7).map_err(|e| e.to_string())
}

const EXTRACT: &str = r#"{"kind": "extract", "actor": "kivu-mining", "time": "2026-03-02T08:15:00Z", "nonce": 7,
 "site": {"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47, "method": "industrial"},
 "outputs": [{"lot": "KV-ORE-0001", "material": "cobalt-ore", "quantity": 50000.125, "unit": "kg",
              "content": {"Co": 0.031}}],
 "emissions_kg_co2e": 1200.5}"#;

#[test]
fn spec_example_extract_becomes_exact_integers() {
    let event = parse(EXTRACT).unwrap();
    assert_eq!(event.emissions_g_co2e, Some(1_200_500));
    assert_eq!(event.nonce, 7);
    let Body::Extract(x) = &event.body else {
        panic!("not an extract: {event:?}")
    };
    assert_eq!(
        (x.site.lat_micro, x.site.lon_micro),
        (-10_710_000, 25_470_000)
    );
    assert_eq!(x.outputs[0].quantity, Quantity::Grams(50_000_125));
    assert_eq!(
        x.outputs[0].content.values().copied().collect::<Vec<_>>(),
        [31_000]
    );
}

#[test]
fn links_and_units_are_filled_from_the_context() {
    let ship = parse(
        r#"{"kind": "ship", "actor": "acme", "time": "2026-03-05T10:00:00Z", "to": "beta",
            "lots": [{"lot": "L-KG", "quantity": 20000}, {"lot": "L-PCS", "quantity": 12}]}"#,
    )
    .unwrap();
    let Body::Ship(s) = &ship.body else {
        panic!("not a ship")
    };
    assert_eq!(s.lots[0].quantity, Quantity::Grams(20_000_000));
    assert_eq!(s.lots[1].quantity, Quantity::Pieces(12));
    assert_eq!(s.lots[0].from, Digest([0x11; 32]));

    let receive = parse(r#"{"kind": "receive", "actor": "acme", "time": "2026-03-07T16:00:00Z", "lots": [{"lot": "L-KG", "quantity": 19950}]}"#).unwrap();
    let Body::Receive(r) = &receive.body else {
        panic!("not a receive")
    };
    assert_eq!(r.shipment, Digest([0x22; 32]));
}

#[test]
fn without_a_ledger_links_must_be_given() {
    let value: Value = serde_json::from_str(
        r#"{"kind": "ship", "actor": "acme", "time": "2026-03-05T10:00:00Z", "to": "beta", "lots": [{"lot": "L-KG", "quantity": 1, "unit": "kg"}]}"#,
    )
    .unwrap();
    let err = parse_event(value, &NoContext, &mut || 7)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("lots[0].from:"), "{err}");
}

/// Each case: (what it guards, JSON, the field path the error must start with, a word the reason must contain).
const REFUSED: &[(&str, &str, &str, &str)] = &[
    (
        "unknown top-level field",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"saq","colour":"red"}"#,
        "colour",
        "unknown field",
    ),
    (
        "unknown nested field",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"L-KG","quantity":1,"qty":2}]}"#,
        "lots[0]",
        "qty",
    ),
    (
        "unknown kind",
        r#"{"kind":"smelt","actor":"a","time":"2026-01-01T00:00:00Z"}"#,
        "kind",
        "smelt",
    ),
    (
        "missing kind",
        r#"{"actor":"a","time":"2026-01-01T00:00:00Z"}"#,
        "kind",
        "required",
    ),
    (
        "negative quantity",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"L-KG","quantity":-5}]}"#,
        "lots[0].quantity",
        "negative",
    ),
    (
        "zero quantity",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"L-KG","quantity":0}]}"#,
        "lots[0].quantity",
        "greater than zero",
    ),
    (
        "too many decimals of kg",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"L-KG","quantity":1.0001}]}"#,
        "lots[0].quantity",
        "decimals",
    ),
    (
        "fractional pieces",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"L-PCS","quantity":2.5}]}"#,
        "lots[0].quantity",
        "whole",
    ),
    (
        "exponent notation",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"L-KG","quantity":1e3}]}"#,
        "lots[0].quantity",
        "exponent",
    ),
    (
        "quantity as a string",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"L-KG","quantity":"5"}]}"#,
        "lots[0].quantity",
        "invalid type",
    ),
    (
        "bad id characters",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b c","lots":[{"lot":"L-KG","quantity":1}]}"#,
        "to",
        "' '",
    ),
    (
        "bad actor id",
        r#"{"kind":"ship","actor":"ac/me","time":"2026-01-01T00:00:00Z","to":"b","lots":[]}"#,
        "actor",
        "'/'",
    ),
    (
        "impossible date",
        r#"{"kind":"attest","actor":"a","time":"2026-02-30T00:00:00Z","subject":{"party":"x"},"claim":"saq"}"#,
        "time",
        "RFC 3339",
    ),
    (
        "time not in UTC",
        r#"{"kind":"attest","actor":"a","time":"2026-02-03T00:00:00+02:00","subject":{"party":"x"},"claim":"saq"}"#,
        "time",
        "UTC",
    ),
    (
        "content fraction above 1",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","outputs":[{"lot":"X","material":"cobalt-sulfate","quantity":1,"unit":"kg","content":{"Co":1.2}}]}"#,
        "outputs[0].content.Co",
        "larger",
    ),
    (
        "content fractions summing above 1",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","outputs":[{"lot":"X","material":"cobalt-sulfate","quantity":1,"unit":"kg","content":{"Co":0.6,"Ni":0.6}}]}"#,
        "outputs[0].content",
        "more than 1",
    ),
    (
        "content with 7 decimals",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","outputs":[{"lot":"X","material":"cobalt-sulfate","quantity":1,"unit":"kg","content":{"Co":0.1234567}}]}"#,
        "outputs[0].content.Co",
        "decimals",
    ),
    (
        "empty outputs",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","outputs":[]}"#,
        "outputs",
        "empty",
    ),
    (
        "empty shipment",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b","lots":[]}"#,
        "lots",
        "empty",
    ),
    (
        "absurd magnitude",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","outputs":[{"lot":"X","material":"cobalt-sulfate","quantity":99999999999999999999,"unit":"kg"}]}"#,
        "outputs[0].quantity",
        "larger than the limit",
    ),
    (
        "absurd emissions",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","emissions_kg_co2e":1e30,"outputs":[{"lot":"X","material":"cobalt-sulfate","quantity":1,"unit":"kg"}]}"#,
        "emissions_kg_co2e",
        "exponent",
    ),
    (
        "latitude out of range",
        r#"{"kind":"extract","actor":"m","time":"2026-01-01T00:00:00Z","site":{"id":"S","country":"CD","lat":91,"lon":0,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#,
        "site.lat",
        "out of range -90 to 90",
    ),
    (
        "lower-case country",
        r#"{"kind":"extract","actor":"m","time":"2026-01-01T00:00:00Z","site":{"id":"S","country":"cd","lat":1,"lon":0,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#,
        "site.country",
        "country code",
    ),
    (
        "unknown mining method",
        r#"{"kind":"extract","actor":"m","time":"2026-01-01T00:00:00Z","site":{"id":"S","country":"CD","lat":1,"lon":0,"method":"open-pit"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#,
        "site.method",
        "unknown variant",
    ),
    (
        "unknown unit",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","outputs":[{"lot":"X","material":"cobalt-sulfate","quantity":1,"unit":"t"}]}"#,
        "outputs[0].unit",
        "unknown variant",
    ),
    (
        "lot created twice in one event",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","outputs":[{"lot":"X","material":"cobalt-sulfate","quantity":1,"unit":"kg"},{"lot":"X","material":"cobalt-sulfate","quantity":1,"unit":"kg"}]}"#,
        "outputs[1].lot",
        "twice",
    ),
    (
        "ship to oneself",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"acme","lots":[{"lot":"L-KG","quantity":1}]}"#,
        "to",
        "itself",
    ),
    (
        "unknown lot without unit",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"NOPE","quantity":1}]}"#,
        "lots[0].lot",
        "unit",
    ),
    (
        "unknown role",
        r#"{"kind":"enroll","actor":"op","time":"2026-01-01T00:00:00Z","party":"p","name":"P","country":"FI","roles":["smelter"],"keys":[]}"#,
        "roles[0]",
        "smelter",
    ),
    (
        "bad key hex",
        r#"{"kind":"enroll","actor":"op","time":"2026-01-01T00:00:00Z","party":"p","name":"P","country":"FI","roles":["miner"],"keys":["abcd"]}"#,
        "keys[0]",
        "hex",
    ),
    (
        "attest with two subjects",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x","lot":"y"},"claim":"saq"}"#,
        "subject",
        "exactly one",
    ),
    (
        "cap without severity",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"cap-opened","reference":"C1"}"#,
        "severity",
        "major",
    ),
    (
        "score above 100",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"ssi","score":101}"#,
        "score",
        "100",
    ),
    (
        "validity before the attestation",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"saq","valid_until":"2025-01-01T00:00:00Z"}"#,
        "valid_until",
        "before",
    ),
    (
        "input and output the same lot",
        r#"{"kind":"transform","actor":"acme","time":"2026-01-01T00:00:00Z","inputs":[{"lot":"L-KG","quantity":1}],"outputs":[{"lot":"L-KG","material":"cathode","quantity":1,"unit":"kg"}]}"#,
        "outputs[0].lot",
        "both",
    ),
    (
        "capacity on a kg lot",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","outputs":[{"lot":"X","material":"cobalt-sulfate","quantity":1,"unit":"kg","capacity_kwh":1}]}"#,
        "outputs[0].capacity_kwh",
        "pieces",
    ),
    ("not an object", r#"[1, 2]"#, "(event)", "object"),
];

#[test]
fn every_bad_value_is_refused_naming_its_field() {
    let mut failures = Vec::new();
    for (what, json, path, word) in REFUSED {
        match parse(json) {
            Ok(event) => failures.push(format!("{what}: accepted as {event:?}")),
            Err(err) => {
                if !err.starts_with(&format!("{path}:")) && !err.starts_with(&format!("{path}."))
                    || !err.contains(word)
                {
                    failures.push(format!(
                        "{what}: expected `{path}: ...{word}...`, got `{err}`"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        REFUSED.len(),
        failures.join("\n")
    );
}

/// Each case: (what it guards, JSON, the whole error). A value of the wrong JSON type is
/// named by its field and by what the field expects, never by a Rust type (`struct SiteIn`,
/// `u8`) or serde's bare "invalid number".
const WRONG_TYPES: &[(&str, &str, &str)] = &[
    (
        "a site that is not an object",
        r#"{"kind":"extract","actor":"m","time":"2026-01-01T00:00:00Z","site":"KV-PIT-2","outputs":[]}"#,
        r#"site: invalid type: string "KV-PIT-2", expected an object with "id", "country", "lat", "lon" and "method""#,
    ),
    (
        "an output that is not an object",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","outputs":["X"]}"#,
        r#"outputs[0]: invalid type: string "X", expected an object with "lot", "material", "quantity" and "unit""#,
    ),
    (
        "a shipped lot that is not an object",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b","lots":["L-KG"]}"#,
        r#"lots[0]: invalid type: string "L-KG", expected an object with "lot" and "quantity""#,
    ),
    (
        "a transform input that is not an object",
        r#"{"kind":"transform","actor":"acme","time":"2026-01-01T00:00:00Z","inputs":[5],"outputs":[]}"#,
        r#"inputs[0]: invalid type: number, expected an object with "lot" and "quantity""#,
    ),
    (
        "a received lot that is not an object",
        r#"{"kind":"receive","actor":"acme","time":"2026-01-01T00:00:00Z","lots":[true]}"#,
        r#"lots[0]: invalid type: boolean `true`, expected an object with "lot" and "quantity""#,
    ),
    (
        "a subject that is a bare id",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":"kivu-mining","claim":"saq"}"#,
        r#"subject: invalid type: string "kivu-mining", expected an object with "party" or "lot""#,
    ),
    (
        "a document that is not an object, named as documents[0]",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"saq","documents":["assay.pdf"]}"#,
        r#"documents[0]: invalid type: string "assay.pdf", expected an object with "name" and "sha256""#,
    ),
    (
        "a document's field, named as documents[0].sha256",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"saq","documents":[{"name":"assay","sha256":"abcd"}]}"#,
        r#"documents[0].sha256: expected 64 hex characters, found "abcd""#,
    ),
    (
        "a score beyond a byte",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"ssi","score":300}"#,
        "score: expected a whole number from 0 to 100, found 300",
    ),
    (
        "a fractional score",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"ssi","score":82.5}"#,
        "score: expected a whole number from 0 to 100, found 82.5",
    ),
    (
        "a negative nonce",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"saq","nonce":-1}"#,
        "nonce: expected a whole number from 0 to 18446744073709551615, found -1",
    ),
    (
        "a nonce beyond 64 bits",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"saq","nonce":18446744073709551616}"#,
        "nonce: expected a whole number from 0 to 18446744073709551615, found 18446744073709551616",
    ),
    (
        "a nonce as a string",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"saq","nonce":"7"}"#,
        r#"nonce: invalid type: string "7", expected a JSON number; write it as a JSON number, without quotes: 7"#,
    ),
];

#[test]
fn wrong_types_are_named_by_field_and_expectation_not_by_rust_type() {
    let mut failures = Vec::new();
    for (what, json, expected) in WRONG_TYPES {
        match parse(json) {
            Ok(event) => failures.push(format!("{what}: accepted as {event:?}")),
            Err(err) if err != *expected => failures.push(format!(
                "{what}:\n  expected `{expected}`\n  got      `{err}`"
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each case: (what it guards, JSON, the whole error). Where a supplier's mistake has a
/// likely fix, the message names it: the range a coordinate must be in, the ISO code a
/// country name means, the decimal point, the field or value a typo was meant to be, and
/// every shipment a receipt could be for.
const HINTS: &[(&str, &str, &str)] = &[
    (
        "a latitude below -90 is out of range, not larger than the limit",
        r#"{"kind":"extract","actor":"m","time":"2026-01-01T00:00:00Z","site":{"id":"S","country":"CD","lat":-128,"lon":0,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#,
        "site.lat: -128 is out of range -90 to 90",
    ),
    (
        "a longitude beyond 180 names its range",
        r#"{"kind":"extract","actor":"m","time":"2026-01-01T00:00:00Z","site":{"id":"S","country":"CD","lat":1,"lon":200.5,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#,
        "site.lon: 200.5 is out of range -180 to 180",
    ),
    (
        "a negative quantity beyond the limit is refused for its sign",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"L-KG","quantity":-99999999999999999999}]}"#,
        "lots[0].quantity: must not be negative, found -99999999999999999999",
    ),
    (
        "a country name asks for the ISO code and suggests it",
        r#"{"kind":"extract","actor":"m","time":"2026-01-01T00:00:00Z","site":{"id":"S","country":"Zambia","lat":1,"lon":0,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#,
        r#"site.country: expected an ISO 3166-1 alpha-2 country code (two upper-case letters, such as CD), found "Zambia"; did you mean ZM?"#,
    ),
    (
        "an enrolled party's country written as a name",
        r#"{"kind":"enroll","actor":"op","time":"2026-01-01T00:00:00Z","party":"p","name":"P","country":"DR Congo","roles":["miner"],"keys":[]}"#,
        r#"country: expected an ISO 3166-1 alpha-2 country code (two upper-case letters, such as CD), found "DR Congo"; did you mean CD?"#,
    ),
    (
        "an alpha-3 code suggests the alpha-2 code",
        r#"{"kind":"extract","actor":"m","time":"2026-01-01T00:00:00Z","site":{"id":"S","country":"FIN","lat":1,"lon":0,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#,
        r#"site.country: expected an ISO 3166-1 alpha-2 country code (two upper-case letters, such as CD), found "FIN"; did you mean FI?"#,
    ),
    (
        "a lower-case code suggests the upper-case code",
        r#"{"kind":"extract","actor":"m","time":"2026-01-01T00:00:00Z","site":{"id":"S","country":"in","lat":1,"lon":0,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#,
        r#"site.country: expected an ISO 3166-1 alpha-2 country code (two upper-case letters, such as CD), found "in"; did you mean IN?"#,
    ),
    (
        "a name the table does not know gets the generic message",
        r#"{"kind":"extract","actor":"m","time":"2026-01-01T00:00:00Z","site":{"id":"S","country":"Atlantis","lat":1,"lon":0,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#,
        r#"site.country: expected an ISO 3166-1 alpha-2 country code (two upper-case letters, such as CD), found "Atlantis""#,
    ),
    (
        "a decimal comma hints at the decimal point",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"L-KG","quantity":"12,5"}]}"#,
        r#"lots[0].quantity: invalid type: string "12,5", expected a JSON number; the decimal separator is a point: write 12.5, as a JSON number without quotes"#,
    ),
    (
        "a comma before three digits may be a thousands separator: both readings are named",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","outputs":[{"lot":"X","material":"cobalt-sulfate","quantity":"1,500","unit":"kg"}]}"#,
        r#"outputs[0].quantity: invalid type: string "1,500", expected a JSON number; the decimal separator is a point and there is no thousands separator: write 1.500 or 1500, as a JSON number without quotes"#,
    ),
    (
        "a decimal comma in a coordinate",
        r#"{"kind":"extract","actor":"m","time":"2026-01-01T00:00:00Z","site":{"id":"S","country":"CD","lat":"-10,71","lon":0,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#,
        r#"site.lat: invalid type: string "-10,71", expected a JSON number; the decimal separator is a point: write -10.71, as a JSON number without quotes"#,
    ),
    (
        "a misspelt field suggests the nearest known one",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"L-KG","quantiy":1}]}"#,
        "lots[0].quantiy: unknown field `quantiy`, expected one of `lot`, `quantity`, `unit`, `from`; did you mean \"quantity\"?",
    ),
    (
        "an abbreviated field suggests the full name",
        r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"L-KG","qty":1}]}"#,
        "lots[0].qty: unknown field `qty`, expected one of `lot`, `quantity`, `unit`, `from`; did you mean \"quantity\"?",
    ),
    (
        "a misspelt common field at the top level is suggested too",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","emission_kg_co2e":5,"outputs":[{"lot":"X","material":"cobalt-sulfate","quantity":1,"unit":"kg"}]}"#,
        "emission_kg_co2e: unknown field `emission_kg_co2e`, expected `feedstock` or `outputs`; did you mean \"emissions_kg_co2e\"?",
    ),
    (
        "a misspelt required field is named where it is missing",
        r#"{"kind":"attest","actr":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"saq"}"#,
        r#"actor: is required; found "actr": did you mean "actor"?"#,
    ),
    (
        "a longer name suggests the field it starts with",
        r#"{"kind":"extract","actor":"m","time":"2026-01-01T00:00:00Z","site":{"id":"S","country":"CD","latitude":1,"lon":0,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#,
        "site.latitude: unknown field `latitude`, expected one of `id`, `country`, `lat`, `lon`, `method`; did you mean \"lat\"?",
    ),
    (
        "a field like no known one gets no suggestion",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"saq","colour":"red"}"#,
        "colour: unknown field `colour`, expected one of `subject`, `claim`, `result`, `score`, `reference`, `severity`, `valid_until`",
    ),
    (
        "a misspelt value suggests the nearest known one",
        r#"{"kind":"extract","actor":"m","time":"2026-01-01T00:00:00Z","site":{"id":"S","country":"CD","lat":1,"lon":0,"method":"artisinal"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#,
        "site.method: unknown variant `artisinal`, expected `industrial` or `artisanal`; did you mean \"artisanal\"?",
    ),
    (
        "a receipt that several open shipments could be for lists them",
        r#"{"kind":"receive","actor":"busy","time":"2026-01-01T00:00:00Z","lots":[{"lot":"L-KG","quantity":1}]}"#,
        "shipment: 2 open shipments to busy carry these lots: 2222222222222222222222222222222222222222222222222222222222222222, 3333333333333333333333333333333333333333333333333333333333333333; give the id of the one delivered",
    ),
    (
        "a receipt no open shipment is for asks for the id",
        r#"{"kind":"receive","actor":"nobody","time":"2026-01-01T00:00:00Z","lots":[{"lot":"L-KG","quantity":1}]}"#,
        "shipment: no open shipment to nobody carries these lots; give the ship event's id",
    ),
];

#[test]
fn likely_mistakes_are_refused_with_their_fix() {
    let mut failures = Vec::new();
    for (what, json, expected) in HINTS {
        match parse(json) {
            Ok(event) => failures.push(format!("{what}: accepted as {event:?}")),
            Err(err) if err != *expected => failures.push(format!(
                "{what}:\n  expected `{expected}`\n  got      `{err}`"
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A decimal comma outside quotes is a JSON syntax error (`12,5` reads as 12, then a field
/// name is expected where the 5 is): the message says what was probably meant, in a file
/// of JSON lines and in an array.
#[test]
fn a_decimal_comma_in_a_bare_number_hints_at_the_decimal_point() {
    let line = r#"{"kind":"ship","actor":"acme","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"L-KG","quantity": 12,5}]}"#;
    let err = |text: &str| {
        parse_events(text, &mut |_, _| Ok(()))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(&format!("{line}\n")),
        "(event 1): not valid JSON: key must be a string at line 1 column 107; if 12,5 is a number, the decimal separator is a point: write 12.5"
    );
    assert_eq!(
        err(&format!("[\n  {line}\n]")),
        "(file): not a JSON array: key must be a string at line 2 column 109; if 12,5 is a number, the decimal separator is a point: write 12.5"
    );
    // A syntax error elsewhere gets no such hint.
    assert_eq!(
        err(r#"{"kind": "ship",, "actor": "acme"}"#),
        "(event 1): not valid JSON: key must be a string at line 1 column 17"
    );
}

#[test]
fn an_unknown_lot_is_a_wrong_id_with_a_ledger_and_a_missing_unit_without_one() {
    struct WithLedger;
    impl SignContext for WithLedger {
        fn lot_unit(&self, _: &LotId) -> Option<Unit> {
            None
        }
        fn holding(&self, _: &LotId, _: &PartyId) -> Option<Holding> {
            None
        }
        fn open_shipments(&self, _: &PartyId, _: &[LotId]) -> Vec<Digest> {
            Vec::new()
        }
        fn has_ledger(&self) -> bool {
            true
        }
    }
    let ship = serde_json::json!({"kind": "ship", "actor": "kivu-mining",
        "time": "2026-03-05T10:00:00Z", "to": "lualaba-refining",
        "lots": [{"lot": "NOPE-1", "quantity": 5}]});
    let with = parse_event(ship.clone(), &WithLedger, &mut || 7)
        .unwrap_err()
        .to_string();
    assert!(with.contains("check the lot id"), "{with}");
    assert!(!with.contains("unit"), "{with}");
    let without = parse_event(ship, &NoContext, &mut || 7)
        .unwrap_err()
        .to_string();
    assert!(without.contains("give its \"unit\""), "{without}");
}

/// A move without links is filled with links to the actor's receipts, oldest first, that
/// cover its quantity: never one link for a quantity a single receipt does not hold.
#[test]
fn links_filled_in_cover_the_quantity_receipt_by_receipt() {
    let ship = serde_json::json!({"kind": "ship", "actor": "acme", "time": "2026-03-05T10:00:00Z",
        "nonce": 1, "to": "busy", "lots": [{"lot": "L-KG", "quantity": 1500000},
        {"lot": "L-KG", "quantity": 200000}]});
    let event = parse_event(ship, &Known, &mut || 0).unwrap();
    let Body::Ship(s) = &event.body else {
        panic!("a ship")
    };
    let moves: Vec<(Digest, u64)> = s
        .lots
        .iter()
        .map(|m| (m.from, m.quantity.amount()))
        .collect();
    assert_eq!(
        moves,
        vec![
            (Digest([0x11; 32]), 1_000_000_000),
            (Digest([0x12; 32]), 700_000_000),
        ]
    );
}

#[test]
fn fail_links_cannot_be_filled_in_for_more_than_the_actor_holds() {
    let ship = serde_json::json!({"kind": "ship", "actor": "acme", "time": "2026-03-05T10:00:00Z",
        "nonce": 1, "to": "busy", "lots": [{"lot": "L-PCS", "quantity": 2000001}]});
    let e = parse_event(ship, &Known, &mut || 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("lots[0].quantity"), "{e}");
    assert!(e.contains("holds 2000000 pcs of lot L-PCS"), "{e}");
}
