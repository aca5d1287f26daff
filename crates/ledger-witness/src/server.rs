//! The witness's HTTP front end (c2sp.org/tlog-witness): `POST /add-checkpoint`, and
//! `GET /` describing the witness for the people who configure logs and clients. It only
//! translates HTTP to [`Witness::add_checkpoint`] and back; every check lives there.
//!
//! Each request runs on tokio's blocking pool, since the check ends in fsyncs; the
//! state's lock serializes them. Bodies are limited (413 beyond), and a request that takes
//! longer than the timeout, reading its body included, gets 408.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::protocol::MAX_REQUEST_SIZE;
use crate::witness::{AddError, Witness};

/// The content type of a 409 answer's body: the stored tree size and a newline.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// The content type of cosignature lines and of plain-text messages.
const TEXT: &str = "text/plain; charset=utf-8";

/// How the witness listens.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// The largest request body, in bytes (413 beyond).
    pub body_limit: usize,
    /// The longest a request may take, reading its body included (408 beyond).
    pub request_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: "127.0.0.1:8081".into(),
            body_limit: MAX_REQUEST_SIZE,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Why the witness server could not run.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {error}")]
pub struct ServerError {
    /// What was being done.
    what: String,
    /// The error.
    error: std::io::Error,
}

/// The routes, over `witness`.
pub fn router(witness: Arc<Witness>, config: &Config) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/", get(describe))
        .route("/witness", get(describe))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .with_state(witness)
}

/// Serves `witness` until SIGTERM or SIGINT; calls `ready` with the URL
/// (`http://` and the bound address) once it listens.
pub fn run(witness: Witness, config: &Config, ready: impl FnOnce(&str)) -> Result<(), ServerError> {
    init_logging();
    let io = |what: &str| {
        let what = what.to_owned();
        move |error| ServerError { what, error }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io("cannot start the async runtime"))?;
    let app = router(Arc::new(witness), config);
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .map_err(io(&format!("cannot listen on {}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(io("cannot read the bound address"))?;
        let url = format!("http://{addr}");
        tracing::info!(%url, "witness listening");
        ready(&url);
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(io("the server failed"))
    })
}

/// `POST /add-checkpoint`.
async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let done = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body, now)).await;
    match done {
        Ok(Ok(lines)) => {
            tracing::info!("cosigned");
            ([(header::CONTENT_TYPE, TEXT)], lines).into_response()
        }
        Ok(Err(refused)) => {
            let status =
                StatusCode::from_u16(refused.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            tracing::warn!(status = status.as_u16(), "refused: {refused}");
            match refused {
                AddError::Conflict { stored, .. } => (
                    status,
                    [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
                    format!("{stored}\n"),
                )
                    .into_response(),
                other => {
                    (status, [(header::CONTENT_TYPE, TEXT)], format!("{other}\n")).into_response()
                }
            }
        }
        Err(_) => {
            tracing::error!("the add-checkpoint task failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, TEXT)],
                "internal error: nothing was cosigned\n",
            )
                .into_response()
        }
    }
}

/// `GET /` and `GET /witness`: the name, verifier key and followed logs, as text.
async fn describe(State(witness): State<Arc<Witness>>) -> Response {
    let mut text = format!(
        "C2SP tlog-witness (POST /add-checkpoint)\nname {}\nvkey {}\n",
        witness.name(),
        witness.vkey()
    );
    for log in witness.logs() {
        text.push_str(&format!("log {}\n", log.vkey()));
    }
    ([(header::CONTENT_TYPE, TEXT)], text).into_response()
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("signal received: stopping");
}

/// Logs to standard error, filtered by `CUSTODY_LOG` (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUSTODY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
