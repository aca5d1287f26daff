//! The client side of `custody serve`: an HTTP client for the server's API, and the read
//! commands (`verify --lot`, `trace`, `export-bundle`, `checkpoint`, `proof`) run against a
//! server with `--server URL` instead of a ledger directory.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ledger::SigningSource;
use ledger_core::hash::Digest;
use ledger_core::id::{LotId, PartyId};
use ledger_core::plural::counted;
use ledger_core::state::{Holding, LotRecord};
use ledger_core::statement::Origin;
use serde_json::Value;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::cli::{CheckpointArgs, ExportBundleArgs, ProofKind, TraceArgs, VerifyArgs};
use crate::commands::{load_policy, print_json};
use crate::exit;

/// The most a response body may hold (a bundle of a large lot included).
const MAX_RESPONSE: u64 = 256 << 20;

/// A server's API.
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

/// A response: status and body.
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body).context("the server's answer is not JSON")
    }

    /// Fails with the server's problem document in words unless the status is `ok`.
    pub fn expect(self, ok: &[u16]) -> Result<Answer> {
        if ok.contains(&self.status) {
            return Ok(self);
        }
        let detail = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&self.body)
                    .chars()
                    .take(500)
                    .collect()
            });
        bail!("the server answered {}: {detail}", self.status)
    }
}

/// The root certificates `--ca` gave, for every client of this process.
static ROOTS: OnceLock<Vec<Certificate<'static>>> = OnceLock::new();

/// The largest `--ca` file read.
const MAX_CA_FILE: u64 = 1 << 20;

/// Makes every client of this process trust only the certificates in the PEM file `ca`
/// (no file: the built-in Mozilla roots).
pub fn trust_roots(ca: Option<&Path>) -> Result<()> {
    let Some(path) = ca else {
        return Ok(());
    };
    let pem = crate::io::read_text(path, MAX_CA_FILE)?;
    let certs: Vec<Certificate<'static>> = pem
        .split_inclusive("-----END CERTIFICATE-----")
        .filter(|block| block.contains("-----BEGIN CERTIFICATE-----"))
        .map(|block| {
            Certificate::from_pem(block.as_bytes())
                .map_err(|e| anyhow::anyhow!("--ca {}: {e}", path.display()))
        })
        .collect::<Result<_>>()?;
    if certs.is_empty() {
        bail!("--ca {}: no PEM certificate in the file", path.display());
    }
    let _ = ROOTS.set(certs);
    Ok(())
}

impl Client {
    /// A client of the server at `url` (`http://host:port`).
    pub fn new(url: &str) -> Result<Client> {
        let base = url.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            bail!("--server {url}: give a URL such as http://127.0.0.1:8080");
        }
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)));
        if let Some(roots) = ROOTS.get() {
            let tls = TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(roots))
                .build();
            config = config.tls_config(tls);
        }
        let agent: ureq::Agent = config.build().into();
        Ok(Client { base, agent })
    }

    fn read(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        path: &str,
    ) -> Result<Answer> {
        let mut response =
            result.with_context(|| format!("cannot reach the server at {}{path}", self.base))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .with_context(|| format!("cannot read the answer of {}{path}", self.base))?;
        Ok(Answer { status, body })
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Answer> {
        let url = format!("{}{path}", self.base);
        self.read(self.agent.get(&url).call(), path)
    }

    /// `POST path` with `body` of `content_type`.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Result<Answer> {
        let url = format!("{}{path}", self.base);
        self.read(
            self.agent
                .post(&url)
                .header("Content-Type", content_type)
                .send(body),
            path,
        )
    }
}

/// A path segment with everything but unreserved characters percent-encoded.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `custody verify --lot LOT --server URL`.
pub fn verify(server: &str, args: &VerifyArgs) -> Result<u8> {
    if !args.checkpoint.is_empty() || !args.witnesses.is_empty() || args.witness_policy.is_some() {
        bail!(
            "with --server, --checkpoint and witness policies are checked on a bundle: run \
             custody --server URL export-bundle LOT --out FILE, then custody --server URL \
             verify --bundle FILE with them"
        );
    }
    let Some(lot) = &args.lot else {
        bail!(
            "with --server, verify checks one lot: give --lot (whole-ledger verify runs on the ledger's machine)"
        );
    };
    let client = Client::new(server)?;
    let path = format!("/v1/lots/{}/verify", segment(lot.as_str()));
    let answer = match &args.policy {
        Some(file) => {
            load_policy(Some(file))?;
            let text = crate::io::read_text(file, 1 << 20)?;
            let json = file.extension().is_some_and(|e| e == "json");
            let kind = if json {
                "application/json"
            } else {
                "application/toml"
            };
            client.post(&path, kind, text.as_bytes())?
        }
        None => client.get(&path)?,
    }
    .expect(&[200])?;
    let report = answer.json()?;
    if args.json {
        print_json(&report)?;
    } else {
        for f in report["findings"].as_array().into_iter().flatten() {
            let at = f["seq"]
                .as_u64()
                .map(|s| format!(" at #{s}"))
                .unwrap_or_default();
            crate::outln!(
                "{} {}{at}: {}",
                f["severity"].as_str().unwrap_or("error"),
                f["rule"].as_str().unwrap_or_default(),
                f["message"].as_str().unwrap_or_default()
            );
        }
        let verdict = report["verdict"].as_str().unwrap_or("fail").to_uppercase();
        let count = |k: &str| report["counts"][k].as_u64().unwrap_or(0);
        crate::outln!(
            "verdict: {verdict} (lot {lot}; {} checked; {}, {})",
            counted(report["entries"].as_u64().unwrap_or(0), "entry", "entries"),
            counted(count("errors"), "error", "errors"),
            counted(count("warnings"), "warning", "warnings")
        );
    }
    Ok(if report["verdict"] == "pass" {
        exit::SUCCESS
    } else {
        exit::FAILED
    })
}

/// `custody trace LOT --server URL`.
pub fn trace(server: &str, args: &TraceArgs) -> Result<u8> {
    let client = Client::new(server)?;
    let path = format!("/v1/lots/{}/trace", segment(args.lot.as_str()));
    let trace = client.get(&path)?.expect(&[200])?.json()?;
    if args.json {
        print_json(&trace)?;
        return Ok(exit::SUCCESS);
    }
    let len = |k: &str| trace[k].as_array().map_or(0, Vec::len);
    crate::outln!(
        "provenance of {}: {}, {}, {}",
        args.lot,
        counted(len("events"), "event", "events"),
        counted(len("links"), "link", "links"),
        counted(len("origins"), "origin", "origins")
    );
    for o in trace["origins"].as_array().into_iter().flatten() {
        let what = match o["site"].as_str() {
            Some(site) => format!("mine {site} ({})", o["party"].as_str().unwrap_or_default()),
            None => format!("recycled by {}", o["party"].as_str().unwrap_or_default()),
        };
        let shares: Vec<String> = o["share_ppm"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(c, ppm)| {
                let ppm = ppm.as_u64().unwrap_or(0);
                format!(
                    "{c} {}.{:02}%",
                    ppm / 10_000,
                    (ppm % 10_000 + 50) / 100 % 100
                )
            })
            .collect();
        crate::outln!(
            "  {what}, {}: {}",
            o["country"].as_str().unwrap_or_default(),
            shares.join(", ")
        );
    }
    Ok(exit::SUCCESS)
}

/// `custody export-bundle LOT --out FILE --server URL`.
pub fn export_bundle(server: &str, args: &ExportBundleArgs) -> Result<u8> {
    let client = Client::new(server)?;
    let path = format!("/v1/lots/{}/bundle", segment(args.lot.as_str()));
    let answer = client.get(&path)?.expect(&[200])?;
    crate::io::write_atomically(&args.out, &answer.body)?;
    if args.json {
        print_json(&serde_json::json!({
            "file": args.out.display().to_string(),
            "lot": args.lot,
            "bytes": answer.body.len(),
            "server": server,
        }))?;
    } else {
        crate::outln!(
            "wrote {}: lot {}, {} bytes from {server}; check it with custody verify --bundle {} --vkey KEY",
            args.out.display(),
            args.lot,
            answer.body.len(),
            args.out.display()
        );
    }
    Ok(exit::SUCCESS)
}

/// `custody checkpoint --server URL`: the server's latest signed checkpoint.
pub fn checkpoint(server: &str, args: &CheckpointArgs) -> Result<u8> {
    let client = Client::new(server)?;
    if args.json {
        print_json(&client.get("/v1/checkpoint")?.expect(&[200])?.json()?)?;
    } else {
        let answer = client.get("/checkpoint")?.expect(&[200])?;
        let note = String::from_utf8_lossy(&answer.body);
        crate::outln!("{}", note.strip_suffix('\n').unwrap_or(&note));
    }
    Ok(exit::SUCCESS)
}

/// `custody proof inclusion|consistency --server URL`.
pub fn proof(server: &str, kind: &ProofKind) -> Result<u8> {
    let client = Client::new(server)?;
    let (path, json) = match kind {
        ProofKind::Inclusion(a) => (
            match a.size {
                Some(size) => format!("/v1/proofs/inclusion?seq={}&size={size}", a.seq),
                None => format!("/v1/proofs/inclusion?seq={}", a.seq),
            },
            a.json,
        ),
        ProofKind::Consistency(a) => (
            match a.to {
                Some(to) => format!("/v1/proofs/consistency?from={}&to={to}", a.from),
                None => format!("/v1/proofs/consistency?from={}", a.from),
            },
            a.json,
        ),
    };
    let proof = client.get(&path)?.expect(&[200])?.json()?;
    if json {
        print_json(&proof)?;
        return Ok(exit::SUCCESS);
    }
    let text = |k: &str| proof[k].as_str().unwrap_or_default().to_owned();
    match kind {
        ProofKind::Inclusion(_) => {
            crate::outln!(
                "entry #{} is in the log of size {}",
                proof["leaf_index"],
                proof["tree_size"]
            );
            crate::outln!("leaf hash {}", text("leaf_hash"));
            crate::outln!("root      {}", text("root"));
        }
        ProofKind::Consistency(_) => {
            crate::outln!(
                "the log of size {} is a prefix of the log of size {}",
                proof["first"],
                proof["second"]
            );
            crate::outln!("first root  {}", text("first_root"));
            crate::outln!("second root {}", text("second_root"));
        }
    }
    let path: Vec<&str> = proof["path"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    crate::outln!("path ({} hashes):", path.len());
    for hash in path {
        crate::outln!("  {hash}");
    }
    Ok(exit::SUCCESS)
}

/// `custody show --seq N|--event ID --server URL`.
pub fn show(server: &str, args: &crate::cli::ShowArgs) -> Result<u8> {
    let client = Client::new(server)?;
    let path = match (args.seq, &args.event) {
        (Some(seq), _) => format!("/v1/entries/{seq}"),
        (None, Some(id)) => format!("/v1/events/{}", segment(id)),
        (None, None) => bail!("give --seq or --event"),
    };
    let entry = client.get(&path)?.expect(&[200])?.json()?;
    if args.json {
        print_json(&entry)?;
        return Ok(exit::SUCCESS);
    }
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let statement = &entry["statement"];
    let event = &statement["event"];
    crate::outln!(
        "entry #{} recorded {}",
        entry["seq"],
        text(&entry["recorded_at"])
    );
    crate::outln!("  hash     {}", text(&entry["entry_hash"]));
    crate::outln!("  prev     {}", text(&entry["prev"]));
    crate::outln!("  event    {}", text(&statement["id"]));
    crate::outln!("  actor    {}", text(&event["actor"]));
    crate::outln!("  time     {}", text(&event["time"]));
    crate::outln!("  signer   {}", text(&statement["signer"]));
    crate::outln!("{}", serde_json::to_string_pretty(event)?);
    Ok(exit::SUCCESS)
}

/// `custody parties --server URL`, filtered here as the ledger's own command filters.
pub fn parties(server: &str, args: &crate::cli::PartiesArgs) -> Result<u8> {
    let client = Client::new(server)?;
    let mut all = client.get("/v1/parties")?.expect(&[200])?.json()?;
    let list = all["parties"]
        .as_array_mut()
        .context("the server's answer has no parties")?;
    list.retain(|p| {
        args.role.as_deref().is_none_or(|r| {
            p["roles"]
                .as_array()
                .is_some_and(|roles| roles.iter().any(|x| x == r))
        }) && args
            .country
            .as_deref()
            .is_none_or(|c| p["country"].as_str() == Some(c))
    });
    if args.json {
        print_json(&all)?;
        return Ok(exit::SUCCESS);
    }
    for p in all["parties"].as_array().into_iter().flatten() {
        let roles: Vec<&str> = p["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let keys = p["keys"].as_array().map_or(&[][..], Vec::as_slice);
        let revoked = keys.iter().filter(|k| !k["revoked_seq"].is_null()).count();
        crate::outln!(
            "{}  {}  {}  {}  ({}, {revoked} revoked)",
            p["id"].as_str().unwrap_or_default(),
            p["country"].as_str().unwrap_or_default(),
            roles.join(","),
            p["name"].as_str().unwrap_or_default(),
            counted(keys.len(), "key", "keys")
        );
    }
    Ok(exit::SUCCESS)
}

/// What `custody sign --server URL` reads from the server (`GET /v1/lots/{lot}`,
/// `/v1/lots/{lot}/holdings/{party}`, `/v1/shipments/open`), each answered by the engine's
/// own [`SigningSource`] of the server's ledger: the engine's [`ledger::SigningContext`]
/// fills the links from these as from a local ledger, and the private key never leaves
/// this process.
pub struct SigningReads {
    client: Client,
}

impl SigningReads {
    /// The reads of the server at `url`.
    pub fn new(url: &str) -> Result<SigningReads> {
        Ok(SigningReads {
            client: Client::new(url)?,
        })
    }

    /// The ledger's origin, which every signature covers (the first line of its checkpoint).
    pub fn origin(&self) -> Result<Origin> {
        let answer = self.client.get("/v1/checkpoint")?.expect(&[200])?.json()?;
        let Some(origin) = answer["origin"].as_str() else {
            bail!(
                "the server at {} gave no \"origin\" in /v1/checkpoint",
                self.client.base
            );
        };
        Origin::new(origin).map_err(|e| anyhow::anyhow!("the server's origin {origin:?}: {e}"))
    }

    /// The member `member` of the JSON answer to `GET path`, read as `T`.
    fn read<T: serde::de::DeserializeOwned>(&self, path: &str, member: &str) -> ledger::Result<T> {
        let answer = self
            .client
            .get(path)
            .and_then(|a| a.expect(&[200]))
            .and_then(|a| a.json())
            .map_err(|e| ledger::Error::BadInput(format!("{e:#}")))?;
        serde_json::from_value(answer[member].clone()).map_err(|e| {
            ledger::Error::BadInput(format!(
                "the answer of {}{path}: \"{member}\": {e}",
                self.client.base
            ))
        })
    }
}

impl SigningSource for SigningReads {
    fn lot(&self, lot: &LotId) -> ledger::Result<Option<LotRecord>> {
        self.read(&format!("/v1/lots/{}", segment(lot.as_str())), "lot")
    }

    fn holding(&self, lot: &LotId, holder: &PartyId) -> ledger::Result<Option<Holding>> {
        let path = format!(
            "/v1/lots/{}/holdings/{}",
            segment(lot.as_str()),
            segment(holder.as_str())
        );
        self.read(&path, "holding")
    }

    fn open_shipments(&self, receiver: &PartyId, lots: &[LotId]) -> ledger::Result<Vec<Digest>> {
        let lots: Vec<&str> = lots.iter().map(LotId::as_str).collect();
        let path = format!(
            "/v1/shipments/open?to={}&lots={}",
            segment(receiver.as_str()),
            segment(&lots.join(","))
        );
        self.read(&path, "shipments")
    }
}
