//! `custody label`: the SVG label of a battery module, with the QR code of its passport's
//! GS1 Digital Link URL. The GTIN and serial come from the binding that the lot's creator
//! signed in the creating event (`docs/passport.md`), so a label can only say what the
//! ledger holds.

use std::path::Path;

use anyhow::{Context, Result, bail};
use ledger_core::state::StateView;
use ledger_report::gs1;

use crate::cli::LabelArgs;
use crate::commands::{close, open_to_read};

/// Runs `custody label`.
pub fn run(dir: &Path, args: &LabelArgs) -> Result<u8> {
    let ledger = open_to_read(dir)?;
    let lot = ledger
        .store()
        .lot(&args.lot)?
        .with_context(|| format!("lot {} is not in the ledger", args.lot))?;
    let seq = ledger.position(&lot.created_by)?;
    let created = ledger.entry(seq)?;
    close(ledger)?;
    let found = gs1::bindings(&created.entry.statement.event)
        .with_context(|| format!("the event that created {} (#{seq})", args.lot))?;
    let Some(binding) = found.into_iter().find(|b| b.lot == args.lot) else {
        bail!(
            "lot {} is bound to no GTIN and serial: its creating event (#{seq}) has no \"{}lot={} gtin=… serial=…\" document",
            args.lot,
            gs1::BINDING_PREFIX,
            args.lot
        );
    };
    let svg = gs1::label_svg(&binding, &args.base_url)
        .with_context(|| format!("cannot draw the QR code of {}", binding.url(&args.base_url)))?;
    crate::io::write_atomically(&args.out, svg.as_bytes())?;
    crate::outln!(
        "wrote {}: {}",
        args.out.display(),
        binding.url(&args.base_url)
    );
    Ok(crate::exit::SUCCESS)
}
