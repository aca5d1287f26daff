//! `custody serve`: Custody's network front end, a second thin front end over the engine
//! ([`ledger::Ledger`]) beside the CLI. The server process owns the store: every read and
//! write goes through it, so auditors read while suppliers submit.
//!
//! - **Writes** (`POST /v1/statements`): each request is parsed (400 naming the field),
//!   checked at the door ([`Ledger::admit`]: structure, signature, the signer's enrollment;
//!   422 with the findings), queued for the one writer thread (503 with `Retry-After` when
//!   the queue is full), group-committed with the requests around it
//!   ([`Ledger::append_group`]: one durable store batch, one request's refusal never failing
//!   another) and answered 201 with receipts proved against a signed checkpoint that covers
//!   them, only once the group is durable. A request whose statements are all in the log
//!   already gets 409 with their receipts, so retries are idempotent.
//! - **Checkpoints**: signed with the operator key whenever the log grew, at most once per
//!   checkpoint interval, and served at `GET /checkpoint`.
//! - **Reads**: C2SP tlog-tiles (`/tile/...`), and JSON for entries, proofs, traces, lot
//!   verification, bundles, reports and parties (`docs/api.md`, `/openapi.json`).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ledger_core::keys::SecretKey;
//! // A sled directory, or a `postgres://` URL shared by several servers.
//! let store = ledger_store_postgres::AnyStore::open("custody-ledger".as_ref())?;
//! let ledger = ledger::Ledger::open(store)?;
//! let key = SecretKey::from_seed(&[1; 32]);
//! let config = ledger_server::Config::default();
//! let ledger = ledger_server::run(ledger, key, &config, |url| println!("listening on {url}"))?;
//! ledger.into_store().close()?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
// Bytes from the network must never crash the process.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
pub mod json;
mod metrics;
mod openapi;
pub mod passport;
mod problem;
mod rate;
pub mod tiles;
mod witnessing;
mod writer;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ledger::Ledger;
use ledger_core::keys::SecretKey;
use ledger_store_postgres::AnyStore;

pub use api::parse_body;
pub use openapi::document as openapi_document;
pub use witnessing::WitnessSettings;
pub use writer::GroupSettings;

/// How the server listens and what it allows.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// Group commit and checkpoint bounds.
    pub group: GroupSettings,
    /// Requests that may wait for the writer before new ones get 503.
    pub queue: usize,
    /// The largest request body, in bytes (413 beyond).
    pub body_limit: usize,
    /// The longest a request may take, reading its body included (408 beyond).
    pub request_timeout: Duration,
    /// The longest a client may take to send a request's headers, from when the server waits
    /// for them (a new connection, or one kept alive); the connection is closed beyond, so a
    /// client that sends half a header cannot hold it.
    pub header_timeout: Duration,
    /// Requests handled at once (503 beyond).
    pub concurrency: usize,
    /// Requests per second one client IP address may send (0: no limit); beyond, 429.
    pub rate_per_ip: u32,
    /// Statements per second one signer key may submit (0: no limit); beyond, 429.
    pub rate_per_signer: u32,
    /// Serve HTTPS with this certificate chain and private key (PEM files), else plain HTTP.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Logs as JSON lines instead of text.
    pub log_json: bool,
    /// Witnesses that must cosign a checkpoint before it is published.
    pub witnesses: Option<WitnessSettings>,
    /// The scheme and host of battery passport Digital Link URLs (the QR codes); the
    /// server's own URL when `None`.
    pub passport_base_url: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: "127.0.0.1:8080".into(),
            group: GroupSettings {
                max_statements: 1024,
                max_latency: Duration::from_millis(5),
                checkpoint_interval: Duration::from_millis(0),
            },
            queue: 8192,
            body_limit: 4 << 20,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            concurrency: 1024,
            rate_per_ip: 0,
            rate_per_signer: 0,
            tls: None,
            log_json: false,
            witnesses: None,
            passport_base_url: None,
        }
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Listening or the runtime failed.
    #[error("{what}: {error}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        error: std::io::Error,
    },
    /// The engine refused to start (the operator key, a damaged store).
    #[error(transparent)]
    Ledger(#[from] ledger::Error),
    /// The metrics could not be set up.
    #[error("cannot set up the metrics: {0}")]
    Metrics(String),
}

/// Serves `ledger` until SIGTERM or SIGINT, signing checkpoints with `key`; calls `ready`
/// with the server's URL (`http://` or, with [`Config::tls`], `https://` and the bound
/// address) once it listens. On a signal it stops accepting connections,
/// answers the requests in progress (their group is committed and flushed), and returns the
/// ledger for the caller to close.
pub fn run(
    ledger: Ledger<AnyStore>,
    key: SecretKey,
    config: &Config,
    ready: impl FnOnce(&str),
) -> Result<Ledger<AnyStore>, ServerError> {
    init_logging(config.log_json);
    let io = |what: &str| {
        let what = what.to_owned();
        move |error| ServerError::Io { what, error }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io("cannot start the async runtime"))?;
    let ledger = Arc::new(ledger);
    // Proofs read the upper Merkle levels from memory once they are loaded; until then
    // (seconds at 10^6 entries) they read them from the store, as a cold cache does.
    let loading = {
        let ledger = ledger.clone();
        std::thread::spawn(move || {
            if let Err(e) = ledger.load_proof_cache() {
                tracing::warn!(error = %e, "cannot load the proof cache: proofs read the store");
            }
        })
    };
    let key = Arc::new(key);
    let metrics =
        Arc::new(metrics::Metrics::new().map_err(|e| ServerError::Metrics(e.to_string()))?);
    let published = Arc::new(RwLock::new(None));
    let passports = Arc::new(passport::Passports::new(config.passport_base_url.clone()));
    let (writer, thread) = writer::start(
        ledger.clone(),
        key.clone(),
        config.group,
        config.queue,
        published.clone(),
        metrics.clone(),
        config.witnesses.clone(),
    )?;
    let state = Arc::new(api::AppState {
        ledger: ledger.clone(),
        key,
        writer: writer.clone(),
        published,
        metrics,
        slots: Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1))),
        per_ip: rate::RateLimit::new(config.rate_per_ip),
        per_signer: rate::RateLimit::new(config.rate_per_signer),
        witnessed: config.witnesses.is_some(),
        passports: passports.clone(),
    });
    let app = api::router(state, config.body_limit).layer(
        tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ),
    );
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .map_err(io(&format!("cannot listen on {}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(io("cannot read the bound address"))?;
        let listener = listener
            .into_std()
            .map_err(io("cannot hand over the listener"))?;
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let handle = axum_server::Handle::new();
        let stopper = handle.clone();
        // Requests in progress end within their timeout: wait that long for them.
        let grace = config.request_timeout + Duration::from_secs(1);
        tokio::spawn(async move {
            shutdown_signal().await;
            stopper.graceful_shutdown(Some(grace));
        });
        let Some((cert, key)) = &config.tls else {
            let mut server = axum_server::from_tcp(listener)
                .map_err(io("cannot listen"))?
                .handle(handle)
                .http1_only();
            // hyper closes a connection whose headers take longer (axum-server gives it the
            // timer). Only HTTP/1 is served, so a connection is read as HTTP/1 from its first
            // byte: no protocol detection waits for bytes without a bound.
            server
                .http_builder()
                .http1()
                .header_read_timeout(config.header_timeout);
            let url = format!("http://{addr}");
            tracing::info!(%url, origin = ledger.origin(), "listening");
            passports.set_listen_url(&url);
            ready(&url);
            return server.serve(service).await.map_err(io("the server failed"));
        };
        let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
            .await
            .map_err(io(&format!(
                "cannot use the TLS certificate {} and key {}",
                cert.display(),
                key.display()
            )))?;
        let mut server = axum_server::from_tcp_rustls(listener, tls)
            .map_err(io("cannot listen with TLS"))?
            .handle(handle)
            .http1_only();
        server
            .http_builder()
            .http1()
            .header_read_timeout(config.header_timeout);
        let url = format!("https://{addr}");
        tracing::info!(%url, origin = ledger.origin(), "listening");
        passports.set_listen_url(&url);
        ready(&url);
        server.serve(service).await.map_err(io("the server failed"))
    });
    tracing::info!("stopping: finishing the open group");
    writer.stop();
    drop(writer);
    if thread.join().is_err() {
        tracing::error!("the writer thread panicked");
    }
    runtime.shutdown_timeout(Duration::from_secs(5));
    if loading.join().is_err() {
        tracing::error!("the proof cache's loader panicked");
    }
    served?;
    Arc::try_unwrap(ledger).map_err(|_| {
        ServerError::Ledger(ledger::Error::BadInput(
            "the ledger is still in use after shutdown".into(),
        ))
    })
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
    tracing::info!("signal received: no new connections");
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUSTODY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
