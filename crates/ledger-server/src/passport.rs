//! Battery passport pages at GS1 Digital Link paths (`GET /01/{gtin}/21/{serial}`), their
//! in-browser verifier's assets, and the access tiers (`docs/passport.md`).
//!
//! A lot is found by the binding its creator signed in the creating event
//! ([`ledger_report::gs1`]); the index of bindings is only a lookup: the page is rendered
//! from the lot's verified report, whose creating event must carry the same binding.
//!
//! **Tiers.** Without credentials a request gets the public page (Annex XIII(1)). A request
//! signed by an enrolled party (the `Custody-*` headers, [`signed_message`]) whose current
//! roles include one of [`RESTRICTED_ROLES`] gets the restricted detail as well; a bad or
//! stale signature is `401`, a party without such a role `403`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ledger_core::event::Role;
use ledger_core::id::{LotId, PartyId};
use ledger_core::keys::{PublicKey, Signature};
use ledger_core::note::NoteVerifier;
use ledger_core::policy::Policy;
use ledger_report::gs1::{self, Gtin, Serial};
use ledger_report::render::page::{Page, Tier};
use ledger_store::Store;

use crate::api::{AppState, blocking};
use crate::problem::Problem;

/// The roles whose parties see the restricted tier: auditors and the operator (as the
/// authorities' and notified bodies' stand-ins) and recyclers (a legitimate interest in the
/// detailed composition, Annex XIII(2)).
pub const RESTRICTED_ROLES: [Role; 3] = [Role::Auditor, Role::Recycler, Role::Operator];

/// How far a signed request's `Custody-Time` may be from the server's clock, in seconds.
pub const FRESHNESS_SECONDS: i64 = 300;

/// The domain-separation tag of a signed passport request.
const REQUEST_TAG: &[u8] = b"custody/passport-request/v1";

/// The in-browser verifier and the libraries it imports, as `web/build.mjs` writes them to
/// `web/dist` (committed; `docs/passport.md`), embedded so the page needs no network but
/// this server. Module paths relative to [`ASSET_BASE`].
const ASSETS: [(&str, &str); 7] = [
    ("verify.js", include_str!("../../../web/dist/verify.js")),
    (
        "verify-core.js",
        include_str!("../../../web/dist/verify-core.js"),
    ),
    (
        "vendor/noble-ed25519.js",
        include_str!("../../../web/dist/vendor/noble-ed25519.js"),
    ),
    (
        "vendor/noble-hashes/sha2.js",
        include_str!("../../../web/dist/vendor/noble-hashes/sha2.js"),
    ),
    (
        "vendor/noble-hashes/_md.js",
        include_str!("../../../web/dist/vendor/noble-hashes/_md.js"),
    ),
    (
        "vendor/noble-hashes/_u64.js",
        include_str!("../../../web/dist/vendor/noble-hashes/_u64.js"),
    ),
    (
        "vendor/noble-hashes/utils.js",
        include_str!("../../../web/dist/vendor/noble-hashes/utils.js"),
    ),
];

/// Where the assets are served.
const ASSET_BASE: &str = "/passport/assets/";

/// Where the page loads the verifier from.
pub const SCRIPT_PATH: &str = "/passport/assets/verify.js";

/// The passports' shared state: the resolver base URL and the index of bindings.
pub struct Passports {
    base_url: Option<String>,
    listen_url: OnceLock<String>,
    index: Mutex<Index>,
}

/// GTIN and serial → lot, for the log up to `scanned`.
#[derive(Default)]
struct Index {
    scanned: u64,
    lots: HashMap<(Gtin, Serial), LotId>,
}

impl Passports {
    /// The state for a server whose Digital Link URLs start with `base_url`, or with its
    /// own URL when `None`.
    pub fn new(base_url: Option<String>) -> Passports {
        Passports {
            base_url,
            listen_url: OnceLock::new(),
            index: Mutex::new(Index::default()),
        }
    }

    /// Records the URL the server listens on (the default base URL).
    pub fn set_listen_url(&self, url: &str) {
        let _ = self.listen_url.set(url.to_owned());
    }

    fn base_url(&self) -> &str {
        self.base_url
            .as_deref()
            .or(self.listen_url.get().map(String::as_str))
            .unwrap_or(gs1::DEFAULT_BASE_URL)
    }

    /// The lot bound to `gtin` and `serial`, reading the entries appended since the last
    /// call. The first binding in log order wins; one that does not parse binds nothing.
    fn lookup<S: Store>(
        &self,
        ledger: &ledger::Ledger<S>,
        gtin: Gtin,
        serial: &Serial,
    ) -> Result<Option<LotId>, Problem> {
        let size = ledger
            .store()
            .head()
            .map_err(|e| Problem::from(ledger::Error::from(e)))?
            .size;
        let mut index = self
            .index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for seq in index.scanned..size {
            let stored = ledger.entry(seq)?;
            match gs1::bindings(&stored.entry.statement.event) {
                Ok(found) => {
                    for b in found {
                        index.lots.entry((b.gtin, b.serial)).or_insert(b.lot);
                    }
                }
                Err(e) => {
                    tracing::warn!(seq, error = %e, "a battery-passport binding does not parse")
                }
            }
            index.scanned = seq + 1;
        }
        Ok(index.lots.get(&(gtin, serial.clone())).cloned())
    }
}

/// The signed message of a passport request: the tag, the ledger's origin (so a signature
/// for one ledger's server is refused by another's), the method, the path and the time.
pub fn signed_message(origin: &str, method: &str, path: &str, time: i64) -> Vec<u8> {
    let mut m = REQUEST_TAG.to_vec();
    m.push(0);
    m.extend_from_slice(
        &u16::try_from(origin.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    m.extend_from_slice(origin.as_bytes());
    m.extend_from_slice(format!("{method}\n{path}\n{time}").as_bytes());
    m
}

/// The credentials of a signed request, if it carries any.
struct Credentials {
    party: PartyId,
    key: PublicKey,
    time: i64,
    signature: Signature,
}

/// Reads the `Custody-Party`, `Custody-Key`, `Custody-Time` and `Custody-Signature`
/// headers: none is the public tier; some but not all, or one that does not parse, is 400
/// naming the header.
fn credentials(headers: &HeaderMap) -> Result<Option<Credentials>, Problem> {
    const NAMES: [&str; 4] = [
        "custody-party",
        "custody-key",
        "custody-time",
        "custody-signature",
    ];
    let values: Vec<Option<&str>> = NAMES
        .iter()
        .map(|n| headers.get(*n).and_then(|v| v.to_str().ok()))
        .collect();
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    let get = |i: usize| {
        values[i].ok_or_else(|| {
            Problem::malformed(
                NAMES[i],
                format!(
                    "{}: missing (a signed request carries all four Custody-* headers)",
                    NAMES[i]
                ),
            )
        })
    };
    let party = PartyId::new(get(0)?)
        .map_err(|e| Problem::malformed(NAMES[0], format!("custody-party: {e}")))?;
    let key = PublicKey::from_hex(get(1)?)
        .map_err(|e| Problem::malformed(NAMES[1], format!("custody-key: {e}")))?;
    let time: i64 = get(2)?.parse().map_err(|_| {
        Problem::malformed(NAMES[2], "custody-time: not a decimal Unix time in seconds")
    })?;
    let mut sig = [0u8; 64];
    hex::decode_to_slice(get(3)?, &mut sig)
        .map_err(|_| Problem::malformed(NAMES[3], "custody-signature: not 128 hex digits"))?;
    Ok(Some(Credentials {
        party,
        key,
        time,
        signature: Signature(sig),
    }))
}

fn unauthenticated(detail: String) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "the request's signature is not accepted",
        detail,
    )
}

/// The tier a request is served: checks the signature, its freshness, that the key is a
/// current key of the party, and the party's roles.
fn tier<S: Store>(
    ledger: &ledger::Ledger<S>,
    credentials: Option<Credentials>,
    path: &str,
    now: i64,
) -> Result<Tier, Problem> {
    let Some(c) = credentials else {
        return Ok(Tier::Public);
    };
    if (now - c.time).abs() > FRESHNESS_SECONDS {
        return Err(unauthenticated(format!(
            "custody-time: {} is more than {FRESHNESS_SECONDS} s from the server's clock ({now})",
            c.time
        )));
    }
    let message = signed_message(ledger.origin(), "GET", path, c.time);
    if c.key.verify(&message, &c.signature).is_err() {
        return Err(unauthenticated(
            "custody-signature: does not verify under custody-key over GET, the path and custody-time".into(),
        ));
    }
    let record = ledger
        .store()
        .party(&c.party)
        .map_err(|e| Problem::from(ledger::Error::from(e)))?
        .ok_or_else(|| unauthenticated(format!("custody-party: {} is not enrolled", c.party)))?;
    let current = record
        .key(c.key.as_bytes())
        .is_some_and(|k| k.revoked_seq.is_none());
    if !current {
        return Err(unauthenticated(format!(
            "custody-key: not a current key of {}",
            c.party
        )));
    }
    if !record.roles.iter().any(|r| RESTRICTED_ROLES.contains(r)) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "not-authorized",
            "not authorized",
            format!(
                "{} has no role that may see restricted passport data (auditor, recycler, operator)",
                c.party
            ),
        ));
    }
    Ok(Tier::Restricted {
        party: format!("{} ({})", record.name, c.party),
    })
}

/// What the client asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Html,
    JsonLd,
    Linkset,
}

/// The representation `Accept` asks for: the first of JSON-LD, the linkset or HTML that it
/// names, HTML when it names none.
fn negotiate(headers: &HeaderMap) -> Want {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for item in accept.split(',') {
        match item.split(';').next().unwrap_or("").trim() {
            "application/ld+json" | "application/json" => return Want::JsonLd,
            "application/linkset+json" => return Want::Linkset,
            "text/html" => return Want::Html,
            _ => {}
        }
    }
    Want::Html
}

/// `GET /01/{gtin}/21/{serial}`: the passport page of the lot bound to the GTIN and serial.
#[utoipa::path(
    get,
    path = "/01/{gtin}/21/{serial}",
    operation_id = "passport",
    summary = "The battery passport at its GS1 Digital Link: HTML, JSON-LD (Accept: application/ld+json) or the linkset (Accept: application/linkset+json)",
    params(
        ("gtin" = String, Path, description = "GTIN-14 with a valid GS1 check digit"),
        ("serial" = String, Path, description = "serial (GS1 AI 21): 1 to 20 of A-Z a-z 0-9 . _ -"),
        ("Custody-Party" = Option<String>, Header, description = "signed request (restricted tier): the enrolled party"),
        ("Custody-Key" = Option<String>, Header, description = "its public key, hex"),
        ("Custody-Time" = Option<i64>, Header, description = "Unix seconds, within 300 s of the server's clock"),
        ("Custody-Signature" = Option<String>, Header, description = "Ed25519 over the signed message of docs/passport.md, hex"),
    ),
    responses(
        (status = 200, description = "the passport page", content_type = "text/html"),
        (status = 400, description = "a GTIN with a bad check digit, a bad serial, or bad Custody-* headers", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "a signature that does not verify, a stale time, or a key not current for the party", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "the signing party's roles do not allow the restricted tier", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no lot is bound to this GTIN and serial", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
)]
pub async fn passport(
    State(state): State<Arc<AppState>>,
    Path((gtin, serial)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let gtin = Gtin::parse(&gtin).map_err(|e| Problem::malformed("gtin", e.to_string()))?;
    let serial = Serial::parse(&serial).map_err(|e| Problem::malformed("serial", e.to_string()))?;
    let want = negotiate(&headers);
    let credentials = credentials(&headers)?;
    let ledger = state.ledger.clone();
    let passports = state.passports.clone();
    let vkey = NoteVerifier::new(
        state.ledger.origin(),
        *state.key.public_key().verifying_key(),
    )
    .map_err(|e| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
            e.to_string(),
        )
    })?
    .vkey();
    let (body, restricted) = blocking(move || {
        let path = format!("/01/{gtin}/21/{serial}");
        let now = ledger::now()?;
        let tier = tier(&ledger, credentials, &path, now.unix())?;
        let not_bound = || {
            Problem::not_found(format!(
                "no battery is bound to GTIN {gtin} serial {serial}"
            ))
        };
        let lot = passports
            .lookup(&ledger, gtin, &serial)?
            .ok_or_else(not_bound)?;
        let report = ledger.report(&lot, &Policy::default(), now)?;
        let data = &report.data;
        // The binding shown is the one in the verified creating event, never the index's.
        let binding = data
            .event(&data.product.created_by)
            .and_then(|e| gs1::bindings(&e.event).ok())
            .and_then(|found| {
                found
                    .into_iter()
                    .find(|b| b.lot == lot && b.gtin == gtin && b.serial == serial)
            })
            .ok_or_else(not_bound)?;
        let base = passports.base_url().to_owned();
        let url = binding.url(&base);
        let qr = gs1::qr_svg(&url, &format!("QR code of {url}")).map_err(|e| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
                format!("cannot draw the QR code: {e}"),
            )
        })?;
        let bundle_url = format!("/v1/lots/{lot}/bundle");
        let restricted = matches!(tier, Tier::Restricted { .. });
        let page = Page {
            data,
            binding: &binding,
            base_url: &base,
            tier,
            verifier_key: &vkey,
            bundle_url: &bundle_url,
            script_url: Some(SCRIPT_PATH),
            qr_svg: &qr,
        };
        let body = match want {
            Want::Html => (page.html(), "text/html; charset=utf-8"),
            Want::JsonLd => (page.jsonld().to_string(), "application/ld+json"),
            Want::Linkset => (page.linkset().to_string(), "application/linkset+json"),
        };
        Ok((body, restricted))
    })
    .await?;
    let ((text, kind), cache) = (
        body,
        if restricted {
            "private, no-store"
        } else {
            "no-cache"
        },
    );
    Ok((
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, cache),
            (header::VARY, "Accept, Custody-Signature"),
        ],
        text,
    )
        .into_response())
}

/// `GET /passport/assets/{file}`: the in-browser verifier's modules (it fetches nothing but
/// the page's own bundle URL).
#[utoipa::path(
    get,
    path = "/passport/assets/{*file}",
    operation_id = "passportAsset",
    summary = "The passport page's in-browser verifier and the libraries it imports (JavaScript modules, built from web/)",
    params(("file" = String, Path, description = "verify.js, verify-core.js or vendor/…")),
    responses(
        (status = 200, description = "the module", content_type = "text/javascript"),
        (status = 404, description = "no such asset", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
)]
pub async fn asset(Path(file): Path<String>) -> Result<Response, Problem> {
    let (_, text) = ASSETS
        .iter()
        .find(|(name, _)| *name == file)
        .ok_or_else(|| Problem::not_found(format!("no passport asset {ASSET_BASE}{file}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        *text,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_message_is_the_documented_bytes() {
        assert_eq!(
            signed_message("o.example/l", "GET", "/01/04012345123456/21/M1", 1_800_000_000),
            b"custody/passport-request/v1\0\x00\x0bo.example/lGET\n/01/04012345123456/21/M1\n1800000000"
        );
    }

    #[test]
    fn accept_picks_the_first_representation_it_names() {
        let want = |accept: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::ACCEPT,
                axum::http::HeaderValue::from_str(accept)
                    .unwrap_or_else(|_| axum::http::HeaderValue::from_static("*/*")),
            );
            negotiate(&h)
        };
        assert!(want("text/html,application/xhtml+xml,*/*;q=0.8") == Want::Html);
        assert!(want("application/ld+json") == Want::JsonLd);
        assert!(want("application/linkset+json;q=1, text/html;q=0.5") == Want::Linkset);
        assert!(want("*/*") == Want::Html);
        assert!(negotiate(&HeaderMap::new()) == Want::Html);
    }
}
