//! `custody bench --server URL|local`: a load generator for `custody serve`. Many concurrent
//! clients each submit single-statement requests (one `extract` of a new lot by the demo
//! party kivu-mining, signed with its deterministic test key); it reports acknowledged
//! statements per second and the p50/p99 latency of a `201`, beside the single-process append
//! bound measured in the same run on a ledger of its own (one batch of every statement, and
//! one append per statement).
//!
//! With `local` it builds a ledger of the demo parties in a temporary directory (or, with
//! `--store URL`, in that empty PostgreSQL database) and runs `custody serve` on it; with a URL the server's ledger must have the demo parties enrolled
//! (as `custody demo --dir` leaves it).

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ledger::{SigningContext, Silent};
use ledger_core::id::PartyId;
use ledger_core::statement::{Origin, Statement, StatementJson};
use ledger_scenario::demo::{self, OPERATOR, enroll_parties, enrolled_ledger};
use ledger_scenario::test_key;
use ledger_store_postgres::PgStore;
use serde_json::json;

use crate::cli::BenchArgs;
use crate::commands::print_json;
use crate::commands::remote::Client;
use crate::{exit, keyfile};

/// Concurrent submitters.
const CLIENTS: usize = 64;

/// Statements appended one at a time for the per-append bound.
const SINGLE_APPENDS: usize = 200;

/// Signs `count` extracts of new lots for the ledger of `origin`.
fn statements(origin: &str, count: usize) -> Result<Vec<Statement>> {
    let key = test_key("kivu-mining");
    let run: u32 = rand::random();
    let mut text = String::new();
    for i in 0..count {
        text.push_str(
            &json!({
                "kind": "extract", "actor": "kivu-mining", "time": "2026-03-02T08:15:00Z",
                "site": {"id": "KV-PIT-2", "country": "CD", "lat": -10.71, "lon": 25.47, "method": "industrial"},
                "outputs": [{"lot": format!("LOAD-{run:08x}-{i}"), "material": "cobalt-ore",
                             "quantity": 1000, "unit": "kg", "content": {"Co": 0.031}}]
            })
            .to_string(),
        );
        text.push('\n');
    }
    let mut ctx = SigningContext::new(None, Origin::new(origin)?);
    let key_for = |_: &PartyId| Ok(&key);
    Ok(ctx.sign_text(&text, "bench", &key_for, &mut rand::random)?)
}

/// A `custody serve` child process on a fresh ledger of the demo parties.
struct LocalServer {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl LocalServer {
    /// Builds the demo parties' ledger in a temporary directory, or in the empty database
    /// `database` (`bench --server local --store URL`), and serves it.
    fn start(database: Option<&str>) -> Result<LocalServer> {
        let dir = tempfile::tempdir()?;
        let ledger_dir = dir.path().join("ledger");
        let store = match database {
            Some(url) => {
                let (ledger, _) = enroll_parties(PgStore::create(url, demo::ORIGIN)?)?;
                drop(ledger);
                url.to_owned()
            }
            None => {
                let (ledger, _) = enrolled_ledger(&ledger_dir)?;
                ledger.into_store().close()?;
                ledger_dir.display().to_string()
            }
        };
        let key = dir.path().join("operator.pem");
        keyfile::write_pair(&key, &test_key(OPERATOR))?;
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .env_remove("CUSTODY_SERVER")
            .arg("--ledger")
            .arg(&ledger_dir)
            .args(["serve", "--store", &store])
            .args(["--listen", "127.0.0.1:0", "--operator-key"])
            .arg(&key)
            .env("CUSTODY_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("cannot start custody serve")?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            std::io::BufReader::new(out).read_line(&mut line)?;
        }
        let Some(url) = line.trim().strip_prefix("listening on ").map(str::to_owned) else {
            let _ = child.kill();
            bail!("custody serve did not start");
        };
        Ok(LocalServer {
            child,
            url,
            _dir: dir,
        })
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Runs the load generator.
pub fn run(server: &str, args: &BenchArgs) -> Result<u8> {
    let count = args.events.max(CLIENTS);
    let local = if server == "local" {
        Some(LocalServer::start(args.store.as_deref())?)
    } else {
        None
    };
    let url = local.as_ref().map_or(server, |l| l.url.as_str()).to_owned();
    let client = Client::new(&url)?;
    let checkpoint = client.get("/checkpoint")?.expect(&[200])?;
    let note = String::from_utf8_lossy(&checkpoint.body).into_owned();
    let origin = note.lines().next().unwrap_or_default().to_owned();
    eprintln!("signing {count} statements for {origin}");
    let signed = statements(&origin, count)?;
    let bodies: Vec<Vec<u8>> = signed
        .iter()
        .map(|s| Ok(serde_json::to_vec(&StatementJson::new(s)?)?))
        .collect::<Result<_>>()?;
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    eprintln!("{CLIENTS} clients submitting to {url}");
    let start = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (bodies, next, url) = (bodies.clone(), next.clone(), url.clone());
            std::thread::spawn(move || -> Result<(Vec<Duration>, usize)> {
                let client = Client::new(&url)?;
                let mut latencies = Vec::new();
                let mut other = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let sent = Instant::now();
                    let answer = client.post("/v1/statements", "application/json", body)?;
                    if answer.status == 201 {
                        latencies.push(sent.elapsed());
                    } else {
                        other += 1;
                    }
                }
                Ok((latencies, other))
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failed = 0;
    for t in threads {
        let (l, o) = t
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread failed"))??;
        latencies.extend(l);
        failed += o;
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let acked = latencies.len();
    drop(local);

    eprintln!("measuring the single-process append bound");
    let dir = tempfile::tempdir()?;
    let (ledger, _) = enrolled_ledger(&dir.path().join("batch"))?;
    let own = statements(ledger.signing_origin().as_str(), count)?;
    let t = Instant::now();
    ledger.append(own, ledger::now()?, &Silent)?;
    let batch_per_s = count as f64 / t.elapsed().as_secs_f64();
    ledger.into_store().close()?;
    let (ledger, _) = enrolled_ledger(&dir.path().join("single"))?;
    let own = statements(ledger.signing_origin().as_str(), SINGLE_APPENDS)?;
    let t = Instant::now();
    for s in own {
        ledger.append(vec![s], ledger::now()?, &Silent)?;
    }
    let single_per_s = SINGLE_APPENDS as f64 / t.elapsed().as_secs_f64();
    ledger.into_store().close()?;

    let acks_per_s = acked as f64 / elapsed;
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    if args.json {
        print_json(&json!({
            "server": url, "clients": CLIENTS, "submitted": count, "acknowledged": acked,
            "not_acknowledged": failed, "seconds": elapsed, "acks_per_s": acks_per_s,
            "p50_ms": p50, "p99_ms": p99, "append_one_batch_per_s": batch_per_s,
            "append_one_at_a_time_per_s": single_per_s,
        }))?;
    } else {
        crate::outln!("custody serve under {CLIENTS} concurrent single-statement submitters");
        crate::outln!(
            "  acknowledged {acked} of {count} in {elapsed:.2} s: {acks_per_s:.0} statements/s"
        );
        crate::outln!("  latency of a 201: p50 {p50:.1} ms, p99 {p99:.1} ms");
        crate::outln!("single process, same statements (the append bound)");
        crate::outln!("  one batch of {count}        {batch_per_s:>10.0} statements/s");
        crate::outln!("  one append per statement  {single_per_s:>10.0} statements/s");
    }
    Ok(if failed == 0 {
        exit::SUCCESS
    } else {
        exit::FAILED
    })
}
