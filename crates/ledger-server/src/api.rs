//! The HTTP handlers and the router: the write API (`POST /v1/statements`), the checkpoint,
//! tlog-tiles, the JSON reads, `/healthz`, `/metrics` and `/openapi.json`.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ledger::Ledger;
use ledger_core::hash::Digest;
use ledger_core::id::LotId;
use ledger_core::keys::SecretKey;
use ledger_core::policy::Policy;
use ledger_core::statement::{Statement, StatementJson};
use ledger_store::Store;
use ledger_store_postgres::AnyStore;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use crate::problem::Problem;
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
}

type Shared = State<Arc<AppState>>;

/// The router over `state`.
pub fn router(state: Arc<AppState>, body_limit: usize) -> Router {
    Router::new()
        .route("/v1/statements", post(submit))
        .route("/checkpoint", get(checkpoint))
        .route("/tile/{*rest}", get(tile))
        .route("/v1/checkpoint", get(checkpoint_json))
        .route("/v1/entries/{seq}", get(entry_by_seq))
        .route("/v1/events/{id}", get(entry_by_id))
        .route("/v1/proofs/inclusion", get(inclusion))
        .route("/v1/proofs/consistency", get(consistency))
        .route("/v1/lots/{lot}/trace", get(trace))
        .route("/v1/lots/{lot}/verify", get(verify_default).post(verify))
        .route("/v1/lots/{lot}/bundle", get(bundle))
        .route("/v1/lots/{lot}/report", get(report_default).post(report))
        .route("/v1/parties", get(parties))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(state.clone(), limit))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
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
async fn blocking<T: Send + 'static>(
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
        let statement = Statement {
            event: parsed.event,
            signer: parsed.signer,
            signature: parsed.signature,
        };
        let id = statement
            .id()
            .map_err(|e| Problem::malformed(&at("event"), format!("{}: {e}", at("event"))))?;
        if id != parsed.id {
            return Err(Problem::malformed(
                &at("id"),
                format!(
                    "{}: \"id\" is {} but the event hashes to {id}",
                    at("id"),
                    parsed.id
                ),
            ));
        }
        out.push(statement);
    }
    Ok(out)
}

/// `POST /v1/statements`.
async fn submit(State(state): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let start = Instant::now();
    let response = submit_inner(&state, &headers, &body).await;
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
            let mut body = json!({ "receipts": receipts, "checkpoint": checkpoint });
            if duplicate {
                body["detail"] = json!("every statement is already in the log; these are their receipts");
            }
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

/// `GET /v1/checkpoint`: the same as JSON.
async fn checkpoint_json(State(state): Shared) -> Result<Response, Problem> {
    let p = published(&state)?;
    let mut response = Json(json!({
        "origin": state.ledger.origin(),
        "size": p.size,
        "root": p.root.to_hex(),
        "note": p.note,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// `GET /tile/...`: tlog-tiles.
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

fn entry_json(stored: &ledger::StoredEntry) -> Result<Value, Problem> {
    let entry = &stored.entry;
    let statement = StatementJson::new(&entry.statement)
        .map_err(|e| Problem::from(ledger::Error::Damaged(e.to_string())))?;
    Ok(json!({
        "seq": entry.seq,
        "prev": entry.prev,
        "recorded_at": entry.recorded_at,
        "entry_hash": stored.hash,
        "statement": statement,
        "entry_hex": hex::encode(&stored.bytes),
    }))
}

/// `GET /v1/entries/{seq}`.
async fn entry_by_seq(State(state): Shared, Path(seq): Path<String>) -> Result<Response, Problem> {
    let seq: u64 = seq
        .parse()
        .map_err(|_| Problem::malformed("seq", format!("{seq:?} is not a log position")))?;
    let ledger = state.ledger.clone();
    let value = blocking(move || entry_json(&ledger.entry(seq)?)).await?;
    Ok(Json(value).into_response())
}

/// `GET /v1/events/{id}`.
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
#[derive(Deserialize)]
struct InclusionQuery {
    seq: u64,
    size: Option<u64>,
}

/// `GET /v1/proofs/inclusion?seq=N[&size=M]`.
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
#[derive(Deserialize)]
struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

/// `GET /v1/proofs/consistency?from=N[&to=M]`.
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
async fn trace(State(state): Shared, Path(lot): Path<String>) -> Result<Response, Problem> {
    let lot = lot_id(&lot)?;
    let ledger = state.ledger.clone();
    let value = blocking(move || Ok(crate::json::trace_json(&ledger.trace(&lot)?))).await?;
    Ok(Json(value).into_response())
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
async fn verify_default(
    State(state): Shared,
    Path(lot): Path<String>,
) -> Result<Response, Problem> {
    verify_with(&state, lot, Policy::default()).await
}

/// `POST /v1/lots/{lot}/verify`: verification under the policy in the body (TOML, or JSON
/// with `Content-Type: application/json`).
async fn verify(
    State(state): Shared,
    Path(lot): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let policy = policy_from(&headers, &body)?;
    verify_with(&state, lot, policy).await
}

/// `GET /v1/lots/{lot}/bundle`: the evidence bundle file.
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
#[derive(Deserialize)]
struct ReportQuery {
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
async fn report_default(
    State(state): Shared,
    Path(lot): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, Problem> {
    report_with(&state, lot, q.format, Policy::default()).await
}

/// `POST /v1/lots/{lot}/report?format=F`: the report under the policy in the body.
async fn report(
    State(state): Shared,
    Path(lot): Path<String>,
    Query(q): Query<ReportQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let policy = policy_from(&headers, &body)?;
    report_with(&state, lot, q.format, policy).await
}

/// `GET /v1/parties`: every enrolled party, its roles and keys.
async fn parties(State(state): Shared) -> Result<Response, Problem> {
    let ledger = state.ledger.clone();
    let list = blocking(move || {
        let parties = ledger
            .store()
            .parties()
            .map_err(|e| Problem::from(ledger::Error::from(e)))?;
        Ok(parties
            .iter()
            .map(|p| {
                json!({
                    "id": p.id, "name": p.name, "country": p.country, "roles": p.roles,
                    "keys": p.keys.iter().map(|k| json!({
                        "key": k.key, "enrolled_seq": k.enrolled_seq, "revoked_seq": k.revoked_seq,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(json!({ "parties": list })).into_response())
}

/// `GET /healthz`: 200 while the store answers.
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
    Ok(
        Json(json!({ "status": "ok", "size": size, "checkpoint_size": checkpoint }))
            .into_response(),
    )
}

/// `GET /metrics`: Prometheus text format.
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
async fn openapi() -> Response {
    Json(crate::openapi::document()).into_response()
}
