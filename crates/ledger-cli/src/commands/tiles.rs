//! `custody export-tiles`: the C2SP tlog-tiles static tree of the latest stored checkpoint
//! (`checkpoint`, `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`) in a directory, for a
//! web server or an object store to serve. The tiles are built by [`ledger_server::tiles`],
//! the code `custody serve` answers `/tile/...` with, so both serve the same bytes.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use ledger::Ledger;
use ledger_server::tiles::{self, TileError};
use ledger_store_postgres::AnyStore;

use crate::cli::ExportTilesArgs;
use crate::commands::{close, open_to_read};
use crate::{exit, io};

/// Runs `custody export-tiles`.
pub fn export(dir: &Path, args: &ExportTilesArgs) -> Result<u8> {
    let ledger = open_to_read(dir)?;
    let written = write_tree(&ledger, &args.out);
    close(ledger)?;
    let (size, files) = written?;
    crate::outln!(
        "wrote {}: checkpoint at size {size} and {files} tiles",
        args.out.display()
    );
    Ok(exit::SUCCESS)
}

/// Writes every tile of the latest checkpoint, then the checkpoint: each file atomically, and
/// the checkpoint last, so a reader of the directory never finds a checkpoint whose tiles are
/// missing. Tiles of an earlier, smaller export stay: the log only grows, so what they hold
/// is still true. Returns the checkpoint's size and the number of tiles.
fn write_tree(ledger: &Ledger<AnyStore>, out: &Path) -> Result<(u64, usize)> {
    let Some((size, note)) = ledger.latest_checkpoint()? else {
        bail!(
            "the ledger has no signed checkpoint to export: sign one with custody checkpoint \
             --operator-key FILE"
        );
    };
    let all = tiles::tiles_of(size);
    for tile in &all {
        let name = tiles::tile_path(tile.level, tile.index, tile.width);
        let bytes = tiles::read(ledger.store(), *tile, size).map_err(|e| match e {
            TileError::NotFound => anyhow!(
                "{name}: the log holds fewer entries than its checkpoint of size {size}; run \
                 custody verify"
            ),
            TileError::EntryTooLarge(seq) => anyhow!(
                "{name}: entry #{seq} is over 65535 bytes, the most an entry bundle can hold"
            ),
            TileError::Store(e) => anyhow!("{name}: {e}"),
        })?;
        let path = out.join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        io::write_atomically(&path, &bytes)?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    io::write_atomically(&out.join("checkpoint"), note.as_bytes())?;
    Ok((size, all.len()))
}
