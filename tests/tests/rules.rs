//! Every rule code has a `fail_*` fixture in `fixtures/rules/` that produces exactly that
//! code, and nothing else, where it should:
//!
//! - refused by `append` with the code, leaving the ledger unchanged byte for byte (error rules checked
//!   per event);
//! - reported by `verify` when the same statement is injected through the store API,
//!   bypassing `append` (the store is not trusted);
//! - reported by `verify --lot` under the fixture's policy (provenance rules).
//!
//! Each fixture builds on `fixtures/rules/base.jsonl` in a ledger where the demo parties are
//! enrolled with their test keys. Every fixture runs on a sled ledger and again on a
//! PostgreSQL one (a throwaway cluster, `custody_tests::pg`): the rules are the same above
//! the store. In a fixture, `"$N"` stands for the id of the N-th setup
//! event (base first) and `"$key:NAME"` for the public test key of that name (a party's
//! enrolled key, or a fresh one for a name nobody enrolled).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use custody_tests::retry;
use ledger::{Error, Ledger, SigningContext, Silent, Tamper};
use ledger_core::finding::{Finding, Rule, Severity, Verdict};
use ledger_core::hash::Digest;
use ledger_core::id::LotId;
use ledger_core::policy::Policy;
use ledger_core::statement::Statement;
use ledger_scenario::demo::{self, TestKeys, enroll_parties, enrolled_ledger, test_key};
use ledger_store::SledStore;
use ledger_store_postgres::cluster::Cluster;
use ledger_store_postgres::{AnyStore, PgStore};
use libtest_mimic::{Arguments, Failed, Trial};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    rule: String,
    description: String,
    #[serde(default)]
    setup: Vec<Value>,
    violation: Option<Value>,
    sign_as: Option<String>,
    tamper: Option<String>,
    lot: Option<String>,
    policy: Option<Policy>,
    #[serde(default)]
    also: Vec<String>,
    /// Codes the lot's verdict also gives (due-diligence gaps left once a bad entry counts
    /// for nothing), which `append` does not.
    #[serde(default)]
    verdict_also: Vec<String>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/rules")
}

/// Replaces `"$N"` and `"$key:PARTY"` strings.
fn substitute(value: &mut Value, ids: &[Digest], keys: &TestKeys) {
    match value {
        Value::String(s) => {
            if let Some(party) = s.strip_prefix("$key:") {
                // A party's enrolled key, or the test key of a name nobody enrolled.
                *s = keys
                    .get(party)
                    .map_or_else(|| test_key(party).public_key(), |k| k.public_key())
                    .to_hex();
            } else if let Some(n) = s.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                *s = ids[n].to_hex();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, ids, keys)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, ids, keys)),
        _ => {}
    }
}

fn sign(keys: &TestKeys, ctx: &mut SigningContext<'_>, event: &Value, signer: &str) -> Statement {
    // A party's enrolled key, or the test key of a party a fixture enrolls.
    let fresh = test_key(signer);
    let key = keys.get(signer).unwrap_or(&fresh);
    let mut out = ctx
        .sign_text(&event.to_string(), "fixture", &|_| Ok(key), &mut || 7)
        .unwrap();
    assert_eq!(out.len(), 1);
    out.remove(0)
}

/// How a fixture's `tamper` damages the injected entry.
fn tamper(name: Option<&str>) -> Tamper {
    match name {
        Some("entry-seq") => Tamper::Seq,
        Some("entry-prev") => Tamper::Prev,
        Some("entry-garbage") => Tamper::Garbage,
        _ => Tamper::None,
    }
}

fn error_codes(findings: &[Finding]) -> BTreeSet<String> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.rule.code().to_owned())
        .collect()
}

/// A ledger's stored records, byte for byte: every key and value of a sled database and
/// its acknowledged-head file, or every row of a PostgreSQL ledger's tables.
type Dump = (Vec<(Vec<u8>, Vec<u8>)>, Option<Vec<u8>>);

/// Where a fixture's ledger is kept.
#[derive(Clone, Copy)]
enum Backend<'a> {
    Sled,
    Postgres(&'a Cluster),
}

/// A fixture's fresh ledger: a sled directory, or a new database.
struct Place {
    dir: tempfile::TempDir,
    url: Option<String>,
}

impl Place {
    fn new(backend: Backend<'_>) -> Place {
        Place {
            dir: tempfile::tempdir().unwrap(),
            url: match backend {
                Backend::Sled => None,
                Backend::Postgres(cluster) => Some(cluster.database().unwrap()),
            },
        }
    }

    fn sled_dir(&self) -> PathBuf {
        self.dir.path().join("ledger")
    }

    /// The demo parties' ledger, enrolled with their test keys.
    fn create(&self) -> Result<(Ledger<AnyStore>, TestKeys), String> {
        let store = match &self.url {
            None => AnyStore::Sled(
                SledStore::create(self.sled_dir(), demo::ORIGIN).map_err(|e| e.to_string())?,
            ),
            Some(url) => {
                AnyStore::Postgres(PgStore::create(url, demo::ORIGIN).map_err(|e| e.to_string())?)
            }
        };
        enroll_parties(store).map_err(|e| e.to_string())
    }

    /// The ledger's records byte for byte, and the ledger again (a sled ledger is closed
    /// to be read and opened again).
    fn dump(&self, ledger: Ledger<AnyStore>) -> (Ledger<AnyStore>, Dump) {
        let Some(url) = &self.url else {
            drop(ledger);
            let dir = self.sled_dir();
            let db = retry(|| sled::open(&dir));
            let records = db
                .iter()
                .map(|item| {
                    let (k, v) = item.unwrap();
                    (k.to_vec(), v.to_vec())
                })
                .collect();
            drop(db);
            let acknowledged = std::fs::read(dir.join("acknowledged-head")).ok();
            let ledger = Ledger::open(AnyStore::Sled(retry(|| SledStore::open(&dir)))).unwrap();
            return (ledger, (records, acknowledged));
        };
        let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
        let mut rows: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for row in client
            .query("SELECT key, value FROM custody_records ORDER BY key", &[])
            .unwrap()
        {
            rows.push((row.get(0), row.get(1)));
        }
        for row in client
            .query("SELECT seq, bytes FROM custody_entries ORDER BY seq", &[])
            .unwrap()
        {
            let seq: i64 = row.get(0);
            rows.push((seq.to_be_bytes().to_vec(), row.get(1)));
        }
        let head = client
            .query_one("SELECT size, last FROM custody_head WHERE id = 1", &[])
            .unwrap();
        let size: i64 = head.get(0);
        let last: Vec<u8> = head.get(1);
        (
            ledger,
            (rows, Some([size.to_be_bytes().to_vec(), last].concat())),
        )
    }
}

/// Opens the ledger in `dir` again, once this process's last handle has let go of it.
fn reopen(dir: &Path) -> Ledger<SledStore> {
    Ledger::open(retry(|| SledStore::open(dir))).unwrap()
}

fn check(path: &Path, backend: Backend<'_>) -> Result<(), String> {
    let fixture: Fixture =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).map_err(|e| e.to_string())?;
    let rule = Rule::from_code(&fixture.rule).ok_or("unknown rule code")?;
    let expected: BTreeSet<String> = [fixture.rule.clone()]
        .into_iter()
        .chain(fixture.also.clone())
        .collect();
    let place = Place::new(backend);
    let (mut ledger, keys) = place.create()?;
    let mut ctx = ledger.signing_context();
    let base = std::fs::read_to_string(fixtures_dir().join("base.jsonl")).unwrap();
    let mut setup: Vec<Value> = base
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    setup.extend(fixture.setup.iter().cloned());
    let mut ids = Vec::new();
    for mut event in setup {
        substitute(&mut event, &ids, &keys);
        let actor = event["actor"].as_str().unwrap().to_owned();
        let statement = sign(&keys, &mut ctx, &event, &actor);
        ids.push(statement.id().unwrap());
        if let Err(e) = ledger.append(vec![statement], ledger::now().unwrap(), &Silent) {
            return Err(format!("setup event refused: {e}"));
        }
    }
    if let Some(mut violation) = fixture.violation.clone() {
        substitute(&mut violation, &ids, &keys);
        let actor = violation["actor"].as_str().unwrap().to_owned();
        let signer = fixture.sign_as.clone().unwrap_or(actor);
        let mut statement = sign(&keys, &mut ctx, &violation, &signer);
        drop(ctx);
        if fixture.tamper.as_deref() == Some("signature") {
            statement.signature.0[10] ^= 0x01;
        }
        // Append and injection record the statement at the same time, so the texts of the
        // findings the one check gives must be the same both ways.
        let recorded_at = ledger::now().unwrap();
        let mut refused_with = Vec::new();
        let store_tamper = matches!(
            fixture.tamper.as_deref(),
            Some("entry-garbage" | "entry-seq" | "entry-prev" | "inject")
        );
        if !store_tamper {
            let (reopened, before) = place.dump(ledger);
            ledger = reopened;
            assert!(
                !before.0.is_empty() && before.1.is_some(),
                "nothing to compare"
            );
            let outcome = ledger.append(vec![statement.clone()], recorded_at, &Silent);
            match (rule.severity(), outcome) {
                (Severity::Error, Err(Error::Refused(refused))) => {
                    let findings: Vec<Finding> =
                        refused.findings.into_iter().map(|(_, f)| f).collect();
                    if error_codes(&findings) != expected {
                        return Err(format!(
                            "append refused with {:?}, expected {expected:?}",
                            error_codes(&findings)
                        ));
                    }
                    refused_with = findings;
                    let (reopened, after) = place.dump(ledger);
                    ledger = reopened;
                    if after != before {
                        return Err("a refused append changed the ledger's bytes".into());
                    }
                }
                (_, Err(e @ Error::Refused(_))) => {
                    return Err(format!("append refused a warning: {e}"));
                }
                (_, Err(e)) => return Err(format!("append failed: {e}")),
                (Severity::Error, Ok(_)) => return Err("append accepted a violation".into()),
                (Severity::Warning, Ok(_)) => {
                    let report = ledger.verify(&Silent).map_err(|e| e.to_string())?;
                    let found = report
                        .findings
                        .iter()
                        .any(|f| f.rule == rule && f.severity == Severity::Warning);
                    if !found || report.verdict != Verdict::Pass {
                        return Err(format!(
                            "verify did not report the warning: {:?}",
                            report.findings
                        ));
                    }
                    return Ok(());
                }
            }
        }
        ledger
            .inject(statement, recorded_at, tamper(fixture.tamper.as_deref()))
            .map_err(|e| e.to_string())?;
        if fixture.lot.is_none() {
            let report = ledger.verify(&Silent).map_err(|e| e.to_string())?;
            for refused in &refused_with {
                if !report.findings.contains(refused) {
                    return Err(format!(
                        "append refused with \"{refused}\" but verify does not report the same \
                         finding: {:?}",
                        report.findings
                    ));
                }
            }
            if error_codes(&report.findings) != expected {
                return Err(format!(
                    "verify after injection found {:?}, expected {expected:?}: {:?}",
                    error_codes(&report.findings),
                    report.findings
                ));
            }
            return Ok(());
        }
    }
    let lot = LotId::new(
        fixture
            .lot
            .clone()
            .ok_or("fixture has neither violation nor lot")?,
    )
    .unwrap();
    let policy = fixture.policy.clone().unwrap_or_default();
    let expected: BTreeSet<String> = expected
        .into_iter()
        .chain(fixture.verdict_also.clone())
        .collect();
    let now = ledger::now().unwrap();
    let report = ledger
        .verify_lot(&lot, &policy, now)
        .map_err(|e| e.to_string())?
        .report;
    if error_codes(&report.findings) != expected || report.verdict != Verdict::Fail {
        return Err(format!(
            "verify --lot found {:?}, expected {expected:?}: {:?}",
            error_codes(&report.findings),
            report.findings
        ));
    }
    lot_paths(&ledger, &keys, &lot, &policy, &expected, &report.findings)?;
    let _ = fixture.description;
    Ok(())
}

/// Every other path a lot's verdict takes must fail the same way `verify --lot` did
/// (`lot_findings`): the report, the exported bundle verified offline with the operator's
/// key (the same error codes), and whole-ledger `verify --policy` (every one of the lot's
/// findings among its own; it covers every product lot, so it may find more).
fn lot_paths(
    ledger: &Ledger<AnyStore>,
    keys: &TestKeys,
    lot: &LotId,
    policy: &Policy,
    expected: &BTreeSet<String>,
    lot_findings: &[Finding],
) -> Result<(), String> {
    let now = ledger::now().unwrap();
    let report = ledger.report(lot, policy, now).map_err(|e| e.to_string())?;
    if report.verdict != Verdict::Fail {
        return Err("the report of the lot passes".into());
    }
    // The report's due diligence says what the verdict says: a due-diligence error fails
    // some party or lot there too, and no attestation that failed a check (any error but a due-diligence
    // gap it is the evidence of) is shown.
    let data = &report.data;
    let dd_error = lot_findings.iter().any(|f| {
        f.severity == Severity::Error
            && matches!(
                f.rule,
                Rule::MissingAttestation | Rule::OpenCorrectiveAction
            )
    });
    let fails = data
        .parties
        .iter()
        .map(|p| p.verdict)
        .chain(data.lot_statuses.iter().map(|l| l.verdict))
        .any(|v| v == ledger_report::figures::DdVerdict::Fails);
    if dd_error != fails {
        return Err(format!(
            "the report's due diligence (fails: {fails}) disagrees with the verdict's \
             (a due-diligence error: {dd_error})"
        ));
    }
    let shown = data
        .parties
        .iter()
        .flat_map(|p| &p.attestations)
        .chain(data.lot_statuses.iter().flat_map(|l| &l.attestations));
    for row in shown {
        if lot_findings.iter().any(|f| {
            f.severity == Severity::Error
                && f.event == Some(row.record.event)
                && !matches!(
                    f.rule,
                    Rule::MissingAttestation | Rule::OpenCorrectiveAction
                )
        }) {
            return Err(format!(
                "the report shows attestation #{} that failed a check",
                row.record.seq
            ));
        }
    }
    let exported = ledger
        .export_bundle(lot, Some(&keys[ledger_scenario::demo::OPERATOR]), now)
        .map_err(|e| format!("export-bundle: {e}"))?;
    let offline =
        ledger_core::bundle::verify_bytes(&exported.bytes, Some(&exported.verifier), policy, now)
            .map_err(|e| e.to_string())?;
    if error_codes(&offline.findings) != *expected
        || ledger_core::finding::verdict(&offline.findings) != Verdict::Fail
    {
        return Err(format!(
            "verify --bundle found {:?}, expected {expected:?}: {:?}",
            error_codes(&offline.findings),
            offline.findings
        ));
    }
    let whole = ledger
        .verify_with_policy(&Silent, &[], policy, now)
        .map_err(|e| e.to_string())?;
    let missing: Vec<&Finding> = lot_findings
        .iter()
        .filter(|f| f.severity == Severity::Error && !whole.findings.contains(f))
        .collect();
    if whole.verdict != Verdict::Fail || !missing.is_empty() {
        return Err(format!(
            "whole-ledger verify --policy misses {missing:?} of verify --lot: {:?}",
            whole.findings
        ));
    }
    Ok(())
}

fn every_rule_has_a_failing_fixture_that_fails_exactly_there() {
    every_rule_fails_exactly_there(Backend::Sled);
}

fn every_rule_fails_the_same_on_a_postgres_ledger(cluster: &Cluster) {
    every_rule_fails_exactly_there(Backend::Postgres(cluster));
}

fn every_rule_fails_exactly_there(backend: Backend<'_>) {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("fail_")
        })
        .collect();
    paths.sort();
    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    for path in &paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match check(path, backend) {
            Ok(()) => {
                let fixture: Value =
                    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
                covered.insert(fixture["rule"].as_str().unwrap().to_owned());
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures wrong:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
    // CUS-INT-007 (checkpoints) is covered by the transparency tests, CUS-INT-008 (a
    // tampered index) by `fail_a_forgotten_attestation_index_record_fails_verify` below,
    // CUS-WIT-001 and -002 (witness policies) by tests/tests/witnessed.rs.
    let elsewhere = ["CUS-INT-007", "CUS-INT-008", "CUS-WIT-001", "CUS-WIT-002"];
    let missing: Vec<&str> = Rule::ALL
        .iter()
        .map(|r| r.code())
        .filter(|c| !covered.contains(*c) && !elsewhere.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a fail_ fixture: {missing:?}"
    );
}

/// A store that loses the index record of a failed audit hides it from every command that
/// reads the index; whole-ledger `verify` derives the index from the entries and says so.
fn fail_a_forgotten_attestation_index_record_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let ledger_dir = dir.path().join("ledger");
    let (ledger, keys) = enrolled_ledger(&ledger_dir).unwrap();
    let audit = serde_json::json!({"kind": "attest", "actor": "rba-auditor-7",
        "time": "2026-03-01T00:00:00Z", "nonce": 40, "subject": {"party": "kivu-mining"},
        "claim": "onsite-audit", "result": "fail"});
    let mut ctx = ledger.signing_context();
    let statement = sign(&keys, &mut ctx, &audit, "rba-auditor-7");
    drop(ctx);
    let receipt = ledger
        .append(vec![statement], ledger::now().unwrap(), &Silent)
        .unwrap()
        .remove(0);
    let clean = ledger.verify(&Silent).unwrap();
    assert!(
        !error_codes(&clean.findings).contains("CUS-INT-008"),
        "{:?}",
        clean.findings
    );
    let store = ledger.into_store();
    let party = ledger_core::id::PartyId::new("kivu-mining").unwrap();
    assert!(store.forget_attestation(&party, receipt.seq).unwrap());
    store.close().unwrap();
    let report = reopen(&ledger_dir).verify(&Silent).unwrap();
    assert_eq!(report.verdict, Verdict::Fail);
    let finding = report
        .findings
        .iter()
        .find(|f| f.rule == Rule::IndexMismatch)
        .expect("an index finding");
    assert!(
        finding.message.contains(&format!(
            "attestations about party kivu-mining leaves out #{}",
            receipt.seq
        )),
        "{finding}"
    );
}

/// A store that holds a lot record no entry names (a lot made up to pass for sourced
/// material) gets past every command that reads the store; whole-ledger `verify` lists the
/// store's lots against the log's and says so.
fn fail_a_lot_record_no_entry_names_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let ledger_dir = dir.path().join("ledger");
    let (ledger, keys) = enrolled_ledger(&ledger_dir).unwrap();
    let extract = serde_json::json!({"kind": "extract", "actor": "kivu-mining",
        "time": "2026-03-01T00:00:00Z", "nonce": 41,
        "site": {"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47,
                 "method": "industrial"},
        "outputs": [{"lot": "KV-W-9", "material": "cobalt-ore", "quantity": 1000,
                     "unit": "kg", "content": {"Co": 0.031}}]});
    let mut ctx = ledger.signing_context();
    let statement = sign(&keys, &mut ctx, &extract, "kivu-mining");
    drop(ctx);
    ledger
        .append(vec![statement], ledger::now().unwrap(), &Silent)
        .unwrap();
    let clean = ledger.verify(&Silent).unwrap();
    assert_eq!(clean.counts.errors, 0, "{:?}", clean.findings);
    let store = ledger.into_store();
    let (real, made_up) = (
        LotId::new("KV-W-9").unwrap(),
        LotId::new("KV-W-10").unwrap(),
    );
    assert!(store.copy_lot_record(&real, &made_up).unwrap());
    store.close().unwrap();
    let report = reopen(&ledger_dir).verify(&Silent).unwrap();
    assert_eq!(report.verdict, Verdict::Fail);
    let found: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.rule == Rule::IndexMismatch)
        .collect();
    assert_eq!(found.len(), 1, "{:?}", report.findings);
    assert!(
        found[0]
            .message
            .contains("the store holds lot KV-W-10, which no entry in the log names"),
        "{}",
        found[0]
    );
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let sled: [(&str, fn()); 3] = [
        (
            "every_rule_has_a_failing_fixture_that_fails_exactly_there",
            every_rule_has_a_failing_fixture_that_fails_exactly_there,
        ),
        (
            "fail_a_forgotten_attestation_index_record_fails_verify",
            fail_a_forgotten_attestation_index_record_fails_verify,
        ),
        (
            "fail_a_lot_record_no_entry_names_fails_verify",
            fail_a_lot_record_no_entry_names_fails_verify,
        ),
    ];
    let mut trials: Vec<Trial> = sled
        .into_iter()
        .map(|(name, body)| {
            Trial::test(name, move || {
                body();
                Ok::<(), Failed>(())
            })
        })
        .collect();
    let (postgres, cluster) = custody_tests::pg::trials(
        &[(
            "every_rule_fails_the_same_on_a_postgres_ledger",
            every_rule_fails_the_same_on_a_postgres_ledger,
        )],
        args.list,
    );
    trials.extend(postgres);
    let conclusion = libtest_mimic::run(&args, trials);
    drop(cluster);
    conclusion.exit_code()
}
