//! The body of a C2SP tlog-witness `add-checkpoint` request, parsed and written in one
//! place so that the witness and the logs that call it (Custody's log side uses
//! [`Request::to_body`]) cannot disagree on it.
//!
//! ```text
//! old <size>\n            the size of the checkpoint the witness cosigned last
//! <base64 hash>\n         0 to 63 consistency proof lines, RFC 6962 §2.1.2
//! \n                      a blank line
//! <checkpoint note>       a signed checkpoint (c2sp.org/tlog-checkpoint)
//! ```
//!
//! Parsing is strict, so a body has exactly one reading: at most [`MAX_REQUEST_SIZE`]
//! bytes, the size in ASCII decimal without leading zeros, each hash the canonical
//! (padded, no stray bits) base64 of exactly 32 bytes. Errors name the line. The note is
//! only split off here; the witness verifies it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ledger_core::hash::Digest;
use ledger_core::note::MAX_NOTE_SIZE;

/// The most consistency proof lines a request may carry (the spec's limit).
pub const MAX_PROOF_LINES: usize = 63;

/// The largest request body: a note of [`MAX_NOTE_SIZE`] plus room for the old size line,
/// 64 proof lines and the blank line.
pub const MAX_REQUEST_SIZE: usize = MAX_NOTE_SIZE + 64 * 64;

/// An `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The size of the latest checkpoint the witness cosigned for this log (0 if none).
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size (empty from 0).
    pub proof: Vec<Digest>,
    /// The signed checkpoint note.
    pub note: String,
}

/// Why a request body was refused. Line numbers count from 1 in the whole body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The body is larger than [`MAX_REQUEST_SIZE`].
    #[error("request body is {len} bytes, more than the maximum of {MAX_REQUEST_SIZE}")]
    TooLarge {
        /// The size that was found.
        len: usize,
    },
    /// A line before the blank line does not end in a newline.
    #[error("line {line} does not end in a newline")]
    MissingNewline {
        /// The line.
        line: usize,
    },
    /// The first line is not `old <size>`.
    #[error("line 1 must be `old <size>` with the size in decimal without leading zeros")]
    BadOldSize,
    /// A proof line is not the canonical base64 of 32 bytes.
    #[error("line {line} is not a consistency proof hash (the base64 of 32 bytes)")]
    BadProofLine {
        /// The line.
        line: usize,
    },
    /// More than [`MAX_PROOF_LINES`] proof lines.
    #[error("line {line}: more than {MAX_PROOF_LINES} consistency proof lines")]
    TooManyProofLines {
        /// The first line over the limit.
        line: usize,
    },
    /// Nothing follows the blank line.
    #[error("line {line}: no checkpoint follows the blank line")]
    MissingNote {
        /// The line where the note should start.
        line: usize,
    },
    /// The note is not UTF-8.
    #[error("the checkpoint note starting at line {line} is not utf-8")]
    NoteNotUtf8 {
        /// The note's first line.
        line: usize,
    },
}

impl Request {
    /// Parses a request body (see the module documentation).
    pub fn parse(body: &[u8]) -> Result<Request, ProtocolError> {
        if body.len() > MAX_REQUEST_SIZE {
            return Err(ProtocolError::TooLarge { len: body.len() });
        }
        let mut rest = body;
        let mut line_no = 0;
        let (_, old) = next_line(&mut rest, &mut line_no)?;
        let old_size = old
            .strip_prefix(b"old ")
            .and_then(parse_decimal)
            .ok_or(ProtocolError::BadOldSize)?;
        let mut proof = Vec::new();
        loop {
            let (line, text) = next_line(&mut rest, &mut line_no)?;
            if text.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(ProtocolError::TooManyProofLines { line });
            }
            let hash = BASE64
                .decode(text)
                .ok()
                .and_then(|raw| <[u8; 32]>::try_from(raw).ok())
                .ok_or(ProtocolError::BadProofLine { line })?;
            proof.push(Digest(hash));
        }
        let line = line_no + 1;
        if rest.is_empty() {
            return Err(ProtocolError::MissingNote { line });
        }
        let note = std::str::from_utf8(rest)
            .map_err(|_| ProtocolError::NoteNotUtf8 { line })?
            .to_owned();
        Ok(Request {
            old_size,
            proof,
            note,
        })
    }

    /// The request body: the old size line, one line per proof hash, a blank line, the note.
    pub fn to_body(&self) -> Vec<u8> {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            body.push_str(&BASE64.encode(hash.as_bytes()));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.note);
        body.into_bytes()
    }
}

/// Splits the next line off `rest`, counting it in `line_no`; it must end in a newline.
fn next_line<'a>(
    rest: &mut &'a [u8],
    line_no: &mut usize,
) -> Result<(usize, &'a [u8]), ProtocolError> {
    *line_no += 1;
    let Some(end) = rest.iter().position(|&b| b == b'\n') else {
        return Err(ProtocolError::MissingNewline { line: *line_no });
    };
    let (line, tail) = rest.split_at(end);
    *rest = tail.get(1..).unwrap_or_default();
    Ok((*line_no, line))
}

/// ASCII decimal without sign or leading zeros (`0` itself allowed) that fits in 64 bits.
pub(crate) fn parse_decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if text.len() > 1 && text.first() == Some(&b'0') {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str = "example.com/log\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} example.com/log AAAA\n";

    fn b64(byte: u8) -> String {
        BASE64.encode([byte; 32])
    }

    #[test]
    fn a_request_round_trips_through_its_body() -> Result<(), ProtocolError> {
        let request = Request {
            old_size: 20852014,
            proof: vec![Digest([1; 32]), Digest([2; 32])],
            note: NOTE.into(),
        };
        let body = request.to_body();
        let text = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(
            text,
            format!("old 20852014\n{}\n{}\n\n{NOTE}", b64(1), b64(2))
        );
        assert_eq!(Request::parse(&body)?, request);
        let empty = Request {
            old_size: 0,
            proof: vec![],
            note: NOTE.into(),
        };
        assert_eq!(empty.to_body(), format!("old 0\n\n{NOTE}").into_bytes());
        assert_eq!(Request::parse(&empty.to_body())?, empty);
        Ok(())
    }

    #[test]
    fn fail_bad_old_size_lines_are_refused() {
        for old in [
            "old",
            "old ",
            "old 01",
            "old 00",
            "old +1",
            "old -1",
            "old 1 ",
            "old  1",
            "Old 1",
            "old 0x1",
            "old 18446744073709551616",
            "old 1\r",
            "new 1",
        ] {
            assert_eq!(
                Request::parse(format!("{old}\n\n{NOTE}").as_bytes()),
                Err(ProtocolError::BadOldSize),
                "{old:?}"
            );
        }
        let max = Request::parse(format!("old 18446744073709551615\n\n{NOTE}").as_bytes());
        assert_eq!(max.map(|r| r.old_size), Ok(u64::MAX));
    }

    #[test]
    fn fail_bad_proof_lines_are_refused_naming_the_line() {
        let good = b64(7);
        let short = BASE64.encode([7u8; 31]);
        let long = BASE64.encode([7u8; 33]);
        let unpadded = good.trim_end_matches('=').to_owned();
        // The last character before the padding carries 2 bits that must be zero.
        let stray_bits = format!("{}B=", good.get(..42).unwrap_or_default());
        for bad in [
            short,
            long,
            unpadded,
            stray_bits,
            format!("{good} "),
            "!".into(),
        ] {
            let body = format!("old 5\n{good}\n{bad}\n\n{NOTE}");
            assert_eq!(
                Request::parse(body.as_bytes()),
                Err(ProtocolError::BadProofLine { line: 3 }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn fail_more_than_63_proof_lines_are_refused() -> Result<(), ProtocolError> {
        let lines = |n: usize| format!("{}\n", b64(3)).repeat(n);
        let ok = Request::parse(format!("old 5\n{}\n{NOTE}", lines(63)).as_bytes())?;
        assert_eq!(ok.proof.len(), 63);
        assert_eq!(
            Request::parse(format!("old 5\n{}\n{NOTE}", lines(64)).as_bytes()),
            Err(ProtocolError::TooManyProofLines { line: 65 })
        );
        Ok(())
    }

    #[test]
    fn fail_truncated_bodies_name_the_line() {
        assert_eq!(
            Request::parse(b"old 5"),
            Err(ProtocolError::MissingNewline { line: 1 })
        );
        assert_eq!(
            Request::parse(format!("old 5\n{}", b64(1)).as_bytes()),
            Err(ProtocolError::MissingNewline { line: 2 })
        );
        assert_eq!(
            Request::parse(b"old 5\n\n"),
            Err(ProtocolError::MissingNote { line: 3 })
        );
        assert_eq!(
            Request::parse(b"old 5\n\n\xff\n"),
            Err(ProtocolError::NoteNotUtf8 { line: 3 })
        );
        assert_eq!(
            Request::parse(b""),
            Err(ProtocolError::MissingNewline { line: 1 })
        );
    }

    #[test]
    fn fail_a_body_over_the_limit_is_refused_before_parsing() {
        let body = vec![b'x'; MAX_REQUEST_SIZE + 1];
        assert_eq!(
            Request::parse(&body),
            Err(ProtocolError::TooLarge {
                len: MAX_REQUEST_SIZE + 1
            })
        );
    }
}
