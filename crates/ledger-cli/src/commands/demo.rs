//! `custody demo`: builds the demo supply chain of `ledger_scenario::demo` in a fresh
//! ledger, then verifies the battery module and prints its provenance.

use anyhow::{Context, Result};
use ledger::Silent;
use ledger_core::id::LotId;
use ledger_core::policy::Policy;
use ledger_scenario::demo::{self, MODULE, ORIGIN};
use serde_json::json;

use crate::cli::DemoArgs;
use crate::commands::trace::print_trace;
use crate::commands::verify::print_report;
use crate::{exit, keyfile};

/// Runs `custody demo`.
pub fn run(args: DemoArgs) -> Result<u8> {
    let temp;
    let (dir, kept) = match args.dir {
        Some(dir) => (dir, true),
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary directory")?;
            (temp.path().join("ledger"), false)
        }
    };
    // A ledger left behind with --dir comes with its operator key beside it, so its module
    // can be checkpointed and bundled (`--operator-key DIR.operator.pem`).
    let operator_key = keyfile::with_suffix(&dir, ".operator.pem");
    if kept {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        keyfile::write_pair(&operator_key, &demo::test_key(demo::OPERATOR))?;
    }
    let (ledger, keys) = match demo::enrolled_ledger(&dir) {
        Ok(built) => built,
        Err(e) => {
            if kept {
                keyfile::remove_pair(&operator_key);
            }
            return Err(e.into());
        }
    };
    crate::outln!("ledger {} (origin {ORIGIN})", dir.display());
    if kept {
        crate::outln!(
            "operator key {} (a deterministic test key: never use it for real data)",
            operator_key.display()
        );
    }
    crate::outln!("enrolled {} parties with test keys", keys.len() - 1);
    let mut ctx = ledger.signing_context();
    let appended = demo::append_events(&ledger, &keys, &mut ctx, demo::SCENARIO)?;
    crate::outln!("appended {appended} signed custody events");

    let lot = LotId::new(MODULE)?;
    let checked = ledger.verify_lot(&lot, &Policy::default(), ledger::now()?)?;
    crate::outln!();
    print_trace(&checked.trace);
    crate::outln!();
    print_report(&checked.report);
    let whole = ledger.verify(&Silent)?;
    crate::commands::close(ledger)?;
    crate::outln!(
        "whole ledger: {}, {} entries",
        json!(whole.verdict).as_str().unwrap_or_default(),
        whole.entries
    );
    Ok(exit::verdict(checked.report.verdict).max(exit::verdict(whole.verdict)))
}
