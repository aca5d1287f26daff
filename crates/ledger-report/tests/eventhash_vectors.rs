//! The CBV 2.0 event hash against the reference implementation's published examples
//! (`shared/vectors/epcis/hash-examples`): every event's pre-hash string and hash ID, line
//! by line.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code (a libtest-mimic harness, no #[test] fns): a panic is a failing test"
)]

mod common;

use std::path::Path;
use std::process::ExitCode;

use common::{Need, Suite, TestResult};
use ledger_report::eventhash::{hash_id, prehashes};
use ledger_report::ldjson::Json;

/// The reference event hash generator, for the comparison with GS1's examples.
const HASH_GENERATOR: Need = Need::Python {
    module: "epcis_event_hash_generator",
    install: "pip install epcis-event-hash-generator==1.9.3, see .ci/requirements.txt",
};

fn main() -> ExitCode {
    let mut suite = Suite::new();
    suite.test(
        "reference_examples_reproduce_prehashes_and_hashes_line_by_line",
        &[],
        reference_examples_reproduce_prehashes_and_hashes_line_by_line,
    );
    suite.test(
        "gs1_examples_hash_as_the_reference_generator_hashes_them",
        &[HASH_GENERATOR],
        gs1_examples_hash_as_the_reference_generator_hashes_them,
    );
    suite.run()
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

fn reference_examples_reproduce_prehashes_and_hashes_line_by_line(vectors: &Path) -> TestResult {
    let examples = common::files(&vectors.join("epcis/hash-examples"), ".jsonld");
    assert_eq!(examples.len(), 4, "the four published examples");
    let mut events = 0;
    for file in examples {
        let doc = Json::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let ours = prehashes(&doc).unwrap();
        let expected_pre = lines(&file.with_extension("prehashes"));
        let expected_hash = lines(&file.with_extension("hashes"));
        assert_eq!(
            ours.len(),
            expected_pre.len(),
            "{}: number of events",
            file.display()
        );
        for (i, (pre, (want_pre, want_hash))) in ours
            .iter()
            .zip(expected_pre.iter().zip(&expected_hash))
            .enumerate()
        {
            assert_eq!(pre, want_pre, "{} event {i}: pre-hash", file.display());
            assert_eq!(
                &hash_id(pre),
                want_hash,
                "{} event {i}: hash",
                file.display()
            );
            events += 1;
        }
    }
    assert_eq!(events, 16);
    Ok(())
}

fn gs1_examples_hash_as_the_reference_generator_hashes_them(vectors: &Path) -> TestResult {
    let examples = common::files(&vectors.join("epcis/JSON"), ".jsonld");
    assert_eq!(examples.len(), 10);
    let mut compared = 0;
    for file in examples {
        // The reference itself rejects transformation_event_all_possible_fields.jsonld
        // (PyLD: "tried to redefine a protected term"); there is nothing to compare with.
        let Ok(reference) = common::reference_hashes(&file) else {
            continue;
        };
        let doc = Json::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let ours: Vec<String> = prehashes(&doc)
            .unwrap()
            .iter()
            .map(|p| hash_id(p))
            .collect();
        assert_eq!(ours, reference, "{}", file.display());
        compared += 1;
    }
    assert_eq!(compared, 9);
    Ok(())
}
