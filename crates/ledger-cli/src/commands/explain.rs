//! `custody explain CODE`: a rule's meaning and what to do about a finding, read from
//! `docs/verification.md` (built into the binary), so the command and the document cannot
//! disagree.

use anyhow::{Result, bail};
use ledger_core::finding::Rule;

use crate::exit;

/// The rule reference, as the repository has it.
const VERIFICATION: &str = include_str!("../../../../docs/verification.md");

/// A rule's rows in `docs/verification.md`: (severity, meaning) from its rule table and the
/// sentence of "What to do about each finding".
fn rows(code: &str) -> (Option<(String, String)>, Option<String>) {
    let mut meaning = None;
    let mut fix = None;
    for line in VERIFICATION.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split(" | ")
            .map(str::trim)
            .collect();
        if cells.first() != Some(&code) {
            continue;
        }
        match cells.len() {
            2 => fix = Some(cells[1].to_owned()),
            n if n >= 3 => meaning = Some((cells[1].to_owned(), cells[2].to_owned())),
            _ => {}
        }
    }
    (meaning, fix)
}

/// Runs `custody explain CODE`.
pub fn run(code: &str) -> Result<u8> {
    let code = code.trim().to_ascii_uppercase();
    let Some(rule) = Rule::from_code(&code) else {
        let known: Vec<&str> = Rule::ALL.iter().map(|r| r.code()).collect();
        bail!(
            "{code} is not a rule code; the codes are {}",
            known.join(", ")
        );
    };
    let (meaning, fix) = rows(rule.code());
    match meaning {
        Some((severity, meaning)) => crate::outln!("{} ({severity}): {meaning}", rule.code()),
        None => crate::outln!("{}: {}", rule.code(), rule.summary()),
    }
    if let Some(fix) = fix {
        crate::outln!("what to do: {fix}");
    }
    match shown_by(rule) {
        Some(test) => crate::outln!("test: {test}"),
        None => crate::outln!("fixture: fixtures/rules/fail_{}.json", fixture_name(rule)),
    }
    Ok(exit::SUCCESS)
}

/// The test that shows a rule no `fail_` fixture can: rules about the store's own records,
/// which a fixture (one statement appended or injected) cannot damage, and rules about
/// witnesses, which a fixture has none of.
fn shown_by(rule: Rule) -> Option<&'static str> {
    match rule {
        Rule::CheckpointMismatch => Some("tests/tests/transparency.rs"),
        Rule::IndexMismatch => {
            Some("tests/tests/rules.rs, fail_a_forgotten_attestation_index_record_fails_verify")
        }
        Rule::Unwitnessed | Rule::StaleCheckpoint => Some(
            "tests/tests/witnessed.rs, forks_rollbacks_and_stale_bundles_are_caught_by_the_witness_policy",
        ),
        _ => None,
    }
}

/// `CUS-BAL-001` → `bal_001`, the name of its `fail_` fixture.
fn fixture_name(rule: Rule) -> String {
    let code = rule.code();
    code.strip_prefix("CUS-")
        .unwrap_or(code)
        .to_ascii_lowercase()
        .replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_every_rule_has_a_meaning_and_a_fix_in_the_document() {
        for rule in Rule::ALL {
            let (meaning, fix) = rows(rule.code());
            assert!(
                meaning.is_some(),
                "{} has no row in a rule table",
                rule.code()
            );
            assert!(fix.is_some(), "{} has no row under What to do", rule.code());
        }
    }

    #[test]
    fn every_rule_names_its_existing_fixture() {
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/rules");
        for rule in Rule::ALL {
            let name = format!("fail_{}.json", fixture_name(*rule));
            if shown_by(*rule).is_none() {
                assert!(fixtures.join(&name).is_file(), "{name}");
            }
        }
    }
}
