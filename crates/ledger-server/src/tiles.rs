//! The C2SP tlog-tiles read API: Merkle tree tiles (`/tile/<L>/<N>[.p/<W>]`) and entry
//! bundles (`/tile/entries/<N>[.p/<W>]`), read from the store's Merkle nodes and entries.
//!
//! A tile at level `L`, index `N` holds the hashes of tree level `8·L` at indices
//! `N·256 .. N·256 + W`: exactly the complete-subtree hashes the store keeps. A tile is
//! served when the log holds every leaf it covers; full tiles never change, so they are
//! served `immutable`; partial ones are not cached.

use ledger_store::Store;

/// Hashes in a full tile (tile height 8).
pub const TILE_WIDTH: u64 = 256;

/// A parsed tile path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePath {
    /// `None` for an entry bundle, else the tile level.
    pub level: Option<u8>,
    /// The tile index.
    pub index: u64,
    /// The width: 256 for a full tile, 1..=255 for a partial one.
    pub width: u64,
}

impl TilePath {
    /// Parses what follows `/tile/`, as the spec writes it; `None` for anything else.
    pub fn parse(rest: &str) -> Option<TilePath> {
        let mut parts: Vec<&str> = rest.split('/').collect();
        let first = parts.first().copied()?;
        let level = if first == "entries" {
            None
        } else {
            let level: u8 = decimal(first)?.try_into().ok()?;
            if level > 63 {
                return None;
            }
            Some(level)
        };
        parts.remove(0);
        let mut width = TILE_WIDTH;
        if let [.., n, w] = parts.as_slice()
            && let Some(stripped) = n.strip_suffix(".p")
        {
            let w = decimal(w)?;
            if !(1..TILE_WIDTH).contains(&w) {
                return None;
            }
            width = w;
            let at = parts.len() - 2;
            parts[at] = stripped;
            parts.pop();
        }
        let (last, leading) = parts.split_last()?;
        let mut index: u64 = 0;
        for element in leading {
            let digits = element.strip_prefix('x')?;
            index = index
                .checked_mul(1000)?
                .checked_add(three_digits(digits)?)?;
        }
        index = index.checked_mul(1000)?.checked_add(three_digits(last)?)?;
        Some(TilePath {
            level,
            index,
            width,
        })
    }

    /// Whether this is a partial tile.
    pub fn is_partial(&self) -> bool {
        self.width < TILE_WIDTH
    }
}

/// A decimal with no leading zeros.
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

fn three_digits(s: &str) -> Option<u64> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The tile path of level `level` (or entries), index `index`, width `width`, as the spec
/// writes it (for `custody export-tiles` and tests).
pub fn tile_path(level: Option<u8>, index: u64, width: u64) -> String {
    let mut digits = Vec::new();
    let mut n = index;
    loop {
        digits.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let elements: Vec<String> = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i + 1 < digits.len() {
                format!("x{d:03}")
            } else {
                format!("{d:03}")
            }
        })
        .collect();
    let head = match level {
        Some(l) => format!("tile/{l}"),
        None => "tile/entries".to_owned(),
    };
    let mut path = format!("{head}/{}", elements.join("/"));
    if width < TILE_WIDTH {
        path.push_str(&format!(".p/{width}"));
    }
    path
}

/// Every tile of a log of `size` entries, as a client of a checkpoint of that size reads
/// them: at each level the full tiles, then the partial one, if any; then the entry bundles
/// alongside the level-0 tiles. `custody export-tiles` writes these, each with [`read`].
pub fn tiles_of(size: u64) -> Vec<TilePath> {
    let mut out = Vec::new();
    let mut level: u8 = 0;
    // Hashes at tree level 8·L: the complete subtrees of 256^L leaves.
    let mut hashes = size;
    while hashes > 0 && level <= 7 {
        out.extend(widths(hashes).map(|(index, width)| TilePath {
            level: Some(level),
            index,
            width,
        }));
        hashes /= TILE_WIDTH;
        level += 1;
    }
    out.extend(widths(size).map(|(index, width)| TilePath {
        level: None,
        index,
        width,
    }));
    out
}

/// The (index, width) of the tiles over `count` hashes: full ones, then a partial one.
fn widths(count: u64) -> impl Iterator<Item = (u64, u64)> {
    let full = count / TILE_WIDTH;
    let rest = count % TILE_WIDTH;
    (0..full)
        .map(|index| (index, TILE_WIDTH))
        .chain((rest > 0).then_some((full, rest)))
}

/// Why a tile cannot be served.
#[derive(Debug)]
pub enum TileError {
    /// The log does not (yet) hold every leaf the tile covers, or the level is too high.
    NotFound,
    /// An entry too large for a bundle's 16-bit length prefix.
    EntryTooLarge(u64),
    /// The store failed or is missing a node.
    Store(ledger::Error),
}

impl From<ledger_store::StoreError> for TileError {
    fn from(e: ledger_store::StoreError) -> TileError {
        TileError::Store(ledger::Error::from(e))
    }
}

/// The bytes of `tile` in the log of `size` entries.
pub fn read(store: &dyn Store, tile: TilePath, size: u64) -> Result<Vec<u8>, TileError> {
    let level = tile.level.unwrap_or(0);
    // Leaves under one hash of this tile: 256^level; leaves the tile needs: (N·256 + W)·that.
    let span = 1u64
        .checked_shl(8 * u32::from(level))
        .ok_or(TileError::NotFound)?;
    let first = tile
        .index
        .checked_mul(TILE_WIDTH)
        .ok_or(TileError::NotFound)?;
    let end = first
        .checked_add(tile.width)
        .and_then(|e| e.checked_mul(span))
        .ok_or(TileError::NotFound)?;
    if end > size || level > 7 {
        return Err(TileError::NotFound);
    }
    let mut out = Vec::new();
    match tile.level {
        Some(level) => {
            for i in first..first + tile.width {
                let hash = store.merkle_node(level * 8, i)?.ok_or_else(|| {
                    TileError::Store(ledger::Error::Damaged(format!(
                        "the store has no merkle node at level {}, index {i}; run custody verify",
                        level * 8
                    )))
                })?;
                out.extend_from_slice(hash.as_bytes());
            }
        }
        None => {
            for seq in first..first + tile.width {
                let bytes = store.entry(seq)?.ok_or_else(|| {
                    TileError::Store(ledger::Error::Damaged(format!(
                        "the log has no entry #{seq}; run custody verify"
                    )))
                })?;
                let len = u16::try_from(bytes.len()).map_err(|_| TileError::EntryTooLarge(seq))?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&bytes);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_parse_as_the_spec_writes_them() {
        let t = TilePath::parse("0/x001/x234/067").unwrap();
        assert_eq!((t.level, t.index, t.width), (Some(0), 1_234_067, 256));
        let t = TilePath::parse("entries/000.p/5").unwrap();
        assert_eq!((t.level, t.index, t.width), (None, 0, 5));
        let t = TilePath::parse("2/x001/002.p/255").unwrap();
        assert_eq!((t.level, t.index, t.width), (Some(2), 1002, 255));
        assert_eq!(tile_path(Some(0), 1_234_067, 256), "tile/0/x001/x234/067");
        assert_eq!(tile_path(None, 3, 7), "tile/entries/003.p/7");
    }

    #[test]
    fn a_log_has_the_tiles_a_client_of_its_size_reads() {
        let paths = |size| -> Vec<String> {
            tiles_of(size)
                .into_iter()
                .map(|t| tile_path(t.level, t.index, t.width))
                .collect()
        };
        assert!(paths(0).is_empty());
        assert_eq!(paths(5), ["tile/0/000.p/5", "tile/entries/000.p/5"]);
        assert_eq!(
            paths(513),
            [
                "tile/0/000",
                "tile/0/001",
                "tile/0/002.p/1",
                "tile/1/000.p/2",
                "tile/entries/000",
                "tile/entries/001",
                "tile/entries/002.p/1",
            ]
        );
        assert_eq!(
            paths(65_536)
                .iter()
                .filter(|p| p.starts_with("tile/1/") || p.starts_with("tile/2/"))
                .collect::<Vec<_>>(),
            ["tile/1/000", "tile/2/000.p/1"]
        );
    }

    #[test]
    fn fail_tile_paths_the_spec_does_not_allow() {
        for bad in [
            "",
            "0",
            "00/000",
            "64/000",
            "0/1",
            "0/x000",
            "0/001/002",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/05",
            "0/000.p",
            "entries/0000",
            "0/000/",
            "a/000",
        ] {
            assert_eq!(TilePath::parse(bad), None, "{bad:?}");
        }
    }
}
