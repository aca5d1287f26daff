//! Supplier JSON input (SPEC §2) parsed into a normalized [`Event`].
//!
//! Numbers are read as written (serde_json's `arbitrary_precision`) and converted to exact
//! integers; unknown fields and kinds are refused; every error names its JSON path. Links
//! and units a supplier leaves out are filled from a [`SignContext`]: the ledger as it
//! stands, plus the events earlier in the same file.
//!
//! `docs/input.md` describes the format for suppliers. The input structs below also derive
//! its JSON Schema ([`crate::schema::input_schema`]): their doc comments are the schema's
//! descriptions.

use std::collections::{BTreeMap, HashMap};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Number, Value};

use crate::event::{
    AddKey, Amend, Attest, Body, CapSeverity, Claim, Document, Enroll, Event, Extract, Feedstock,
    LotMove, LotOutput, Method, Outcome, Receive, Received, Recycle, RequestKey, Revoke, Role,
    Ship, Site, Subject, Transform, limits,
};
use crate::hash::Digest;
use crate::id::{Component, Country, LotId, Material, PartyId, SiteId};
use crate::keys::PublicKey;
use crate::quantity::{
    Content, MAX_GRAMS, MAX_MG_PER_PIECE, MAX_PIECES, PPM, Quantity, Unit, parse_scaled,
    parse_signed_scaled,
};
use crate::schema;
use crate::state::Holding;
use crate::timestamp::Timestamp;
use crate::validate::{FieldError, check_event};

/// Largest JSON input accepted in one event, in bytes.
pub const MAX_EVENT_JSON: usize = 256 * 1024;

/// What the signer needs to know about the ledger to normalize an event.
pub trait SignContext {
    /// The unit a lot is counted in, if the lot exists.
    fn lot_unit(&self, lot: &LotId) -> Option<Unit>;
    /// What `holder` holds of `lot`: its receipts in log order, with what is left of each.
    /// A move without `from` is filled with links to these, oldest first, enough to cover
    /// its quantity.
    fn holding(&self, lot: &LotId, holder: &PartyId) -> Option<Holding>;
    /// Every shipment addressed to `receiver`, not yet received, that carries all of `lots`,
    /// each once. A `receive` without `shipment` is linked to it when there is exactly one.
    fn open_shipments(&self, receiver: &PartyId, lots: &[LotId]) -> Vec<Digest>;
    /// Whether a ledger stands behind this context: a lot it does not know is then a
    /// wrong id rather than one signed offline without its unit.
    fn has_ledger(&self) -> bool {
        false
    }
}

/// A context that knows nothing: every unit and link must be in the JSON.
pub struct NoContext;

impl SignContext for NoContext {
    fn lot_unit(&self, _: &LotId) -> Option<Unit> {
        None
    }
    fn holding(&self, _: &LotId, _: &PartyId) -> Option<Holding> {
        None
    }
    fn open_shipments(&self, _: &PartyId, _: &[LotId]) -> Vec<Digest> {
        Vec::new()
    }
}

/// Parses one JSON event object. An event without a `nonce` gets one from `nonce` (the
/// caller's randomness: the core has none of its own).
pub fn parse_event(
    value: Value,
    ctx: &dyn SignContext,
    nonce: &mut dyn FnMut() -> u64,
) -> Result<Event, FieldError> {
    let Value::Object(mut map) = value else {
        return Err(FieldError::new("(event)", "must be a JSON object"));
    };
    let kind: String = take_required(&mut map, "kind")?;
    let actor: PartyId = take_required(&mut map, "actor")?;
    let time: Timestamp = take_required(&mut map, "time")?;
    let given_nonce = match take_optional::<Number>(&mut map, "nonce")? {
        Some(n) => Some(n.as_u64().ok_or_else(|| {
            FieldError::new(
                "nonce",
                format!("expected a whole number from 0 to {}, found {n}", u64::MAX),
            )
        })?),
        None => None,
    };
    let emissions: Option<Number> = take_optional(&mut map, "emissions_kg_co2e")?;
    let documents: Option<Vec<Document>> = take_optional(&mut map, "documents")?;
    let rest = Value::Object(map);
    let body = match kind.as_str() {
        "enroll" => enroll(from_value(rest)?)?,
        "revoke" => {
            let r: RevokeIn = from_value(rest)?;
            Body::Revoke(Revoke {
                party: r.party,
                key: key(&r.key, "key")?,
            })
        }
        "extract" => extract(from_value(rest)?)?,
        "recycle" => {
            let r: RecycleIn = from_value(rest)?;
            Body::Recycle(Recycle {
                feedstock: r.feedstock,
                outputs: outputs(r.outputs)?,
            })
        }
        "ship" => {
            let s: ShipIn = from_value(rest)?;
            Body::Ship(Ship {
                to: s.to,
                lots: moves("lots", s.lots, &actor, ctx)?,
            })
        }
        "receive" => receive(from_value(rest)?, &actor, ctx)?,
        "transform" => {
            let t: TransformIn = from_value(rest)?;
            Body::Transform(Transform {
                inputs: moves("inputs", t.inputs, &actor, ctx)?,
                outputs: outputs(t.outputs)?,
            })
        }
        "attest" => attest(from_value(rest)?)?,
        "amend" => {
            let a: AmendIn = from_value(rest)?;
            Body::Amend(Amend {
                party: a.party,
                name: a.name,
                country: country(&a.country)?,
                roles: roles(&a.roles)?,
            })
        }
        "request-key" => {
            let r: RequestKeyIn = from_value(rest)?;
            Body::RequestKey(RequestKey {
                key: key(&r.key, "key")?,
            })
        }
        "add-key" => {
            let a: AddKeyIn = from_value(rest)?;
            Body::AddKey(AddKey {
                party: a.party,
                key: key(&a.key, "key")?,
                request: a.request,
            })
        }
        other => {
            return Err(FieldError::new(
                "kind",
                format!(
                    "unknown kind {:?}; expected enroll, amend, request-key, add-key, revoke, extract, recycle, ship, receive, transform or attest",
                    other.chars().take(40).collect::<String>()
                ),
            ));
        }
    };
    let emissions_g_co2e = match emissions {
        Some(n) => Some(scaled("emissions_kg_co2e", &n, 3, limits::MAX_EMISSIONS_G)?),
        None => None,
    };
    let event = Event {
        actor,
        time,
        nonce: given_nonce.unwrap_or_else(nonce),
        emissions_g_co2e,
        documents: documents.unwrap_or_default(),
        body,
    };
    check_event(&event)?;
    Ok(event)
}

/// Parses a file's text: one JSON object, a JSON array of objects, or one object per line.
/// Each event is normalized in order; `each` sees it before the next is parsed, so a
/// context can learn the lots and custody an earlier event creates.
pub fn parse_events(
    text: &str,
    ctx: &mut dyn FnMut(Value, usize) -> Result<(), FieldError>,
) -> Result<usize, FieldError> {
    let trimmed = text.trim_start();
    let mut count = 0;
    if trimmed.starts_with('[') {
        let values: Vec<Value> = serde_json::from_str(text).map_err(|e| {
            let hint = comma_hint(text, &e).unwrap_or_default();
            FieldError::new("(file)", format!("not a JSON array: {e}{hint}"))
        })?;
        for (i, v) in values.into_iter().enumerate() {
            ctx(v, i)?;
            count += 1;
        }
        return Ok(count);
    }
    let stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    for (i, v) in stream.enumerate() {
        let v = v.map_err(|e| {
            let hint = comma_hint(text, &e).unwrap_or_default();
            FieldError::new(
                format!("(event {})", i + 1),
                format!("not valid JSON: {e}{hint}"),
            )
        })?;
        ctx(v, i)?;
        count += 1;
    }
    Ok(count)
}

/// The fields every event may carry, taken out by [`parse_event`] before the kind's own.
const COMMON_FIELDS: &[&str] = &[
    "kind",
    "actor",
    "time",
    "nonce",
    "emissions_kg_co2e",
    "documents",
];

/// The fix for a JSON syntax error that a decimal comma causes: in `"quantity": 12,5` the
/// parser reads 12, then expects a field name where the 5 is.
fn comma_hint(text: &str, e: &serde_json::Error) -> Option<String> {
    if !e.is_syntax() {
        return None;
    }
    let line = text.lines().nth(e.line().checked_sub(1)?)?.as_bytes();
    // serde_json counts columns from 1, in bytes, and points at the byte it refused.
    let at = e.column().checked_sub(1)?;
    let after: Vec<u8> = line
        .get(at..)?
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    let before = line.get(..at)?;
    let before = before.trim_ascii_end().strip_suffix(b",")?;
    let whole_len = before
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let whole = before.get(before.len() - whole_len..)?;
    if whole.is_empty() || after.is_empty() {
        return None;
    }
    let (whole, frac) = (
        String::from_utf8_lossy(whole),
        String::from_utf8_lossy(&after),
    );
    Some(format!(
        "; if {whole},{frac} is a number, the decimal separator is a point: write {whole}.{frac}"
    ))
}

fn take_required<T: DeserializeOwned>(
    map: &mut Map<String, Value>,
    field: &str,
) -> Result<T, FieldError> {
    match map.remove(field) {
        Some(v) => typed(field, v),
        None => {
            // A misspelt required field shows as missing: name the key that looks like it.
            let typo = map.keys().find(|k| nearest(k, [field]).is_some());
            Err(FieldError::new(
                field,
                match typo {
                    Some(k) => format!("is required; found {k:?}: did you mean {field:?}?"),
                    None => "is required".to_owned(),
                },
            ))
        }
    }
}

fn take_optional<T: DeserializeOwned>(
    map: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<T>, FieldError> {
    match map.remove(field) {
        Some(Value::Null) | None => Ok(None),
        Some(v) => typed(field, v).map(Some),
    }
}

fn typed<T: DeserializeOwned>(field: &str, v: Value) -> Result<T, FieldError> {
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(v, &mut track);
    T::deserialize(de).map_err(|e| {
        let path = track.path().to_string();
        let full = if path == "." {
            field.to_owned()
        } else if path.starts_with('[') {
            format!("{field}{path}")
        } else {
            format!("{field}.{path}")
        };
        FieldError::new(full, with_hint(e.to_string(), &[]))
    })
}

fn from_value<T: DeserializeOwned>(v: Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // serde names unknown fields in the message; the path is where they were found.
        if path == "." {
            FieldError::new("(event)", with_hint(message, &[]))
        } else {
            // An unknown field of the event itself (a path of one name): the common fields
            // are valid there too.
            let top = !path.contains(['.', '[']);
            FieldError::new(
                path,
                with_hint(message, if top { COMMON_FIELDS } else { &[] }),
            )
        }
    })
}

/// Adds to `message`, serde's reason for refusing a value, what a supplier needs to fix it:
/// the known name nearest to an unknown field or variant (`more_fields` are further fields
/// valid where the value was), or how to write a number that was given as a string.
fn with_hint(mut message: String, more_fields: &[&str]) -> String {
    let unknown = |prefix: &str, more: &[&str]| {
        // serde: "unknown field `qty`, expected one of `lot`, `quantity`, `unit`, `from`".
        let rest = message.strip_prefix(prefix)?;
        let mut quoted = rest.split('`').step_by(2);
        let name = quoted.next()?;
        let known: Vec<&str> = quoted.chain(more.iter().copied()).collect();
        nearest(name, known).map(|n| format!("; did you mean {n:?}?"))
    };
    let hint = unknown("unknown field `", more_fields)
        .or_else(|| unknown("unknown variant `", &[]))
        .or_else(|| {
            message
                .strip_prefix("invalid type: string \"")
                .and_then(|rest| rest.strip_suffix("\", expected a JSON number"))
                .and_then(number_hint)
        });
    if let Some(hint) = hint {
        message.push_str(&hint);
    }
    message
}

/// How to write `text`, a number given as a JSON string: without quotes, and with a point as
/// the decimal separator (`"12,5"` is 12.5). `None` when `text` is not a number either way.
fn number_hint(text: &str) -> Option<String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, frac) = match unsigned.split_once(['.', ',']) {
        Some((w, f)) => (w, Some(f)),
        None => (unsigned, None),
    };
    if !digits(whole) || !frac.is_none_or(digits) {
        return None;
    }
    match frac {
        Some(f) if unsigned.contains(',') => {
            let sign = if text.starts_with('-') { "-" } else { "" };
            Some(if f.len() == 3 {
                // "1,500" may be a decimal comma or a thousands separator.
                format!(
                    "; the decimal separator is a point and there is no thousands separator: write {sign}{whole}.{f} or {sign}{whole}{f}, as a JSON number without quotes"
                )
            } else {
                format!(
                    "; the decimal separator is a point: write {sign}{whole}.{f}, as a JSON number without quotes"
                )
            })
        }
        _ => Some(format!(
            "; write it as a JSON number, without quotes: {text}"
        )),
    }
}

/// The name in `known` that `typed` most likely misspells: within a few edits (case
/// ignored), an abbreviation of it (`qty` for `quantity`), or one the start of the other
/// (`latitude` for `lat`). The fewest edits win.
fn nearest<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if typed.len() > 64 {
        return None;
    }
    let typed = typed.to_ascii_lowercase();
    known
        .into_iter()
        .filter_map(|name| {
            let lower = name.to_ascii_lowercase();
            let edits = edit_distance(&typed, &lower);
            let close = edits <= (lower.len() / 3).max(1)
                || (typed.len().min(lower.len()) >= 3
                    && (typed.starts_with(&lower) || lower.starts_with(&typed)))
                || (typed.len() >= 2
                    && typed.chars().next() == lower.chars().next()
                    && is_subsequence(&typed, &lower));
            close.then_some((edits, name))
        })
        .min_by_key(|(edits, _)| *edits)
        .map(|(_, name)| name)
}

/// Levenshtein distance in characters. `row` holds `b`'s length plus one cells, so every
/// index below (at most `j + 1 <= b.len()`) is in bounds.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Whether the characters of `short` appear in `long` in order.
fn is_subsequence(short: &str, long: &str) -> bool {
    let mut rest = long.chars();
    short.chars().all(|c| rest.any(|l| l == c))
}

fn scaled(path: &str, n: &Number, decimals: u32, limit: u64) -> Result<u64, FieldError> {
    parse_scaled(&n.to_string(), decimals, limit).map_err(|e| FieldError::new(path, e.to_string()))
}

fn quantity(path: &str, n: &Number, unit: Unit) -> Result<Quantity, FieldError> {
    let q = match unit {
        Unit::Kg => Quantity::Grams(scaled(path, n, 3, MAX_GRAMS)?),
        Unit::Pcs => Quantity::Pieces(
            parse_scaled(&n.to_string(), 0, MAX_PIECES)
                .map_err(|e| FieldError::new(path, format!("pieces are whole: {e}")))?,
        ),
    };
    crate::validate::check_quantity(path, q)?;
    Ok(q)
}

fn key(hex: &str, path: &str) -> Result<PublicKey, FieldError> {
    PublicKey::from_hex(hex).map_err(|e| FieldError::new(path, e.to_string()))
}

/// The fields every event carries. [`parse_event`] takes them out of the object one by one,
/// so that each error names its field; this struct only describes them for the schema.
#[derive(JsonSchema)]
#[expect(dead_code, reason = "describes the common fields for the schema only")]
pub(crate) struct CommonIn {
    /// The event kind; the other fields depend on it.
    kind: String,
    /// The party that did this and signs it: one of its enrolled keys must sign the event.
    actor: PartyId,
    /// When it happened: RFC 3339 in UTC with whole seconds, such as 2026-03-02T08:15:00Z
    /// (a lowercase t, a space for the T, and fractions that are all zeros are also read),
    /// from 1970-01-01 to 9999-12-31.
    time: Timestamp,
    /// Makes two otherwise identical real-world events distinct: a whole number from 0 to
    /// 18446744073709551615. Drawn at random when left out.
    nonce: Option<u64>,
    /// Process and transport emissions of this step, in kg CO2e: at most 3 decimals (stored
    /// as whole grams), no exponent, from 0 to 1000000000 (a million tonnes).
    #[schemars(extend("minimum" = 0, "maximum" = 1_000_000_000))]
    emissions_kg_co2e: Option<Number>,
    /// Off-ledger evidence (assay reports, bills of lading, LCA studies), each by name and
    /// SHA-256; at most 64.
    #[schemars(extend("maxItems" = limits::MAX_DOCUMENTS))]
    documents: Option<Vec<Document>>,
}

/// Admits a new party with its first keys; signed by an operator. An enrolled party is
/// changed with `amend` (name, country, roles) and `request-key` + `add-key` (keys).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrollIn {
    /// The party admitted.
    party: PartyId,
    /// Its legal or trading name: 1 to 256 bytes of UTF-8 without control characters.
    #[schemars(length(min = 1, max = limits::MAX_TEXT))]
    name: String,
    /// Where it is registered.
    #[schemars(with = "Country")]
    country: String,
    /// What it may do; duplicates are dropped. 1 to 16 names.
    #[schemars(with = "Vec<Role>", length(min = 1, max = 16))]
    roles: Vec<String>,
    /// Keys that may sign for it, each once; 1 to 16.
    #[schemars(with = "Vec<PublicKey>", length(min = 1, max = limits::MAX_KEYS))]
    keys: Vec<String>,
}

fn enroll(e: EnrollIn) -> Result<Body, FieldError> {
    let country = country(&e.country)?;
    if e.keys.len() > limits::MAX_KEYS {
        return Err(FieldError::new("keys", "too many keys"));
    }
    let roles = roles(&e.roles)?;
    let keys = e
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| key(k, &format!("keys[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(Body::Enroll(Enroll {
        party: e.party,
        name: e.name,
        country,
        roles,
        keys,
    }))
}

/// The `country` of a party.
fn country(text: &str) -> Result<Country, FieldError> {
    Country::parse(text).map_err(|err| FieldError::new("country", err.to_string()))
}

/// Role names, sorted, each once.
fn roles(names: &[String]) -> Result<Vec<Role>, FieldError> {
    if names.len() > Role::ALL.len() * 2 {
        return Err(FieldError::new("roles", "too many roles"));
    }
    let mut roles = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let role = Role::parse(name).ok_or_else(|| {
            FieldError::new(format!("roles[{i}]"), format!("unknown role {name:?}; expected one of miner, trader, refiner, manufacturer, recycler, transporter, auditor, operator"))
        })?;
        roles.push(role);
    }
    roles.sort();
    roles.dedup();
    Ok(roles)
}

/// Changes a party's name, country and roles from this log position on; signed by an
/// operator. Events before it keep the party as it was.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AmendIn {
    /// The enrolled party.
    party: PartyId,
    /// Its name from now on: 1 to 256 bytes of UTF-8 without control characters.
    #[schemars(length(min = 1, max = limits::MAX_TEXT))]
    name: String,
    /// Its country from now on.
    #[schemars(with = "Country")]
    country: String,
    /// Its roles from now on; duplicates are dropped. 1 to 16 names.
    #[schemars(with = "Vec<Role>", length(min = 1, max = 16))]
    roles: Vec<String>,
}

/// A party asks for a new key; the actor is the party, signing with one of its current
/// keys. The key is valid once an operator's `add-key` adds it.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestKeyIn {
    /// The new key.
    #[schemars(with = "PublicKey")]
    key: String,
}

/// Adds the key a party requested; signed by an operator.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddKeyIn {
    /// The party.
    party: PartyId,
    /// The key, as requested.
    #[schemars(with = "PublicKey")]
    key: String,
    /// The id of the party's `request-key` event.
    request: Digest,
}

/// Withdraws a key from this log position on; signed by an operator.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeIn {
    /// The party the key belongs to.
    party: PartyId,
    /// The key that may no longer sign.
    #[schemars(with = "PublicKey")]
    key: String,
}

/// A mine site.
#[derive(Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with \"id\", \"country\", \"lat\", \"lon\" and \"method\""
)]
#[schemars(rename = "Site")]
pub(crate) struct SiteIn {
    /// The site's id.
    id: SiteId,
    /// The country the site is in.
    #[schemars(with = "Country")]
    country: String,
    /// Latitude in degrees, -90 to 90, at most 6 decimals (stored as millionths of a degree).
    #[schemars(extend("minimum" = -90, "maximum" = 90))]
    lat: Number,
    /// Longitude in degrees, -180 to 180, at most 6 decimals (stored as millionths of a
    /// degree).
    #[schemars(extend("minimum" = -180, "maximum" = 180))]
    lon: Number,
    /// How the site is worked.
    method: Method,
}

/// A lot the event creates.
#[derive(Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with \"lot\", \"material\", \"quantity\" and \"unit\""
)]
#[schemars(rename = "Output", transform = schema::output_rules)]
pub(crate) struct OutputIn {
    /// The new lot's id; a lot is created once in the whole ledger.
    lot: LotId,
    /// What the lot is.
    material: Material,
    /// How much is created: for kg lots, kilograms with at most 3 decimals (stored as whole
    /// grams), at most 1000000000; for pcs lots, a whole number of pieces, at most
    /// 1000000000000. Greater than zero, no exponent.
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = MAX_PIECES))]
    quantity: Number,
    /// How the lot is counted.
    unit: Unit,
    /// Tracked components per unit of the lot, by component: for kg lots the mass fraction
    /// (0.031 is 3.1 %; stored as parts per million; the fractions add up to at most 1), for
    /// pcs lots kilograms per piece (stored as milligrams, at most 1000 kg). Each value
    /// greater than zero with at most 6 decimals; at most 32 components.
    #[serde(default)]
    #[schemars(with = "BTreeMap<Component, Number>", transform = schema::content_rules)]
    content: BTreeMap<String, Number>,
    /// Energy capacity per piece in kWh, for cells and modules (pcs lots only): greater than
    /// zero, at most 3 decimals (stored as watt-hours), at most 1000000.
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 1_000_000))]
    capacity_kwh: Option<Number>,
    /// Mass of one piece in kilograms, for pcs lots (required there, refused on kg lots):
    /// greater than zero, at most 6 decimals (stored as milligrams), at most 1000; at least
    /// the piece's content. Transforms conserve mass, and footprints are allocated by it.
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 1000))]
    unit_mass_kg: Option<Number>,
}

/// A miner creates lots from a mine site.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExtractIn {
    /// The mine site the material comes from.
    site: SiteIn,
    /// The lots extracted: 1 to 1024, each lot once.
    #[schemars(length(min = 1, max = limits::MAX_LOTS))]
    outputs: Vec<OutputIn>,
}

fn degrees(path: &str, n: &Number, max: u64) -> Result<i32, FieldError> {
    let (negative, micro) = parse_signed_scaled(&n.to_string(), 6, max)
        .map_err(|e| FieldError::new(path, e.to_string()))?;
    let micro = i32::try_from(micro).map_err(|_| FieldError::new(path, "out of range"))?;
    Ok(if negative { -micro } else { micro })
}

fn extract(x: ExtractIn) -> Result<Body, FieldError> {
    let site = Site {
        id: x.site.id,
        country: Country::parse(&x.site.country)
            .map_err(|e| FieldError::new("site.country", e.to_string()))?,
        lat_micro: degrees("site.lat", &x.site.lat, 90_000_000)?,
        lon_micro: degrees("site.lon", &x.site.lon, 180_000_000)?,
        method: x.site.method,
    };
    Ok(Body::Extract(Extract {
        site,
        outputs: outputs(x.outputs)?,
    }))
}

fn outputs(list: Vec<OutputIn>) -> Result<Vec<LotOutput>, FieldError> {
    if list.len() > limits::MAX_LOTS {
        return Err(FieldError::new(
            "outputs",
            format!("at most {} lots", limits::MAX_LOTS),
        ));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, o)| {
            let q = quantity(&format!("outputs[{i}].quantity"), &o.quantity, o.unit)?;
            let mut content = Content::new();
            for (name, value) in &o.content {
                let path = format!("outputs[{i}].content.{name}");
                let component =
                    Component::parse(name).map_err(|e| FieldError::new(&path, e.to_string()))?;
                // kg lots: a mass fraction with up to 6 decimals → ppm. pcs lots: kg per
                // piece with up to 6 decimals → mg per piece.
                let limit = if o.unit == Unit::Kg {
                    PPM
                } else {
                    MAX_MG_PER_PIECE
                };
                let v = parse_scaled(&value.to_string(), 6, limit).map_err(|e| {
                    let hint = if o.unit == Unit::Kg {
                        " (a mass fraction of at most 1)"
                    } else {
                        " (kg per piece)"
                    };
                    FieldError::new(&path, format!("{e}{hint}"))
                })?;
                content.insert(component, v);
            }
            let capacity_wh = match &o.capacity_kwh {
                Some(n) => Some(scaled(
                    &format!("outputs[{i}].capacity_kwh"),
                    n,
                    3,
                    1_000_000_000,
                )?),
                None => None,
            };
            let unit_mass_mg = match (&o.unit_mass_kg, o.unit) {
                (Some(n), Unit::Pcs) => Some(
                    parse_scaled(&n.to_string(), 6, MAX_MG_PER_PIECE).map_err(|e| {
                        FieldError::new(format!("outputs[{i}].unit_mass_kg"), e.to_string())
                    })?,
                ),
                (None, Unit::Pcs) => {
                    return Err(FieldError::new(
                        format!("outputs[{i}].unit_mass_kg"),
                        "a lot counted in pieces needs the mass of one piece, in kg",
                    ));
                }
                (Some(_), Unit::Kg) => {
                    return Err(FieldError::new(
                        format!("outputs[{i}].unit_mass_kg"),
                        "only lots counted in pieces have a unit mass; a kg lot's quantity is its mass",
                    ));
                }
                (None, Unit::Kg) => None,
            };
            Ok(LotOutput {
                lot: o.lot,
                material: o.material,
                quantity: q,
                content,
                capacity_wh,
                unit_mass_mg,
            })
        })
        .collect()
}

/// A recycler creates lots from recovered material; they count as recycled content.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecycleIn {
    /// Where the recovered material came from.
    feedstock: Feedstock,
    /// The recovered lots: 1 to 1024, each lot once.
    #[schemars(length(min = 1, max = limits::MAX_LOTS))]
    outputs: Vec<OutputIn>,
}

/// A quantity of a lot taken out of the actor's custody.
#[derive(Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with \"lot\" and \"quantity\""
)]
#[schemars(rename = "Move", transform = schema::quantity_rules)]
pub(crate) struct MoveIn {
    /// The lot.
    lot: LotId,
    /// How much, in the lot's unit: kilograms with at most 3 decimals (at most 1000000000),
    /// or whole pieces (at most 1000000000000). Greater than zero, no exponent.
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = MAX_PIECES))]
    quantity: Number,
    /// The lot's unit. `custody sign` reads it from the ledger when left out; without a
    /// ledger it must be given.
    unit: Option<Unit>,
    /// Id of the event that last gave the actor custody of the lot (its creation or its
    /// `receive`). `custody sign` fills it in from the ledger and the events earlier in the
    /// same file when left out.
    from: Option<Digest>,
}

/// The holder sends quantities of lots to a named receiver.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShipIn {
    /// The receiver; not the actor itself.
    to: PartyId,
    /// What is shipped: 1 to 1024, each lot once.
    #[schemars(length(min = 1, max = limits::MAX_LOTS))]
    lots: Vec<MoveIn>,
}

fn unit_of(
    path: &str,
    lot: &LotId,
    given: Option<Unit>,
    ctx: &dyn SignContext,
) -> Result<Unit, FieldError> {
    given.or_else(|| ctx.lot_unit(lot)).ok_or_else(|| {
        let message = if ctx.has_ledger() {
            format!(
                "lot {lot} is not in the ledger nor created earlier in this file: check the \
                 lot id (custody lots lists them)"
            )
        } else {
            format!(
                "lot {lot} is not known without a ledger; give its \"unit\" (kg or pcs), \
                 or sign where the ledger is (--ledger DIR)"
            )
        };
        FieldError::new(path, message)
    })
}

fn moves(
    field: &str,
    list: Vec<MoveIn>,
    actor: &PartyId,
    ctx: &dyn SignContext,
) -> Result<Vec<LotMove>, FieldError> {
    if list.len() > limits::MAX_LOTS {
        return Err(FieldError::new(
            field,
            format!("at most {} lots", limits::MAX_LOTS),
        ));
    }
    // What this event has already drawn from each receipt, so two moves of one lot
    // without links do not both count the same grams.
    let mut drawn: HashMap<(LotId, Digest), u64> = HashMap::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, m) in list.into_iter().enumerate() {
        let unit = unit_of(&format!("{field}[{i}].lot"), &m.lot, m.unit, ctx)?;
        let quantity = quantity(&format!("{field}[{i}].quantity"), &m.quantity, unit)?;
        if let Some(from) = m.from {
            *drawn.entry((m.lot.clone(), from)).or_default() += quantity.amount();
            out.push(LotMove {
                lot: m.lot,
                quantity,
                from,
            });
            continue;
        }
        let no_custody = || {
            FieldError::new(
                format!("{field}[{i}].from"),
                format!(
                    "{actor} holds no custody of lot {} in this ledger, so the link cannot be filled in",
                    m.lot
                ),
            )
        };
        let holding = ctx.holding(&m.lot, actor).ok_or_else(no_custody)?;
        let mut needed = quantity.amount();
        let mut held = 0u64;
        for receipt in &holding.receipts {
            let used = drawn.entry((m.lot.clone(), receipt.source)).or_default();
            let left = receipt.balance.saturating_sub(*used);
            held = held.saturating_add(left);
            let take = left.min(needed);
            if take == 0 {
                continue;
            }
            *used += take;
            needed -= take;
            // A receipt an earlier move of this event also draws on gets one move, so
            // each (lot, receipt) appears once.
            match out
                .iter_mut()
                .find(|o| o.lot == m.lot && o.from == receipt.source)
            {
                Some(o) => {
                    o.quantity = Quantity::of(unit, o.quantity.amount().saturating_add(take));
                }
                None => out.push(LotMove {
                    lot: m.lot.clone(),
                    quantity: Quantity::of(unit, take),
                    from: receipt.source,
                }),
            }
            if needed == 0 {
                break;
            }
        }
        if needed > 0 {
            return Err(FieldError::new(
                format!("{field}[{i}].quantity"),
                format!(
                    "{actor} holds {} of lot {} in this ledger, less than the {quantity} used",
                    Quantity::of(unit, held),
                    m.lot
                ),
            ));
        }
    }
    Ok(out)
}

/// A refiner or manufacturer consumes inputs it holds and creates output lots.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransformIn {
    /// Consumed inputs: 1 to 1024, each lot once.
    #[schemars(length(min = 1, max = limits::MAX_LOTS))]
    inputs: Vec<MoveIn>,
    /// Created lots: 1 to 1024, each lot once, none of them an input.
    #[schemars(length(min = 1, max = limits::MAX_LOTS))]
    outputs: Vec<OutputIn>,
}

/// A quantity of a lot that arrived.
#[derive(Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with \"lot\" and \"quantity\""
)]
#[schemars(rename = "ReceivedLot", transform = schema::quantity_rules)]
pub(crate) struct ReceivedIn {
    /// The lot.
    lot: LotId,
    /// How much arrived, in the lot's unit: kilograms with at most 3 decimals (at most
    /// 1000000000), or whole pieces (at most 1000000000000). Greater than zero, no exponent.
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = MAX_PIECES))]
    quantity: Number,
    /// The lot's unit. `custody sign` reads it from the ledger when left out; without a
    /// ledger it must be given.
    unit: Option<Unit>,
}

/// The named receiver takes delivery against a shipment.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReceiveIn {
    /// Id of the `ship` event delivered. `custody sign` fills it in when exactly one shipment
    /// to the actor, in the ledger or earlier in the same file and not yet received, carries
    /// all the lots.
    shipment: Option<Digest>,
    /// What arrived: 1 to 1024, each lot once.
    #[schemars(length(min = 1, max = limits::MAX_LOTS))]
    lots: Vec<ReceivedIn>,
}

fn receive(r: ReceiveIn, actor: &PartyId, ctx: &dyn SignContext) -> Result<Body, FieldError> {
    if r.lots.len() > limits::MAX_LOTS {
        return Err(FieldError::new(
            "lots",
            format!("at most {} lots", limits::MAX_LOTS),
        ));
    }
    let shipment = match r.shipment {
        Some(id) => id,
        None if r.lots.is_empty() => return Err(FieldError::new("lots", "must not be empty")),
        None => {
            let lots: Vec<LotId> = r.lots.iter().map(|m| m.lot.clone()).collect();
            match ctx.open_shipments(actor, &lots)[..] {
                [id] => id,
                [] => {
                    return Err(FieldError::new(
                        "shipment",
                        format!(
                            "no open shipment to {actor} carries these lots; give the ship event's id"
                        ),
                    ));
                }
                ref several => {
                    return Err(FieldError::new(
                        "shipment",
                        format!(
                            "{} open shipments to {actor} carry these lots: {}; give the id of the one delivered",
                            several.len(),
                            list_ids(several)
                        ),
                    ));
                }
            }
        }
    };
    let lots = r
        .lots
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let unit = unit_of(&format!("lots[{i}].lot"), &m.lot, m.unit, ctx)?;
            Ok(Received {
                quantity: quantity(&format!("lots[{i}].quantity"), &m.quantity, unit)?,
                lot: m.lot,
            })
        })
        .collect::<Result<_, FieldError>>()?;
    Ok(Body::Receive(Receive { shipment, lots }))
}

/// Event ids for a message, in full so they can be copied; at most 10, then how many more.
fn list_ids(ids: &[Digest]) -> String {
    const SHOWN: usize = 10;
    let mut list: Vec<String> = ids.iter().take(SHOWN).map(Digest::to_hex).collect();
    if ids.len() > SHOWN {
        list.push(format!("and {} more", ids.len() - SHOWN));
    }
    list.join(", ")
}

/// Who or what an attestation is about: exactly one of `party` and `lot`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "an object with \"party\" or \"lot\"")]
#[schemars(rename = "Subject", transform = schema::exactly_one_of_party_and_lot)]
pub(crate) struct SubjectIn {
    /// A party.
    party: Option<PartyId>,
    /// A lot.
    lot: Option<LotId>,
}

/// An auditor states a claim about a party or a lot.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::claim_rules)]
pub(crate) struct AttestIn {
    /// Who or what the claim is about. An attestation by its own subject counts for nothing.
    subject: SubjectIn,
    /// What is claimed.
    claim: Claim,
    /// Pass, conditional or fail, where the claim has an outcome; required for
    /// `onsite-audit`.
    result: Option<Outcome>,
    /// A score from 0 to 100, where the claim has one (an SAQ, an SSI score, an audit).
    #[serde(default, deserialize_with = "score")]
    #[schemars(range(max = 100))]
    score: Option<u8>,
    /// A certificate number or corrective action plan id: 1 to 128 bytes of UTF-8 without
    /// control characters; required for `cap-opened` and `cap-closed`.
    #[schemars(length(min = 1, max = 128))]
    reference: Option<String>,
    /// The corrective action plan's severity: required for `cap-opened`, refused otherwise.
    severity: Option<CapSeverity>,
    /// End of validity, if it expires: not before `time`.
    valid_until: Option<Timestamp>,
}

/// Reads `score` as a whole number, naming the range rather than a Rust integer type.
fn score<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u8>, D::Error> {
    match Option::<Number>::deserialize(deserializer)? {
        None => Ok(None),
        Some(n) => n
            .as_u64()
            .and_then(|v| u8::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "expected a whole number from 0 to 100, found {n}"
                ))
            }),
    }
}

fn attest(a: AttestIn) -> Result<Body, FieldError> {
    let subject = match (a.subject.party, a.subject.lot) {
        (Some(p), None) => Subject::Party(p),
        (None, Some(l)) => Subject::Lot(l),
        _ => {
            return Err(FieldError::new(
                "subject",
                "give exactly one of \"party\" or \"lot\"",
            ));
        }
    };
    Ok(Body::Attest(Attest {
        subject,
        claim: a.claim,
        result: a.result,
        score: a.score,
        reference: a.reference,
        severity: a.severity,
        valid_until: a.valid_until,
    }))
}
