//! The HTTP handlers and the router: the write API (`POST /v1/statements`), the checkpoint,
//! tlog-tiles, the JSON reads, `/healthz`, `/metrics` and `/openapi.json`.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use ledger::{Ledger, SigningSource};
use ledger_core::hash::Digest;
use ledger_core::id::LotId;
use ledger_core::keys::SecretKey;
use ledger_core::policy::Policy;
use ledger_core::statement::{Statement, StatementJson};
use ledger_store::Store;
use ledger_store_postgres::AnyStore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Semaphore;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::metrics::Metrics;
use crate::problem::{Problem, ProblemBody};
use crate::rate::RateLimit;
use crate::tiles::{self, TileError, TilePath};
use crate::writer::{Published, Rejected, Reply, Writer};

/// What every handler shares.
pub struct AppState {
    /// The ledger (reads go straight to the store; appends only through `writer`).
    pub ledger: Arc<Ledger<AnyStore>>,
    /// The operator key, for bundles that need a fresh checkpoint. Never sent anywhere.
    pub key: Arc<SecretKey>,
    /// The writer thread's queue.
    pub writer: Writer,
    /// The latest signed checkpoint.
    pub published: Arc<RwLock<Option<Published>>>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Requests handled at once; more are answered 503.
    pub slots: Arc<Semaphore>,
    /// Requests per second by client IP address.
    pub per_ip: RateLimit<std::net::IpAddr>,
    /// Statements per second by signer key.
    pub per_signer: RateLimit<[u8; 32]>,
    /// Whether checkpoints are published only once witnesses cosigned them.
    pub witnessed: bool,
    /// Battery passport pages: the resolver base URL and the index of bindings.
    pub passports: Arc<crate::passport::Passports>,
}

type Shared = State<Arc<AppState>>;

/// Every route, each registered from its handler's `#[utoipa::path]` by utoipa-axum, which
/// adds the annotation to the OpenAPI document as it adds the handler to the router: a
/// route served here is described at `/openapi.json` (the test
/// `every_route_of_the_router_is_in_the_document` guards against a plain `.route`).
pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .routes(routes!(submit))
        .routes(routes!(checkpoint))
        .routes(routes!(tile))
        .routes(routes!(checkpoint_json))
        .routes(routes!(entry_by_seq))
        .routes(routes!(entry_by_id))
        .routes(routes!(inclusion))
        .routes(routes!(consistency))
        .routes(routes!(trace))
        .routes(routes!(lot))
        .routes(routes!(holding))
        .routes(routes!(open_shipments))
        .routes(routes!(verify_default, verify))
        .routes(routes!(bundle))
        .routes(routes!(report_default, report))
        .routes(routes!(parties))
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
        .routes(routes!(crate::passport::passport))
        .routes(routes!(crate::passport::asset))
}

/// The routes with the fallback and the body limit: everything of [`router`] that needs no
/// state, so a test can read its route table. Add routes in [`routes`], never here.
pub fn app(body_limit: usize) -> Router<Arc<AppState>> {
    let (router, _) = routes().split_for_parts();
    router
        .fallback(fallback)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
}

/// The router over `state`.
pub fn router(state: Arc<AppState>, body_limit: usize) -> Router {
    app(body_limit)
        .layer(axum::middleware::from_fn_with_state(state.clone(), limit))
        .with_state(state)
}

/// The per-address rate limit (429), the concurrency limit (a request beyond it gets 503 with
/// `Retry-After` at once, without queueing) and the response counter.
async fn limit(State(state): Shared, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let response = if let Some(Err(seconds)) = peer.map(|ip| state.per_ip.take(&ip, 1)) {
        too_many(seconds, "this address").into_response()
    } else if let Ok(permit) = state.slots.clone().try_acquire_owned() {
        let response = next.run(request).await;
        drop(permit);
        response
    } else {
        Problem::overloaded("too many requests in progress; retry shortly").into_response()
    };
    state
        .metrics
        .responses
        .with_label_values(&[response.status().as_str()])
        .inc();
    response
}

/// 429 with `Retry-After`.
fn too_many(seconds: u64, who: &str) -> Problem {
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        "too many requests",
        format!("{who} is over its rate limit; retry in {seconds} s"),
    )
    .retry_after(seconds)
}

async fn fallback() -> Problem {
    Problem::not_found("no such resource; GET /openapi.json lists what this server serves")
}

/// Runs a blocking engine call off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|_| {
        Err(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
            "a request handler stopped unexpectedly",
        ))
    })
}

/// The statements in a body: one signed statement object, or an array of them, each as
/// `custody sign` prints it. A problem names the JSON path of what is wrong.
pub fn parse_body(body: &[u8]) -> Result<Vec<Statement>, Problem> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Problem::malformed("(body)", format!("the body is not JSON: {e}")))?;
    let (items, array) = match value {
        Value::Array(items) => (items, true),
        object @ Value::Object(_) => (vec![object], false),
        _ => {
            return Err(Problem::malformed(
                "(body)",
                "the body must be a signed statement object or an array of them",
            ));
        }
    };
    if items.is_empty() {
        return Err(Problem::malformed("(body)", "the array holds no statement"));
    }
    if items.len() > ledger::MAX_BATCH {
        return Err(Problem::malformed(
            "(body)",
            format!("more than {} statements in one request", ledger::MAX_BATCH),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at = |path: &str| match (array, path.is_empty() || path == ".") {
            (true, true) => format!("[{i}]"),
            (true, false) => format!("[{i}].{path}"),
            (false, true) => "(body)".to_owned(),
            (false, false) => path.to_owned(),
        };
        let parsed: StatementJson = serde_path_to_error::deserialize(item).map_err(|e| {
            let path = e.path().to_string();
            Problem::malformed(&at(&path), format!("{}: {}", at(&path), e.into_inner()))
        })?;
        let (carried, statement) = parsed.into_parts();
        let id = statement
            .id()
            .map_err(|e| Problem::malformed(&at("event"), format!("{}: {e}", at("event"))))?;
        if id != carried {
            return Err(Problem::malformed(
                &at("id"),
                format!(
                    "{}: \"id\" is {carried} but the event hashes to {id}",
                    at("id")
                ),
            ));
        }
        out.push(statement);
    }
    Ok(out)
}

/// The body of `POST /v1/statements`: one signed statement or an array of them.
// Only its schema is used: `parse_body` reads the body itself, to name the JSON path of an
// error.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[expect(dead_code, reason = "only the schema is used")]
enum Statements {
    /// One statement.
    One(SignedStatement),
    /// Several (at least one), all or nothing.
    Many(Vec<SignedStatement>),
}

/// A signed statement exactly as `custody sign` prints it (`docs/format.md`).
#[derive(Deserialize, ToSchema)]
#[expect(dead_code, reason = "only the schema is used")]
struct SignedStatement {
    /// The event id: the hash of `event`, 64 hex digits.
    id: String,
    /// The event (`docs/input.md`, after `custody sign` filled it in).
    #[schema(value_type = Object)]
    event: Value,
    /// The signer's public key, hex.
    signer: String,
    /// The Ed25519 signature over the ledger's origin and the event, hex.
    signature: String,
}

/// The answer to an accepted (`201`) or repeated (`409`) `POST /v1/statements`.
#[derive(Serialize, ToSchema)]
struct Receipts {
    /// One receipt per statement, in request order.
    receipts: Vec<ledger::Receipt>,
    /// The signed checkpoint note (C2SP) whose root every inclusion proof leads to.
    checkpoint: String,
    /// `409` only: why these receipts are not new.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'static str>,
}

/// `POST /v1/statements`.
#[utoipa::path(
    post,
    path = "/v1/statements",
    operation_id = "submitStatements",
    summary = "Submit one signed statement or an array of them (all or nothing)",
    request_body(content = Statements, content_type = "application/json"),
    responses(
        (status = 201, description = "appended and durable; each receipt proved against the signed checkpoint", body = Receipts),
        (status = 409, description = "every statement is already in the log: their receipts, so a retry is idempotent", body = Receipts),
        (status = 400, description = "malformed: `field` names the JSON path", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "the body is over `--body-limit`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "not `application/json`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "refused by the rules: `findings` lists each (statement, code, message); nothing was appended", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "a signer is over `--rate-per-signer`", body = ProblemBody, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "seconds"))),
        (status = 503, description = "the append queue is full, the server is stopping, or the store is unavailable; nothing was acknowledged", body = ProblemBody, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "seconds"))),
    )
)]
async fn submit(
    State(state): Shared,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let start = Instant::now();
    let response = match body {
        Ok(body) => submit_inner(&state, &headers, &body).await,
        Err(rejection) => Err(body_rejected(&rejection)),
    };
    state
        .metrics
        .submit_seconds
        .observe(start.elapsed().as_secs_f64());
    match response {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

async fn submit_inner(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Problem> {
    if let Some(kind) = headers.get(header::CONTENT_TYPE)
        && !kind
            .to_str()
            .is_ok_and(|k| k.trim_start().starts_with("application/json"))
    {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "media-type",
            "unsupported media type",
            "send the statements as application/json",
        ));
    }
    let statements = parse_body(body)?;
    let mut by_signer: std::collections::HashMap<[u8; 32], u32> = std::collections::HashMap::new();
    for s in &statements {
        *by_signer.entry(*s.signer.as_bytes()).or_default() += 1;
    }
    for (signer, count) in &by_signer {
        if let Err(seconds) = state.per_signer.take(signer, *count) {
            return Err(too_many(
                seconds,
                &format!("signer {}", hex::encode(signer)),
            ));
        }
    }
    let ledger = state.ledger.clone();
    let metrics = state.metrics.clone();
    let admitted = blocking(move || match ledger.admit(statements) {
        Ok(admitted) => Ok(admitted),
        Err(ledger::Error::Refused(refused)) => {
            metrics.refused(&refused);
            Err(Problem::refused(&refused))
        }
        Err(e) => Err(Problem::from(e)),
    })
    .await?;
    let answer = match state.writer.submit(admitted) {
        Ok(answer) => answer,
        Err(Rejected::Full) => {
            return Err(Problem::overloaded(
                "the append queue is full; retry shortly",
            ));
        }
        Err(Rejected::Stopped) => {
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "stopping",
                "the server is stopping",
                "the server is shutting down; retry on its next start",
            )
            .retry_after(5));
        }
    };
    match answer.await {
        Ok(Reply::Receipts {
            receipts,
            checkpoint,
            duplicate,
        }) => {
            let status = if duplicate {
                StatusCode::CONFLICT
            } else {
                StatusCode::CREATED
            };
            let detail = duplicate
                .then_some("every statement is already in the log; these are their receipts");
            let body = Receipts {
                receipts,
                checkpoint,
                detail,
            };
            Ok((status, Json(body)).into_response())
        }
        Ok(Reply::Refused(refused)) => Err(Problem::refused(&refused)),
        Ok(Reply::Failed(message)) => Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the ledger is unavailable",
            format!("{message}; nothing of this request was acknowledged"),
        )
        .retry_after(1)),
        Err(_) => Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the ledger is unavailable",
            "the writer stopped before answering; retry (a retry of an appended request gets 409 with its receipts)",
        )
        .retry_after(1)),
    }
}

/// A body that could not be read: over the limit (413), or cut off (400).
fn body_rejected(rejection: &axum::extract::rejection::BytesRejection) -> Problem {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "request body too large",
            "the body is over the server's --body-limit; send fewer statements per request",
        );
    }
    Problem::malformed("(body)", rejection.body_text())
}

fn published(state: &AppState) -> Result<Published, Problem> {
    state
        .published
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .ok_or_else(|| {
            Problem::not_found(
                "no checkpoint is published yet (with witnesses: none is cosigned by the quorum yet)",
            )
        })
}

/// `GET /checkpoint`: the latest signed checkpoint, C2SP text.
#[utoipa::path(
    get,
    path = "/checkpoint",
    operation_id = "checkpoint",
    summary = "The latest signed checkpoint: a C2SP tlog-checkpoint signed note (`Cache-Control: no-cache`)",
    responses(
        (status = 200, description = "the note: origin, size, base64 root, blank line, signature lines", body = String, content_type = "text/plain"),
        (status = 404, description = "no checkpoint is published yet", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn checkpoint(State(state): Shared) -> Result<Response, Problem> {
    let p = published(&state)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        p.note,
    )
        .into_response())
}

/// The latest checkpoint, as JSON.
#[derive(Serialize, ToSchema)]
struct CheckpointJson {
    /// The log's origin, the note's first line.
    origin: String,
    /// The tree size.
    size: u64,
    /// The Merkle root, hex.
    root: String,
    /// The signed note, as `GET /checkpoint` serves it.
    note: String,
}

/// `GET /v1/checkpoint`: the same as JSON.
#[utoipa::path(
    get,
    path = "/v1/checkpoint",
    operation_id = "checkpointJson",
    summary = "The latest signed checkpoint as JSON",
    responses(
        (status = 200, description = "origin, size, root and the note", body = CheckpointJson),
        (status = 404, description = "no checkpoint is published yet", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn checkpoint_json(State(state): Shared) -> Result<Response, Problem> {
    let p = published(&state)?;
    let mut response = Json(CheckpointJson {
        origin: state.ledger.origin().to_owned(),
        size: p.size,
        root: p.root.to_hex(),
        note: p.note,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// `GET /tile/...`: tlog-tiles.
#[utoipa::path(
    get,
    // axum's catch-all; the document names it `/tile/{path}` (`crate::openapi::document`).
    path = "/tile/{*path}",
    operation_id = "tile",
    summary = "C2SP tlog-tiles: a hash tile tile/<L>/<N>[.p/<W>] or an entry bundle tile/entries/<N>[.p/<W>]",
    params(("path" = String, Path, description = "what follows /tile/, slashes included: `0/x001/234`, `entries/000.p/7`")),
    responses(
        (status = 200, description = "the tile: full tiles `Cache-Control: public, max-age=31536000, immutable`, partial ones `no-cache`", content(("application/octet-stream"))),
        (status = 404, description = "not a tlog-tiles path, or beyond the log", body = ProblemBody, content_type = "application/problem+json"),
        (status = 500, description = "the store is damaged, or an entry is too large for a bundle", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn tile(State(state): Shared, Path(rest): Path<String>) -> Result<Response, Problem> {
    let Some(path) = TilePath::parse(&rest) else {
        return Err(Problem::not_found(format!(
            "tile/{rest} is not a tlog-tiles path"
        )));
    };
    let ledger = state.ledger.clone();
    let bytes = blocking(move || {
        let size = ledger
            .store()
            .head()
            .map_err(|e| Problem::from(ledger::Error::from(e)))?;
        tiles::read(ledger.store(), path, size.size).map_err(|e| match e {
            TileError::NotFound => Problem::not_found(format!(
                "tile/{rest} is beyond the log of {} entries",
                size.size
            )),
            TileError::EntryTooLarge(seq) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "entry-too-large",
                "entry too large for a bundle",
                format!("entry #{seq} is over 65535 bytes, the most an entry bundle can hold"),
            ),
            TileError::Store(e) => Problem::from(e),
        })
    })
    .await?;
    let cache = if path.is_partial() {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    )
        .into_response())
}

/// One log entry.
#[derive(Serialize, ToSchema)]
struct EntryJson {
    /// Its position, from 0.
    seq: u64,
    /// The hash of the entry before it (zero for the first), hex.
    #[schema(value_type = String)]
    prev: Digest,
    /// When the operator recorded it (RFC 3339).
    #[schema(value_type = String)]
    recorded_at: ledger_core::timestamp::Timestamp,
    /// Its hash: the RFC 6962 leaf hash of `entry_hex`, hex.
    #[schema(value_type = String)]
    entry_hash: Digest,
    /// The signed statement it holds.
    #[schema(value_type = SignedStatement)]
    statement: StatementJson,
    /// The entry's canonical bytes (`docs/format.md`), hex: what the leaf hash covers.
    entry_hex: String,
}

fn entry_json(stored: &ledger::StoredEntry) -> Result<EntryJson, Problem> {
    let entry = &stored.entry;
    let statement = StatementJson::new(&entry.statement)
        .map_err(|e| Problem::from(ledger::Error::Damaged(e.to_string())))?;
    Ok(EntryJson {
        seq: entry.seq,
        prev: entry.prev,
        recorded_at: entry.recorded_at,
        entry_hash: stored.hash,
        statement,
        entry_hex: hex::encode(&stored.bytes),
    })
}

/// `GET /v1/entries/{seq}`.
#[utoipa::path(
    get,
    path = "/v1/entries/{seq}",
    operation_id = "entryBySeq",
    summary = "One entry by log position",
    params(("seq" = u64, Path, description = "the log position, from 0")),
    responses(
        (status = 200, description = "the entry", body = EntryJson),
        (status = 400, description = "not a log position", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no entry at that position", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn entry_by_seq(State(state): Shared, Path(seq): Path<String>) -> Result<Response, Problem> {
    let seq: u64 = seq
        .parse()
        .map_err(|_| Problem::malformed("seq", format!("{seq:?} is not a log position")))?;
    let ledger = state.ledger.clone();
    let value = blocking(move || entry_json(&ledger.entry(seq)?)).await?;
    Ok(Json(value).into_response())
}

/// `GET /v1/events/{id}`.
#[utoipa::path(
    get,
    path = "/v1/events/{id}",
    operation_id = "entryById",
    summary = "One entry by event id",
    params(("id" = String, Path, description = "the event id, 64 hex digits", pattern = "^[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "the entry", body = EntryJson),
        (status = 400, description = "not a hex event id", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no such event in the log", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn entry_by_id(State(state): Shared, Path(id): Path<String>) -> Result<Response, Problem> {
    let id: Digest = id
        .parse()
        .map_err(|_| Problem::malformed("id", format!("{id:?} is not a hex event id")))?;
    let ledger = state.ledger.clone();
    let value = blocking(move || {
        let seq = ledger.position(&id)?;
        entry_json(&ledger.entry(seq)?)
    })
    .await?;
    Ok(Json(value).into_response())
}

/// Query of `GET /v1/proofs/inclusion`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct InclusionQuery {
    /// The entry's log position.
    seq: u64,
    /// The tree size to prove against (default: the log's).
    #[param(minimum = 1)]
    size: Option<u64>,
}

/// `GET /v1/proofs/inclusion?seq=N[&size=M]`.
#[utoipa::path(
    get,
    path = "/v1/proofs/inclusion",
    operation_id = "inclusionProof",
    summary = "RFC 9162 inclusion proof of entry `seq` in the tree of `size` entries",
    params(InclusionQuery),
    responses(
        (status = 200, description = "the proof", body = ledger::InclusionProof),
        (status = 400, description = "a missing or bad number, or sizes the log does not have", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn inclusion(
    State(state): Shared,
    query: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = query.map_err(|e| Problem::malformed("seq", e.body_text()))?;
    let ledger = state.ledger.clone();
    let proof = blocking(move || Ok(ledger.inclusion_proof(q.seq, q.size)?)).await?;
    Ok(Json(proof).into_response())
}

/// Query of `GET /v1/proofs/consistency`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ConsistencyQuery {
    /// The older tree size.
    from: u64,
    /// The newer tree size (default: the log's).
    to: Option<u64>,
}

/// `GET /v1/proofs/consistency?from=N[&to=M]`.
#[utoipa::path(
    get,
    path = "/v1/proofs/consistency",
    operation_id = "consistencyProof",
    summary = "RFC 9162 consistency proof from tree size `from` to `to`",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "the proof", body = ledger::ConsistencyProof),
        (status = 400, description = "a missing or bad number, or sizes the log does not have", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn consistency(
    State(state): Shared,
    query: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = query.map_err(|e| Problem::malformed("from", e.body_text()))?;
    let ledger = state.ledger.clone();
    let proof = blocking(move || Ok(ledger.consistency_proof(q.from, q.to)?)).await?;
    Ok(Json(proof).into_response())
}

fn lot_id(lot: &str) -> Result<LotId, Problem> {
    LotId::new(lot).map_err(|e| Problem::malformed("lot", format!("lot {lot:?}: {e}")))
}

/// `GET /v1/lots/{lot}/trace`: the provenance, as `custody trace --json` prints it.
#[utoipa::path(
    get,
    path = "/v1/lots/{lot}/trace",
    operation_id = "trace",
    summary = "A lot's provenance, as `custody trace --json` prints it",
    params(("lot" = String, Path, description = "the lot id")),
    responses(
        (status = 200, description = "the trace", body = Object),
        (status = 400, description = "not a lot id", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no such lot", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn trace(State(state): Shared, Path(lot): Path<String>) -> Result<Response, Problem> {
    let lot = lot_id(&lot)?;
    let ledger = state.ledger.clone();
    let value = blocking(move || Ok(crate::json::trace_json(&ledger.trace(&lot)?))).await?;
    Ok(Json(value).into_response())
}

/// The answer of `GET /v1/lots/{lot}`.
#[derive(Serialize, ToSchema)]
struct LotJson {
    /// The lot as created (material, unit, quantity, content, creating event and party), or
    /// `null` when the ledger has no such lot.
    #[schema(value_type = Option<Object>)]
    lot: Option<ledger_core::state::LotRecord>,
}

/// `GET /v1/lots/{lot}`: the lot as created; `custody sign --server` reads its unit.
#[utoipa::path(
    get,
    path = "/v1/lots/{lot}",
    operation_id = "lot",
    summary = "A lot as created, or null: what `custody sign --server` reads for its unit",
    params(("lot" = String, Path, description = "the lot id")),
    responses(
        (status = 200, description = "the lot, or null", body = LotJson),
        (status = 400, description = "not a lot id", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn lot(State(state): Shared, Path(lot): Path<String>) -> Result<Response, Problem> {
    let lot = lot_id(&lot)?;
    let ledger = state.ledger.clone();
    let record = blocking(move || Ok(SigningSource::lot(&*ledger, &lot)?)).await?;
    Ok(Json(LotJson { lot: record }).into_response())
}

/// The answer of `GET /v1/lots/{lot}/holdings/{party}`.
#[derive(Serialize, ToSchema)]
struct HoldingJson {
    /// `{"receipts": [{"source": event id, "balance": n}, …]}` in log order, in the lot's
    /// unit; `null` when the party never held the lot.
    #[schema(value_type = Option<Object>)]
    holding: Option<ledger_core::state::Holding>,
}

/// `GET /v1/lots/{lot}/holdings/{party}`: what a party holds of a lot, receipt by receipt.
#[utoipa::path(
    get,
    path = "/v1/lots/{lot}/holdings/{party}",
    operation_id = "holding",
    summary = "What a party holds of a lot, receipt by receipt: the links `custody sign --server` fills `from` with",
    params(
        ("lot" = String, Path, description = "the lot id"),
        ("party" = String, Path, description = "the party id"),
    ),
    responses(
        (status = 200, description = "the holding, or null", body = HoldingJson),
        (status = 400, description = "not a lot id or party id", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn holding(
    State(state): Shared,
    Path((lot, party)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let lot = lot_id(&lot)?;
    let party = party_id("party", &party)?;
    let ledger = state.ledger.clone();
    let holding = blocking(move || Ok(SigningSource::holding(&*ledger, &lot, &party)?)).await?;
    Ok(Json(HoldingJson { holding }).into_response())
}

/// Query of `GET /v1/shipments/open`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OpenShipmentsQuery {
    /// The party the shipments are addressed to.
    to: String,
    /// The lots every shipment must carry, comma-separated.
    lots: String,
}

/// The answer of `GET /v1/shipments/open`.
#[derive(Serialize, ToSchema)]
struct OpenShipmentsJson {
    /// The ids of the `ship` events, in log order.
    #[schema(value_type = Vec<String>)]
    shipments: Vec<Digest>,
}

/// `GET /v1/shipments/open?to=P&lots=A,B`: the shipments a `receive` may be linked to.
#[utoipa::path(
    get,
    path = "/v1/shipments/open",
    operation_id = "openShipments",
    summary = "The shipments addressed to a party, not yet received, that carry every given lot: what `custody sign --server` links a `receive` to",
    params(OpenShipmentsQuery),
    responses(
        (status = 200, description = "the shipments, in log order", body = OpenShipmentsJson),
        (status = 400, description = "a missing or bad party id or lot id", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn open_shipments(
    State(state): Shared,
    query: Result<Query<OpenShipmentsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = query.map_err(|e| Problem::malformed("to", e.body_text()))?;
    let to = party_id("to", &q.to)?;
    let lots = q
        .lots
        .split(',')
        .map(|lot| {
            LotId::new(lot).map_err(|e| Problem::malformed("lots", format!("lot {lot:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ledger = state.ledger.clone();
    let shipments =
        blocking(move || Ok(SigningSource::open_shipments(&*ledger, &to, &lots)?)).await?;
    Ok(Json(OpenShipmentsJson { shipments }).into_response())
}

fn party_id(field: &str, party: &str) -> Result<ledger_core::id::PartyId, Problem> {
    ledger_core::id::PartyId::new(party)
        .map_err(|e| Problem::malformed(field, format!("party {party:?}: {e}")))
}

/// The policy in a request body: JSON when the content type says so, else TOML; an empty
/// body is the built-in policy.
fn policy_from(headers: &HeaderMap, body: &[u8]) -> Result<Policy, Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Policy::default());
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| Problem::malformed("(body)", "the policy is not UTF-8 text"))?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    ledger::parse_policy(text, json, "in the request body")
        .map_err(|e| Problem::malformed("(body)", e.to_string()))
}

async fn verify_with(state: &AppState, lot: String, policy: Policy) -> Result<Response, Problem> {
    let lot = lot_id(&lot)?;
    let ledger = state.ledger.clone();
    let report =
        blocking(move || Ok(ledger.verify_lot(&lot, &policy, ledger::now()?)?.report)).await?;
    Ok(Json(report).into_response())
}

/// `GET /v1/lots/{lot}/verify`: verification under the built-in policy.
#[utoipa::path(
    get,
    path = "/v1/lots/{lot}/verify",
    operation_id = "verifyLot",
    summary = "Verify a lot under the built-in policy, as `custody verify --lot --json`",
    params(("lot" = String, Path, description = "the lot id")),
    responses(
        (status = 200, description = "the report: verdict, counts and every finding (a failing verdict is still 200)", body = Object),
        (status = 400, description = "not a lot id", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no such lot", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn verify_default(
    State(state): Shared,
    Path(lot): Path<String>,
) -> Result<Response, Problem> {
    verify_with(&state, lot, Policy::default()).await
}

/// `POST /v1/lots/{lot}/verify`: verification under the policy in the body (TOML, or JSON
/// with `Content-Type: application/json`).
#[utoipa::path(
    post,
    path = "/v1/lots/{lot}/verify",
    operation_id = "verifyLotWithPolicy",
    summary = "Verify a lot under the due-diligence policy in the body",
    params(("lot" = String, Path, description = "the lot id")),
    request_body(
        description = "the policy: TOML, or JSON with `Content-Type: application/json`; empty for the built-in one",
        content((String = "application/toml"), (Object = "application/json")),
    ),
    responses(
        (status = 200, description = "the report: verdict, counts and every finding", body = Object),
        (status = 400, description = "not a lot id, or a policy that cannot be read", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no such lot", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "the policy is over `--body-limit`", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn verify(
    State(state): Shared,
    Path(lot): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|e| body_rejected(&e))?;
    let policy = policy_from(&headers, &body)?;
    verify_with(&state, lot, policy).await
}

/// `GET /v1/lots/{lot}/bundle`: the evidence bundle file.
#[utoipa::path(
    get,
    path = "/v1/lots/{lot}/bundle",
    operation_id = "bundle",
    summary = "The lot's evidence bundle, the file `custody export-bundle` writes",
    params(("lot" = String, Path, description = "the lot id")),
    responses(
        (status = 200, description = "the bundle (`docs/format.md`)", content(("application/octet-stream"))),
        (status = 400, description = "not a lot id", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no such lot", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`not-witnessed`: with `--witness`, the latest entries are not in a checkpoint the quorum cosigned yet", body = ProblemBody, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "seconds"))),
    )
)]
async fn bundle(State(state): Shared, Path(lot): Path<String>) -> Result<Response, Problem> {
    let lot = lot_id(&lot)?;
    let ledger = state.ledger.clone();
    // With witnesses a bundle carries only the published, cosigned checkpoint: never one
    // signed for the export.
    let witnessed = state.witnessed;
    let key = (!witnessed).then(|| state.key.clone());
    let published = published(&state).ok().map(|p| p.size);
    let bytes = blocking(move || {
        let exported = ledger.export_bundle(&lot, key.as_deref(), ledger::now()?);
        if !witnessed {
            return Ok(exported?.bytes);
        }
        match exported {
            Ok(e) if Some(e.checkpoint.size()) == published => Ok(e.bytes),
            Ok(_) | Err(ledger::Error::BadInput(_)) => Err(Problem::not_witnessed()),
            Err(e) => Err(e.into()),
        }
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// Query of the report endpoints.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// json (the default), csv, html, dot, epcis or passport.
    format: Option<String>,
}

async fn report_with(
    state: &AppState,
    lot: String,
    format: Option<String>,
    policy: Policy,
) -> Result<Response, Problem> {
    let lot = lot_id(&lot)?;
    let name = format.unwrap_or_else(|| "json".to_owned());
    let format = ledger_report::Format::parse(&name).ok_or_else(|| {
        Problem::malformed(
            "format",
            format!("unknown report format {name:?}: json, csv, html, dot, epcis or passport"),
        )
    })?;
    let ledger = state.ledger.clone();
    let (text, passed) = blocking(move || {
        let report = ledger.report(&lot, &policy, ledger::now()?)?;
        let text = ledger_report::render(&report.data, format).map_err(|e| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "report",
                "the report cannot be rendered",
                e.to_string(),
            )
        })?;
        Ok((text, report.verdict == ledger_core::finding::Verdict::Pass))
    })
    .await?;
    let kind = match name.as_str() {
        "csv" => "text/csv; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "dot" => "text/vnd.graphviz; charset=utf-8",
        _ => "application/json",
    };
    let verdict = if passed { "pass" } else { "fail" };
    Ok((
        [
            (header::CONTENT_TYPE, kind),
            (header::HeaderName::from_static("custody-verdict"), verdict),
        ],
        text,
    )
        .into_response())
}

/// `GET /v1/lots/{lot}/report?format=F`: the report under the built-in policy.
#[utoipa::path(
    get,
    path = "/v1/lots/{lot}/report",
    operation_id = "report",
    summary = "The lot's compliance report under the built-in policy, as `custody report --format F`",
    params(("lot" = String, Path, description = "the lot id"), ReportQuery),
    responses(
        (status = 200, description = "the report; the header `Custody-Verdict` is `pass` or `fail`",
            content((String = "application/json"), (String = "text/csv"), (String = "text/html"), (String = "text/vnd.graphviz")),
            headers(("Custody-Verdict" = String, description = "`pass` or `fail`"))),
        (status = 400, description = "not a lot id, an unknown format, or a policy that cannot be read", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no such lot", body = ProblemBody, content_type = "application/problem+json"),
        (status = 500, description = "the report cannot be rendered", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn report_default(
    State(state): Shared,
    Path(lot): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, Problem> {
    report_with(&state, lot, q.format, Policy::default()).await
}

/// `POST /v1/lots/{lot}/report?format=F`: the report under the policy in the body.
#[utoipa::path(
    post,
    path = "/v1/lots/{lot}/report",
    operation_id = "reportWithPolicy",
    summary = "The lot's compliance report under the due-diligence policy in the body",
    params(("lot" = String, Path, description = "the lot id"), ReportQuery),
    request_body(
        description = "the policy: TOML, or JSON with `Content-Type: application/json`; empty for the built-in one",
        content((String = "application/toml"), (Object = "application/json")),
    ),
    responses(
        (status = 200, description = "the report; the header `Custody-Verdict` is `pass` or `fail`",
            content((String = "application/json"), (String = "text/csv"), (String = "text/html"), (String = "text/vnd.graphviz")),
            headers(("Custody-Verdict" = String, description = "`pass` or `fail`"))),
        (status = 400, description = "not a lot id, an unknown format, or a policy that cannot be read", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no such lot", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "the policy is over `--body-limit`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 500, description = "the report cannot be rendered", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn report(
    State(state): Shared,
    Path(lot): Path<String>,
    Query(q): Query<ReportQuery>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|e| body_rejected(&e))?;
    let policy = policy_from(&headers, &body)?;
    report_with(&state, lot, q.format, policy).await
}

/// The answer of `GET /v1/parties`.
#[derive(Serialize, ToSchema)]
struct PartiesJson {
    /// Every enrolled party.
    parties: Vec<PartyJson>,
}

/// An enrolled party as it is now.
#[derive(Serialize, ToSchema)]
struct PartyJson {
    /// Its id.
    #[schema(value_type = String)]
    id: ledger_core::id::PartyId,
    /// Its name.
    name: String,
    /// Its country (ISO 3166-1 alpha-2).
    #[schema(value_type = String)]
    country: ledger_core::id::Country,
    /// Its roles (`miner`, `refiner`, …).
    #[schema(value_type = Vec<String>)]
    roles: Vec<ledger_core::event::Role>,
    /// Every key ever enrolled for it.
    keys: Vec<KeyJson>,
}

/// One enrolled key.
#[derive(Serialize, ToSchema)]
struct KeyJson {
    /// The Ed25519 public key, hex.
    #[schema(value_type = String)]
    key: ledger_core::keys::KeyBytes,
    /// The log position of its enrollment.
    enrolled_seq: u64,
    /// The log position of its revocation, if revoked.
    revoked_seq: Option<u64>,
}

/// `GET /v1/parties`: every enrolled party, its roles and keys.
#[utoipa::path(
    get,
    path = "/v1/parties",
    operation_id = "parties",
    summary = "Every enrolled party with its country, roles and keys",
    responses((status = 200, description = "the parties", body = PartiesJson))
)]
async fn parties(State(state): Shared) -> Result<Response, Problem> {
    let ledger = state.ledger.clone();
    let parties = blocking(move || {
        let parties = ledger
            .store()
            .parties()
            .map_err(|e| Problem::from(ledger::Error::from(e)))?;
        Ok(parties
            .into_iter()
            .map(|p| PartyJson {
                id: p.id,
                name: p.name,
                country: p.country,
                roles: p.roles,
                keys: p
                    .keys
                    .into_iter()
                    .map(|k| KeyJson {
                        key: k.key,
                        enrolled_seq: k.enrolled_seq,
                        revoked_seq: k.revoked_seq,
                    })
                    .collect(),
            })
            .collect())
    })
    .await?;
    Ok(Json(PartiesJson { parties }).into_response())
}

/// The answer of `GET /healthz`.
#[derive(Serialize, ToSchema)]
struct Health {
    /// Always `ok` (a store that does not answer is a problem document instead).
    status: &'static str,
    /// The log's size.
    size: u64,
    /// The size of the latest published checkpoint, if there is one.
    checkpoint_size: Option<u64>,
}

/// `GET /healthz`: 200 while the store answers.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    summary = "Liveness: the store answers",
    responses(
        (status = 200, description = "the store answers", body = Health),
        (status = 503, description = "the store is unavailable", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn healthz(State(state): Shared) -> Result<Response, Problem> {
    let ledger = state.ledger.clone();
    let size = blocking(move || {
        ledger
            .store()
            .head()
            .map_err(|e| Problem::from(ledger::Error::from(e)))
    })
    .await?
    .size;
    let checkpoint = published(&state).ok().map(|p| p.size);
    Ok(Json(Health {
        status: "ok",
        size,
        checkpoint_size: checkpoint,
    })
    .into_response())
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    summary = "Prometheus metrics (text format 0.0.4)",
    responses(
        (status = 200, description = "the metrics", body = String, content_type = "text/plain"),
        (status = 500, description = "the metrics cannot be rendered", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn metrics(State(state): Shared) -> Result<Response, Problem> {
    let text = state.metrics.render().map_err(|e| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
            format!("cannot render the metrics: {e}"),
        )
    })?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// `GET /openapi.json`: the OpenAPI 3.1 description of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    summary = "This document (OpenAPI 3.1)",
    responses((status = 200, description = "the document", body = Object))
)]
async fn openapi() -> Result<Response, Problem> {
    let document = crate::openapi::document().map_err(|e| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
            e,
        )
    })?;
    Ok(Json(document).into_response())
}
