//! The published JSON Schema of supplier input (`ledger_core::schema::input_schema`) and the
//! parser agree: every event of the demo scenario and every example in `docs/input.md`
//! validates against the schema and parses; unknown fields, wrong kinds and other bad
//! values are refused by both; and what the parser reads leniently, the schema accepts too.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "helpers of the tests: a panic there is a failing test"
)]

use std::collections::HashMap;

use jsonschema::{Draft, Validator};
use ledger_core::codec;
use ledger_core::event::{Body, Event};
use ledger_core::hash::Digest;
use ledger_core::id::{LotId, PartyId};
use ledger_core::input::{NoContext, SignContext, parse_event, parse_events};
use ledger_core::quantity::Unit;
use ledger_core::schema::input_schema;
use ledger_core::state::{Holding, Receipt};
use ledger_core::statement::{Origin, Statement, StatementJson, event_id};
use serde_json::Value;

const SCENARIO: &str = include_str!("../../../fixtures/demo/scenario.jsonl");
const INPUT_DOC: &str = include_str!("../../../docs/input.md");

/// What `custody sign` knows while it signs a file against a ledger: the lots, custody and
/// open shipments of the events before, as the CLI's signing state learns them.
#[derive(Clone, Default)]
struct Ledger {
    units: HashMap<LotId, Unit>,
    sources: HashMap<(LotId, PartyId), Digest>,
    shipments: Vec<(Digest, PartyId, Vec<LotId>)>,
}

impl Ledger {
    /// Records a signed event; returns its id.
    fn learn(&mut self, event: &Event) -> Digest {
        let id = event_id(&codec::encode(event).unwrap());
        for output in event.body.outputs() {
            self.units
                .insert(output.lot.clone(), output.quantity.unit());
            self.sources
                .insert((output.lot.clone(), event.actor.clone()), id);
        }
        match &event.body {
            Body::Ship(s) => self.shipments.push((
                id,
                s.to.clone(),
                s.lots.iter().map(|m| m.lot.clone()).collect(),
            )),
            Body::Receive(r) => {
                self.shipments.retain(|(ship, _, _)| *ship != r.shipment);
                for item in &r.lots {
                    self.sources
                        .insert((item.lot.clone(), event.actor.clone()), id);
                }
            }
            _ => {}
        }
        id
    }
}

impl SignContext for Ledger {
    fn lot_unit(&self, lot: &LotId) -> Option<Unit> {
        self.units.get(lot).copied()
    }
    /// The last receipt only, as if it held everything: this test checks the schema, not
    /// balances (the rules tests do).
    fn holding(&self, lot: &LotId, holder: &PartyId) -> Option<Holding> {
        let source = *self.sources.get(&(lot.clone(), holder.clone()))?;
        Some(Holding {
            receipts: vec![Receipt {
                source,
                balance: u64::MAX,
            }],
        })
    }
    fn open_shipments(&self, receiver: &PartyId, lots: &[LotId]) -> Vec<Digest> {
        self.shipments
            .iter()
            .filter(|(_, to, carried)| to == receiver && lots.iter().all(|l| carried.contains(l)))
            .map(|(id, _, _)| *id)
            .collect()
    }
}

fn validator() -> Validator {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .build(&input_schema())
        .expect("the input schema compiles")
}

/// Every schema error of `instance`, as text.
fn schema_errors(validator: &Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// The JSON values of a file in any of the three forms `custody sign` reads.
fn values(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    parse_events(text, &mut |value, _| {
        out.push(value);
        Ok(())
    })
    .expect("the text is a file of JSON events");
    out
}

/// The demo scenario's events, each validated and parsed against the ledger the events
/// before it build, as `custody demo` signs them.
fn demo_ledger(validator: &Validator) -> Ledger {
    let mut ledger = Ledger::default();
    for (i, value) in values(SCENARIO).into_iter().enumerate() {
        let line = i + 1;
        let errors = schema_errors(validator, &value);
        assert!(errors.is_empty(), "scenario line {line}: {errors:?}");
        let event = parse_event(value, &ledger, &mut || 7)
            .unwrap_or_else(|e| panic!("scenario line {line} does not parse: {e}"));
        ledger.learn(&event);
    }
    ledger
}

#[test]
fn the_schema_is_valid_draft_2020_12_with_one_branch_per_kind() {
    let schema = input_schema();
    assert!(jsonschema::draft202012::meta::is_valid(&schema));
    let kinds: Vec<&str> = schema["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|branch| branch["properties"]["kind"]["const"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "enroll",
            "revoke",
            "extract",
            "recycle",
            "ship",
            "receive",
            "transform",
            "attest",
            "amend",
            "request-key",
            "add-key"
        ]
    );
    for branch in schema["oneOf"].as_array().unwrap() {
        assert_eq!(branch["additionalProperties"], false, "{}", branch["title"]);
        for common in ["actor", "time", "nonce", "emissions_kg_co2e", "documents"] {
            assert!(
                branch["properties"][common].is_object(),
                "{}: {common}",
                branch["title"]
            );
        }
        assert!(branch["description"].is_string(), "{}", branch["title"]);
    }
    assert_eq!(
        schema["$defs"]["PartyId"]["pattern"],
        "^[A-Za-z0-9._:-]{1,128}$"
    );
}

#[test]
fn every_demo_event_validates_and_parses() {
    let validator = validator();
    let ledger = demo_ledger(&validator);
    assert_eq!(ledger.units.len(), 10, "lots created by the scenario");
}

/// A fenced block of `docs/input.md`: its info string, text and first line.
struct Block {
    info: String,
    text: String,
    line: usize,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_owned(),
                    text: String::new(),
                    line: i + 1,
                })
            }
            (Some(_), Some("")) => blocks.extend(open.take()),
            (Some(block), _) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "docs/input.md has an unclosed code block");
    blocks
}

/// Every link an event gives.
fn links(event: &Event) -> Vec<Digest> {
    let mut links: Vec<Digest> = event.body.consumed().iter().map(|m| m.from).collect();
    if let Body::Receive(r) = &event.body {
        links.push(r.shipment);
    }
    links
}

#[test]
fn every_example_in_docs_input_validates_and_parses() {
    let validator = validator();
    let demo = demo_ledger(&validator);
    let mut examples: Vec<(usize, Event)> = Vec::new();
    let mut ids: Vec<(Digest, usize)> = Vec::new();
    let mut checked = (0, 0, 0);
    for block in blocks(INPUT_DOC) {
        let at = format!("docs/input.md line {}", block.line);
        match block.info.as_str() {
            // Standalone input: every link given, each an earlier example's id.
            "json" => {
                for value in values(&block.text) {
                    let errors = schema_errors(&validator, &value);
                    assert!(errors.is_empty(), "{at}: {errors:?}");
                    let event = parse_event(value, &NoContext, &mut || 7)
                        .unwrap_or_else(|e| panic!("{at} does not parse on its own: {e}"));
                    for link in links(&event) {
                        assert!(
                            ids.iter().any(|(id, _)| *id == link),
                            "{at}: {link} is not the id of an earlier example; the ids of \
                             the examples above, by line: {:?}",
                            ids.iter()
                                .map(|(id, line)| format!("{line}: {id}"))
                                .collect::<Vec<_>>()
                        );
                    }
                    let id = event_id(&codec::encode(&event).unwrap());
                    ids.push((id, block.line));
                    examples.push((block.line, event));
                    checked.0 += 1;
                }
            }
            // Input signed against the demo ledger, which fills in the links.
            "json ledger" => {
                let mut ledger = demo.clone();
                for value in values(&block.text) {
                    let errors = schema_errors(&validator, &value);
                    assert!(errors.is_empty(), "{at}: {errors:?}");
                    let event = parse_event(value, &ledger, &mut || 7)
                        .unwrap_or_else(|e| panic!("{at} does not parse in the demo ledger: {e}"));
                    ledger.learn(&event);
                    checked.1 += 1;
                }
            }
            // A signed statement as `custody sign` prints it: a real signature over the id
            // of one of the examples.
            "json output" => {
                for value in values(&block.text) {
                    let printed: StatementJson = serde_json::from_value(value)
                        .unwrap_or_else(|e| panic!("{at} is not a signed statement: {e}"));
                    let statement = Statement {
                        event: printed.event,
                        signer: printed.signer,
                        signature: printed.signature,
                    };
                    let id = statement.id().unwrap();
                    assert_eq!(id, printed.id, "{at}: the id is not the event's");
                    // Signed for the demo ledger, whose origin the text names.
                    let origin = Origin::new("demo.custody.example/ledger").unwrap();
                    statement
                        .verify_signature(&origin, &id)
                        .unwrap_or_else(|e| panic!("{at}: {e}"));
                    assert!(
                        examples.iter().any(|(_, e)| *e == statement.event),
                        "{at}: the signed event is none of the examples above it"
                    );
                    checked.2 += 1;
                }
            }
            "text" | "sh" => {}
            other => panic!("{at}: code block of unknown kind {other:?}"),
        }
    }
    // One standalone example per kind at least.
    let mut kinds: Vec<&str> = examples.iter().map(|(_, e)| e.body.kind().name()).collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds.len(), 11, "standalone examples of {kinds:?}");
    assert!(checked.1 >= 3 && checked.2 == 1, "{checked:?}");
}

/// Each case: (what it guards, JSON). Both the schema and the parser must refuse it.
const REFUSED_BY_BOTH: &[(&str, &str)] = &[
    (
        "unknown top-level field",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"saq","colour":"red"}"#,
    ),
    (
        "unknown field of an output",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","outputs":[{"lot":"X","material":"cobalt-sulfate","quantity":1,"unit":"kg","grade":"battery"}]}"#,
    ),
    (
        "unknown kind",
        r#"{"kind":"smelt","actor":"a","time":"2026-01-01T00:00:00Z"}"#,
    ),
    (
        "the fields of another kind",
        r#"{"kind":"ship","actor":"m","time":"2026-01-01T00:00:00Z","site":{"id":"S","country":"CD","lat":1,"lon":0,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#,
    ),
    (
        "kind not a string",
        r#"{"kind":5,"actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"saq"}"#,
    ),
    (
        "no kind",
        r#"{"actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"saq"}"#,
    ),
    (
        "both subjects",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x","lot":"y"},"claim":"saq"}"#,
    ),
    (
        "cap-opened without severity",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"cap-opened","reference":"C1"}"#,
    ),
    (
        "severity on another claim",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"saq","severity":"minor"}"#,
    ),
    (
        "fractional pieces",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","outputs":[{"lot":"X","material":"cell","quantity":2.5,"unit":"pcs"}]}"#,
    ),
    (
        "a mass fraction above 1",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","outputs":[{"lot":"X","material":"cobalt-sulfate","quantity":1,"unit":"kg","content":{"Co":1.2}}]}"#,
    ),
    (
        "capacity on a kg lot",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","outputs":[{"lot":"X","material":"cobalt-sulfate","quantity":1,"unit":"kg","capacity_kwh":1}]}"#,
    ),
    (
        "a component that starts with a digit",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"post-consumer","outputs":[{"lot":"X","material":"cobalt-sulfate","quantity":1,"unit":"kg","content":{"9Co":0.1}}]}"#,
    ),
    (
        "a quantity as a string",
        r#"{"kind":"ship","actor":"a","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"L","quantity":"5","unit":"kg","from":"1111111111111111111111111111111111111111111111111111111111111111"}]}"#,
    ),
    (
        "a zero quantity",
        r#"{"kind":"ship","actor":"a","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"L","quantity":0,"unit":"kg","from":"1111111111111111111111111111111111111111111111111111111111111111"}]}"#,
    ),
    (
        "an empty shipment",
        r#"{"kind":"ship","actor":"a","time":"2026-01-01T00:00:00Z","to":"b","lots":[]}"#,
    ),
    (
        "a space in an id",
        r#"{"kind":"ship","actor":"a","time":"2026-01-01T00:00:00Z","to":"b c","lots":[{"lot":"L","quantity":1,"unit":"kg","from":"1111111111111111111111111111111111111111111111111111111111111111"}]}"#,
    ),
    (
        "a time with an offset",
        r#"{"kind":"attest","actor":"a","time":"2026-02-03T00:00:00+00:00","subject":{"party":"x"},"claim":"saq"}"#,
    ),
    (
        "a short hash",
        r#"{"kind":"receive","actor":"a","time":"2026-01-01T00:00:00Z","shipment":"abcd","lots":[{"lot":"L","quantity":1,"unit":"kg"}]}"#,
    ),
    (
        "a score above 100",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","subject":{"party":"x"},"claim":"ssi","score":101}"#,
    ),
    (
        "a three-letter country",
        r#"{"kind":"extract","actor":"m","time":"2026-01-01T00:00:00Z","site":{"id":"S","country":"COD","lat":1,"lon":0,"method":"industrial"},"outputs":[{"lot":"X","material":"cobalt-ore","quantity":1,"unit":"kg"}]}"#,
    ),
    ("an array, not an event", r#"[1, 2]"#),
];

#[test]
fn unknown_fields_wrong_kinds_and_bad_values_are_refused_by_schema_and_parser() {
    let validator = validator();
    let mut failures = Vec::new();
    for (what, json) in REFUSED_BY_BOTH {
        let value: Value = serde_json::from_str(json).unwrap();
        if validator.is_valid(&value) {
            failures.push(format!("{what}: the schema accepts it"));
        }
        if let Ok(event) = parse_event(value, &NoContext, &mut || 7) {
            failures.push(format!("{what}: the parser accepts it as {event:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each case: (what it guards, JSON). The parser reads it, so the schema must accept it.
const ACCEPTED_BY_BOTH: &[(&str, &str)] = &[
    (
        "null for every optional field",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01T00:00:00Z","nonce":null,"emissions_kg_co2e":null,"documents":null,"subject":{"party":"x","lot":null},"claim":"saq","result":null,"score":null,"reference":null,"severity":null,"valid_until":null}"#,
    ),
    (
        "a lower-case t, and zero fractions of a second",
        r#"{"kind":"attest","actor":"a","time":"2026-01-01t00:00:00.000Z","subject":{"party":"x"},"claim":"saq"}"#,
    ),
    (
        "upper-case hex",
        r#"{"kind":"ship","actor":"a","time":"2026-01-01T00:00:00Z","to":"b","lots":[{"lot":"L","quantity":1,"unit":"kg","from":"ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"}]}"#,
    ),
    (
        "whole pieces written with a zero fraction",
        r#"{"kind":"recycle","actor":"r","time":"2026-01-01T00:00:00Z","feedstock":"pre-consumer","outputs":[{"lot":"X","material":"cell","quantity":12.0,"unit":"pcs","unit_mass_kg":0.07,"content":{"Co":0.025},"capacity_kwh":0.3}]}"#,
    ),
    (
        "the largest values",
        r#"{"kind":"recycle","actor":"r","time":"9999-12-31T23:59:59Z","nonce":18446744073709551615,"emissions_kg_co2e":1000000000,"feedstock":"pre-consumer","outputs":[{"lot":"X","material":"cell","quantity":1000000000000,"unit":"pcs","unit_mass_kg":1000,"content":{"Co":1000},"capacity_kwh":1000000},{"lot":"Y","material":"cobalt-sulfate","quantity":1000000000,"unit":"kg","content":{"Co":1}}]}"#,
    ),
    (
        "duplicate roles",
        r#"{"kind":"enroll","actor":"op","time":"2026-01-01T00:00:00Z","party":"p","name":"Négoce SARL","country":"CD","roles":["trader","trader"],"keys":["c0105fc062ba362ca4c27dc7510cfa1b1ef862a1a5f1e85d28779cf406b27335"]}"#,
    ),
];

#[test]
fn what_the_parser_reads_the_schema_accepts() {
    let validator = validator();
    let mut failures = Vec::new();
    for (what, json) in ACCEPTED_BY_BOTH {
        let value: Value = serde_json::from_str(json).unwrap();
        let errors = schema_errors(&validator, &value);
        if !errors.is_empty() {
            failures.push(format!("{what}: the schema refuses it: {errors:?}"));
        }
        if let Err(e) = parse_event(value, &NoContext, &mut || 7) {
            failures.push(format!("{what}: the parser refuses it: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
