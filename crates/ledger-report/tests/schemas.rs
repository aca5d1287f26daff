//! Positive and negative controls for the schema validation the report tests rely on: the
//! GS1 EPCIS 2.0 examples validate against the EPCIS JSON Schema (draft-07) and mutated
//! copies do not; the Battery Pass sample payloads validate against their draft-04 aspect
//! schemas, except the one that is invalid upstream.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code (a libtest-mimic harness, no #[test] fns): a panic is a failing test"
)]

mod common;

use std::path::Path;
use std::process::ExitCode;

use common::{Suite, TestResult};
use serde_json::Value;

fn main() -> ExitCode {
    let mut suite = Suite::new();
    suite.test(
        "gs1_epcis_examples_validate_and_mutations_do_not",
        &[],
        gs1_epcis_examples_validate_and_mutations_do_not,
    );
    suite.test(
        "battery_pass_sample_payloads_validate_except_the_invalid_one",
        &[],
        battery_pass_sample_payloads_validate_except_the_invalid_one,
    );
    suite.run()
}

fn read(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn gs1_epcis_examples_validate_and_mutations_do_not(vectors: &Path) -> TestResult {
    let schema = read(&vectors.join("epcis/EPCIS-JSON-Schema.json"));
    let validator = common::validator(&schema, jsonschema::Draft::Draft7);
    let mut examples = common::files(&vectors.join("epcis/JSON"), ".jsonld");
    examples.extend(common::files(
        &vectors.join("epcis/hash-examples"),
        ".jsonld",
    ));
    assert_eq!(examples.len(), 14, "10 GS1 examples and 4 hash examples");
    for file in &examples {
        let doc = read(file);
        let errors = common::errors(&validator, &doc);
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
    }
    let base = read(
        &vectors
            .join("epcis/JSON/WithFullCombinationOfFields/object_event_all_possible_fields.jsonld"),
    );
    type Mutation = (&'static str, fn(&mut Value));
    let mutations: [Mutation; 4] = [
        ("action FOO", |d| {
            d["epcisBody"]["eventList"][0]["action"] = "FOO".into()
        }),
        ("no eventTime", |d| {
            d["epcisBody"]["eventList"][0]
                .as_object_mut()
                .unwrap()
                .remove("eventTime");
        }),
        ("no @context", |d| {
            d.as_object_mut().unwrap().remove("@context");
        }),
        ("string epcList", |d| {
            d["epcisBody"]["eventList"][0]["epcList"] = "urn:epc:id:sgtin:1.2.3".into()
        }),
    ];
    for (what, mutate) in mutations {
        let mut doc = base.clone();
        mutate(&mut doc);
        assert!(
            !common::errors(&validator, &doc).is_empty(),
            "the validator must reject: {what}"
        );
    }
    Ok(())
}

fn battery_pass_sample_payloads_validate_except_the_invalid_one(vectors: &Path) -> TestResult {
    let bp = vectors.join("batterypass");
    let cases = [
        (
            "io.BatteryPass.CarbonFootprint/1.2.0/gen/CarbonFootprintForBatteries",
            "-payload.json",
            true,
        ),
        (
            "io.BatteryPass.Circularity/1.2.0/gen/Circularity",
            ".json",
            true,
        ),
        (
            "io.BatteryPass.SupplyChainDueDiligence/1.2.0/gen/SupplyChainDueDiligence",
            "-payload.json",
            true,
        ),
        (
            "io.BatteryPass.MaterialComposition/1.2.0/gen/MaterialComposition",
            "-payload.json",
            false,
        ),
    ];
    for (stem, payload, valid) in cases {
        let schema = read(&bp.join(format!("{stem}-schema.json")));
        let validator = common::validator(&schema, jsonschema::Draft::Draft4);
        let errors = common::errors(&validator, &read(&bp.join(format!("{stem}{payload}"))));
        assert_eq!(errors.is_empty(), valid, "{stem}: {errors:?}");
    }
    Ok(())
}
