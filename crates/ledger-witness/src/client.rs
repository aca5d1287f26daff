//! A blocking `add-checkpoint` client (ureq, no async runtime), for a log's writer thread
//! and for tests. It reads at most [`MAX_RESPONSE`] bytes and checks the answer's shape;
//! the caller verifies the cosignatures with the witness keys it trusts (append the lines
//! to the checkpoint note and open it).

use std::io::Read as _;
use std::time::Duration;

use crate::protocol::{Request, parse_decimal};
use crate::server::SIZE_CONTENT_TYPE;

/// The largest answer read: a witness answers a few signature lines.
pub const MAX_RESPONSE: u64 = 64 * 1024;

/// The most of a refusal's message kept, in characters.
const MAX_MESSAGE: usize = 500;

/// A witness's answer to `add-checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200: the cosignature lines, each `— <name> <base64>` and a newline.
    Cosigned(String),
    /// 409 with `text/x.tlog.size`: the size of the latest checkpoint the witness
    /// cosigned; retry from it.
    Conflict(u64),
}

/// Why no answer came back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not `http://` or `https://`.
    #[error("witness URL {url} is not http:// or https://")]
    BadUrl {
        /// The URL.
        url: String,
    },
    /// The witness could not be reached, or the exchange broke off.
    #[error("cannot reach the witness at {url}: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The witness refused the checkpoint (any status but 200 and a 409 with a size).
    #[error("the witness at {url} answered {status}: {message}")]
    Refused {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The witness's message, shortened and without control characters.
        message: String,
    },
    /// The answer is not what tlog-witness prescribes.
    #[error("the witness at {url} gave a malformed answer: {reason}")]
    Malformed {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

/// Sends `request` to the witness at `base_url` (`POST <base_url>/add-checkpoint`),
/// waiting at most `timeout` for the whole exchange.
pub fn add_checkpoint(
    base_url: &str,
    request: &Request,
    timeout: Duration,
) -> Result<Answer, ClientError> {
    let base = base_url.trim_end_matches('/');
    if !base.starts_with("http://") && !base.starts_with("https://") {
        return Err(ClientError::BadUrl {
            url: base_url.to_owned(),
        });
    }
    let url = format!("{base}/add-checkpoint");
    let transport = |reason: String| ClientError::Transport {
        url: url.clone(),
        reason,
    };
    let malformed = |reason: &str| ClientError::Malformed {
        url: url.clone(),
        reason: reason.to_owned(),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into();
    let mut response = agent
        .post(&url)
        .header("Content-Type", "text/plain; charset=utf-8")
        .send(&request.to_body()[..])
        .map_err(|e| transport(e.to_string()))?;
    let status = response.status().as_u16();
    let size_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().map(str::trim) == Some(SIZE_CONTENT_TYPE));
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(MAX_RESPONSE + 1)
        .read_to_end(&mut body)
        .map_err(|e| transport(e.to_string()))?;
    if body.len() as u64 > MAX_RESPONSE {
        return Err(malformed("the answer is larger than 64 KiB"));
    }
    match status {
        200 => {
            let lines = String::from_utf8(body).map_err(|_| malformed("not utf-8"))?;
            let well_formed = lines.ends_with('\n')
                && lines
                    .trim_end_matches('\n')
                    .split('\n')
                    .all(|line| line.starts_with("\u{2014} ") && !line.contains('\r'));
            if !well_formed {
                return Err(malformed(
                    "the cosignature lines are not `— <name> <base64>`",
                ));
            }
            Ok(Answer::Cosigned(lines))
        }
        409 if size_type => body
            .strip_suffix(b"\n")
            .and_then(parse_decimal)
            .map(Answer::Conflict)
            .ok_or_else(|| malformed("a 409 body is not `<size>` and a newline")),
        _ => Err(ClientError::Refused {
            url: url.clone(),
            status,
            message: String::from_utf8_lossy(&body)
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(MAX_MESSAGE)
                .collect::<String>()
                .trim()
                .to_owned(),
        }),
    }
}
