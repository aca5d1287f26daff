//! `custody bench`: runs `ledger_scenario::bench` and prints each figure next to the bound
//! the primitives measured in the same run set.

use anyhow::{Context, Result};
use ledger_core::plural::counted;
use ledger_scenario::bench::{BenchReport, bench};

use crate::cli::BenchArgs;
use crate::commands::print_json;
use crate::exit;

fn print(r: &BenchReport) {
    crate::outln!(
        "custody bench: {}, {}",
        counted(r.events, "event", "events"),
        counted(r.threads, "thread", "threads")
    );
    crate::outln!("primitives (curve arithmetic: {})", r.curve_backend);
    crate::outln!(
        "  ed25519 dalek verify_strict {:>12.0} /s  ({:.0} /s on all cores)",
        r.ed25519_verify_strict_per_s,
        r.ed25519_verify_strict_all_cores_per_s
    );
    crate::outln!(
        "  ed25519 rule, single        {:>12.0} /s  ({:.0} /s on all cores)",
        r.ed25519_single_per_s,
        r.ed25519_single_all_cores_per_s
    );
    crate::outln!(
        "  ed25519 rule, batch of 256  {:>12.0} /s  ({:.0} /s on all cores; distinct keys)",
        r.ed25519_batch_per_s,
        r.ed25519_batch_all_cores_per_s
    );
    crate::outln!(
        "  ed25519 rule, ledger batch  {:>12.0} /s  ({:.0} /s on all cores; {:.0} signers per 256)",
        r.ed25519_batch_ledger_per_s,
        r.ed25519_batch_ledger_all_cores_per_s,
        r.ledger_signers_per_batch
    );
    crate::outln!(
        "  SHA-256 over an entry       {:>12.0} /s",
        r.sha256_entry_per_s
    );
    crate::outln!(
        "  sled insert (batch of 1000) {:>12.0} /s",
        r.sled_insert_per_s
    );
    crate::outln!("custody");
    crate::outln!(
        "  append                      {:>12.0} /s  {:.2}x of bound {:.0} /s",
        r.append_per_s,
        r.append_ratio,
        r.bound_append_per_s
    );
    crate::outln!(
        "  verify (whole ledger)       {:>12.0} /s  {:.2}x of bound {:.0} /s",
        r.verify_per_s,
        r.verify_ratio,
        r.bound_verify_per_s
    );
    crate::outln!(
        "  verify --lot + trace        {:>12.1} ms  ({} upstream events)",
        r.trace_ms,
        r.trace_events
    );
    crate::outln!(
        "  inclusion proofs served     {:>12.0} /s  (all cores)",
        r.proofs_per_s
    );
    crate::outln!("  peak RSS of verify          {:>12.1} MB", r.peak_rss_mb);
    crate::outln!(
        "  peak RSS of append          {:>12.1} MB  ({} in one custody append, {:.0} /s)",
        r.append_peak_rss_mb,
        counted(r.append_child_statements, "statement", "statements"),
        r.append_child_per_s
    );
    crate::outln!(
        "  on disk                     {:>12.0} B per event",
        r.bytes_per_event
    );
    if let Some(pg) = &r.postgres {
        crate::outln!("postgresql ({})", pg.store);
        crate::outln!(
            "  append                      {:>12.0} /s  {:.2}x of sled",
            pg.append_per_s,
            pg.append_vs_sled
        );
        crate::outln!(
            "  verify (whole ledger)       {:>12.0} /s  {:.2}x of sled",
            pg.verify_per_s,
            pg.verify_vs_sled
        );
        crate::outln!("  verify --lot + trace        {:>12.1} ms", pg.trace_ms);
        crate::outln!(
            "  inclusion proofs served     {:>12.0} /s  (all cores)",
            pg.proofs_per_s
        );
        crate::outln!(
            "  peak RSS of append          {:>12.1} MB",
            pg.append_peak_rss_mb
        );
        crate::outln!(
            "  on disk                     {:>12.0} B per event",
            pg.bytes_per_event
        );
    }
}

/// Runs `custody bench`.
pub fn run(args: BenchArgs) -> Result<u8> {
    use std::io::IsTerminal;
    let custody = std::env::current_exe().context("cannot find the custody executable")?;
    let report = bench(
        &custody,
        args.events,
        args.dir.as_deref(),
        args.store.as_deref(),
        std::io::stderr().is_terminal(),
    )?;
    if args.json {
        print_json(&report)?;
    } else {
        print(&report);
    }
    Ok(exit::SUCCESS)
}
