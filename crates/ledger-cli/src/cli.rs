//! Command-line arguments: the only place that knows about clap. Each subcommand's
//! arguments are turned into work in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ledger_core::id::LotId;

/// `custody --version`: the build, and the formats it reads and writes.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nstorage format (sled): 6",
    "\nevidence bundle format: 2",
    "\nevent ids: custody/event/v1, statement signatures: custody/statement/v2",
);

/// Custody: a tamper-evident ledger of battery-material custody, from mine to module.
#[derive(Debug, Parser)]
#[command(name = "custody", version, long_version = LONG_VERSION, about, long_about = None)]
pub struct Cli {
    /// The ledger directory (else $CUSTODY_LEDGER, else ./custody-ledger).
    #[arg(
        long,
        global = true,
        env = "CUSTODY_LEDGER",
        default_value = "custody-ledger"
    )]
    pub ledger: PathBuf,

    /// A Custody server (`custody serve`) to send the command to instead of opening a ledger
    /// directory, e.g. http://127.0.0.1:8080: for submit, sign (links filled from the
    /// server; the key stays here), verify --lot, trace, export-bundle, checkpoint, proof,
    /// show and parties (and bench --server local: the load generator).
    #[arg(long, global = true, env = "CUSTODY_SERVER")]
    pub server: Option<String>,

    /// Trust only the root certificates in this PEM file for an `https://` --server (for a
    /// private CA or a self-signed server); without it, the Mozilla roots (webpki-roots).
    #[arg(long, global = true, env = "CUSTODY_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands (SPEC §6).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new ledger whose genesis entry enrolls the operator.
    ///
    /// Example: custody init --origin custody.example/ledger --operator-key operator.pem
    Init(InitArgs),
    /// Generate an ed25519 key pair: FILE (PKCS#8 PEM, mode 0600) and FILE.pub.
    ///
    /// Example: custody keygen --out kivu-mining.pem --encrypt
    Keygen(KeygenArgs),
    /// Enroll a party with its roles and key (signed by the operator).
    ///
    /// Example: custody enroll --party kivu-mining --name "Kivu Mining SA" --country CD --role miner --key kivu.pem.pub --operator-key operator.pem
    Enroll(EnrollArgs),
    /// Revoke a party's key from the next log position on (signed by the operator).
    ///
    /// Example: custody revoke --party kivu-mining --key kivu.pem.pub --operator-key operator.pem
    Revoke(RevokeArgs),
    /// Sign JSON events (one object, an array, or one per line) into signed statements,
    /// with the links they leave out filled from the ledger (or from --server URL).
    ///
    /// Example: custody sign --key kivu.pem extract.json --out extract.signed.jsonl
    Sign(SignArgs),
    /// Append signed statements as one all-or-nothing batch ('-' reads stdin).
    ///
    /// Example: custody append extract.signed.jsonl
    Append(AppendArgs),
    /// Verify the whole ledger, one lot's provenance, or an evidence bundle offline.
    ///
    /// Example: custody verify --lot VM-MOD-0001 --json
    ///
    /// Example: custody verify --bundle module.bundle --vkey "$(cat operator.vkey)"
    Verify(VerifyArgs),
    /// Trace a lot back to its origins.
    ///
    /// Example: custody trace VM-MOD-0001
    Trace(TraceArgs),
    /// Write the compliance report of a lot: origins, recycled content, carbon footprint,
    /// due diligence and chain of custody (exit 1 when the lot fails verification).
    ///
    /// Example: custody report VM-MOD-0001 --format html --out VM-MOD-0001.html
    Report(ReportArgs),
    /// Sign the log's current size and Merkle root as a C2SP checkpoint (operator key).
    ///
    /// Example: custody checkpoint --operator-key operator.pem --json
    Checkpoint(CheckpointArgs),
    /// Prove that an entry is in the log, or that a smaller log is a prefix of a larger one.
    ///
    /// Example: custody proof inclusion --seq 3 --json
    Proof(ProofArgs),
    /// Write one self-contained file to verify a lot offline: its provenance entries, the
    /// entries the rules need, an inclusion proof for each and a signed checkpoint.
    ///
    /// Example: custody export-bundle VM-MOD-0001 --out module.bundle
    ExportBundle(ExportBundleArgs),
    /// Write the C2SP tlog-tiles static tree of the latest checkpoint to a directory, for any
    /// web server or object store to serve: the bytes custody serve answers at /tile/....
    ///
    /// Example: custody export-tiles --out /var/www/ledger
    ExportTiles(ExportTilesArgs),
    /// Write the label of a battery module: an SVG with the QR code of its passport's GS1
    /// Digital Link URL, from the GTIN and serial its creator bound to the lot
    /// (docs/passport.md).
    ///
    /// Example: `custody label VM-MOD-0001 --out module-label.svg --base-url https://passport.example.com`
    Label(LabelArgs),
    /// Sign a request for a battery passport's restricted tier with an enrolled party's key:
    /// prints the four Custody-* headers, valid for 300 s, for the one path
    /// (docs/passport.md).
    ///
    /// Example: `custody passport-request /01/04012345123456/21/M0001 --key auditor.pem --party rba-auditor-7 --origin custody.example/ledger > headers.txt && curl -H @headers.txt https://passport.example.com/01/04012345123456/21/M0001`
    PassportRequest(PassportRequestArgs),
    /// Show one entry by position or event id.
    ///
    /// Example: custody show --seq 3 --json
    Show(ShowArgs),
    /// Measure append, verify, trace and proofs on a synthetic ledger against the raw primitives.
    ///
    /// Example: custody bench --events 1000000 --json
    Bench(BenchArgs),
    /// Build the demo scenario in a fresh ledger, verify the battery module and print its provenance.
    ///
    /// Example: custody demo --dir /tmp/custody-demo
    Demo(DemoArgs),
    /// Print a JSON Schema (draft 2020-12) of what suppliers write, to validate events in
    /// their own tools before signing (`docs/input.md` explains every field).
    ///
    /// Example: custody schema input > custody-input.schema.json
    Schema(SchemaArgs),
    /// Show the due-diligence policy in effect: the built-in one, or a policy file merged
    /// as its `extends` says, written out whole.
    ///
    /// Example: custody policy show --policy policy.toml
    Policy(PolicyArgs),
    /// Explain a rule code: what the finding means and what to do about it.
    ///
    /// Example: custody explain CUS-BAL-001
    Explain(ExplainArgs),
    /// Print a shell completion script.
    ///
    /// Example: custody completions bash > /etc/bash_completion.d/custody
    Completions(CompletionsArgs),
    /// Print the manual page (roff), for `man -l -` or a man directory.
    ///
    /// Example: custody manpage | man -l -
    Manpage,
    /// List the enrolled parties, with their roles, country and keys.
    ///
    /// Example: custody parties --role miner
    Parties(PartiesArgs),
    /// List the lots, with their material, quantity created and creator, a page at a time.
    ///
    /// Example: custody lots --material cobalt-ore --limit 20
    Lots(LotsArgs),
    /// Serve the ledger over HTTP: suppliers submit, auditors read (docs/api.md). Prints the
    /// address it listens on; SIGTERM finishes the open group and stops.
    ///
    /// Example: custody serve --listen 127.0.0.1:8080 --operator-key operator.pem
    Serve(ServeArgs),
    /// Submit signed statements to a server and check the receipts: the checkpoint's
    /// signature against the pinned operator key, each inclusion proof, and consistency with
    /// the last checkpoint seen.
    ///
    /// Example: custody submit extract.signed.jsonl --server http://127.0.0.1:8080 --vkey operator.vkey
    Submit(SubmitArgs),
    /// Run a C2SP tlog-witness: cosign a log's checkpoints only when they are consistent
    /// with every one cosigned before (docs/api.md, Witness).
    ///
    /// Example: custody witness serve --key witness.pem --name witness.example/w1 --state witness-state --log operator.pem.vkey
    Witness(WitnessArgs),
}

/// `custody witness`.
#[derive(Debug, Args)]
pub struct WitnessArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: WitnessAction,
}

/// What `custody witness` does.
#[derive(Debug, Subcommand)]
pub enum WitnessAction {
    /// Print the witness's verifier key (type 0x04), for logs and clients to configure.
    ///
    /// Example: custody witness vkey --key witness.pem --name witness.example/w1
    Vkey(WitnessKeyArgs),
    /// Serve POST /add-checkpoint over HTTP. Prints the vkey and the address it listens on;
    /// SIGTERM stops it.
    ///
    /// Example: custody witness serve --key witness.pem --name witness.example/w1 --state witness-state --log operator.pem.vkey --listen 127.0.0.1:8081
    Serve(WitnessServeArgs),
    /// Check one add-checkpoint request body and, if it passes, store the checkpoint and
    /// print the cosignature line(s): the witness by hand, for an auditor (exit 1 when
    /// refused).
    ///
    /// Example: custody witness cosign --key witness.pem --name witness.example/w1 --state witness-state --log operator.pem.vkey --request request.txt
    Cosign(WitnessCosignArgs),
}

/// The witness's identity: its key and name.
#[derive(Debug, Args)]
pub struct WitnessKeyArgs {
    /// The witness's private key (a `custody keygen` file); read once, never sent anywhere.
    #[arg(long, env = "CUSTODY_WITNESS_KEY")]
    pub key: PathBuf,
    /// The witness's name, the key name of its cosignatures (a schema-less URL such as
    /// witness.example/w1).
    #[arg(long)]
    pub name: String,
}

/// A witness's identity, memory and the logs it follows.
#[derive(Debug, Args)]
pub struct WitnessConfigArgs {
    /// The witness's key and name.
    #[command(flatten)]
    pub identity: WitnessKeyArgs,
    /// The directory where the latest cosigned checkpoint of each log is kept (created if
    /// absent; one witness process at a time).
    #[arg(long)]
    pub state: PathBuf,
    /// A log's checkpoint verifier key (`origin+id+base64`, or a file holding it); the log
    /// is known by the key's name, its origin. Repeatable.
    #[arg(long = "log", value_name = "VKEY", required = true)]
    pub logs: Vec<String>,
}

/// `custody witness serve`.
#[derive(Debug, Args)]
pub struct WitnessServeArgs {
    /// Key, name, state and logs.
    #[command(flatten)]
    pub config: WitnessConfigArgs,
    /// The address to listen on (port 0 picks a free one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: String,
    /// The longest a request may take, in seconds, reading its body included.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

/// `custody witness cosign`.
#[derive(Debug, Args)]
pub struct WitnessCosignArgs {
    /// Key, name, state and logs.
    #[command(flatten)]
    pub config: WitnessConfigArgs,
    /// The add-checkpoint request body ('-' for stdin): `old <size>`, proof lines, a blank
    /// line, the signed checkpoint.
    #[arg(long)]
    pub request: PathBuf,
}

/// `custody serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The store to serve instead of the --ledger directory: a postgres:// URL, which
    /// several servers may serve at once (docs/deploy.md).
    #[arg(long)]
    pub store: Option<String>,

    /// The address to listen on (port 0 picks a free one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The operator's private key: signs checkpoints; read once, never sent anywhere.
    #[arg(long, env = "CUSTODY_OPERATOR_KEY")]
    pub operator_key: PathBuf,
    /// Most statements in one group commit.
    #[arg(long, default_value_t = 1024)]
    pub group_size: usize,
    /// Longest a group stays open for more requests, in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub group_ms: u64,
    /// Shortest time between two signed checkpoints, in milliseconds (receipts wait for
    /// the next checkpoint).
    #[arg(long, default_value_t = 0)]
    pub checkpoint_ms: u64,
    /// Requests that may wait for the writer before new ones get 503.
    #[arg(long, default_value_t = 8192)]
    pub queue: usize,
    /// The largest request body, in bytes.
    #[arg(long, default_value_t = 4 << 20)]
    pub body_limit: usize,
    /// The longest a request may take, in seconds, reading its body included.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// The longest a client may take to send a request's headers, in seconds; the
    /// connection is closed beyond.
    #[arg(long, default_value_t = 10)]
    pub header_timeout: u64,
    /// Requests handled at once; more get 503 with Retry-After.
    #[arg(long, default_value_t = 1024)]
    pub concurrency: usize,
    /// Requests per second one client IP address may send; more get 429 (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub rate_per_ip: u32,
    /// Statements per second one signer key may submit; more get 429 (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub rate_per_signer: u32,
    /// Serve HTTPS (rustls) with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A witness that must cosign each checkpoint before it is published, as `URL,VKEY`
    /// (its submission URL and cosignature/v1 verifier key). Repeatable. Receipts then
    /// wait for a cosigned checkpoint covering them.
    #[arg(long = "witness", value_name = "URL,VKEY")]
    pub witnesses: Vec<String>,
    /// How many of the witnesses must cosign (default: all).
    #[arg(long, requires = "witnesses")]
    pub witness_quorum: Option<usize>,
    /// The longest wait for one witness, in seconds; a missed quorum is retried a second
    /// later with the newest checkpoint.
    #[arg(long, default_value_t = 10, requires = "witnesses")]
    pub witness_timeout: u64,
    /// Log JSON lines on standard error instead of text.
    #[arg(long)]
    pub log_json: bool,
    /// The scheme and host that battery passport QR codes point at (the resolver serving
    /// `/01/{gtin}/21/{serial}`); default: this server's own URL.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

/// `custody submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Signed statements, one JSON object per line, as `custody sign` writes them: one
    /// all-or-nothing request.
    pub file: PathBuf,
    /// The operator's published checkpoint verifier key (`name+id+base64`, or a file holding it).
    #[arg(long)]
    pub vkey: String,
    /// Where the last checkpoint seen of this log is kept (default:
    /// $XDG_STATE_HOME/custody/ORIGIN.checkpoint).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `custody parties`.
#[derive(Debug, Args)]
pub struct PartiesArgs {
    /// Only parties with this role.
    #[arg(long)]
    pub role: Option<String>,
    /// Only parties registered in this country (ISO 3166-1 alpha-2).
    #[arg(long)]
    pub country: Option<String>,
    /// Print JSON (one object with a `parties` list).
    #[arg(long)]
    pub json: bool,
}

/// `custody lots`.
#[derive(Debug, Args)]
pub struct LotsArgs {
    /// Only lots of this material.
    #[arg(long)]
    pub material: Option<String>,
    /// Only lots created by this party.
    #[arg(long)]
    pub creator: Option<String>,
    /// Start after this lot id (the `next` of the previous page).
    #[arg(long)]
    pub after: Option<LotId>,
    /// At most this many lots.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Print JSON (one object with a `lots` list and the `next` lot id to page from).
    #[arg(long)]
    pub json: bool,
}

/// `custody explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A rule code, such as CUS-BAL-001.
    pub code: String,
}

/// `custody completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// `custody policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// What to do: `show`.
    #[arg(value_parser = ["show"])]
    pub action: String,
    /// A due-diligence policy file (TOML or JSON); without it, the built-in policy.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Print JSON instead of TOML.
    #[arg(long)]
    pub json: bool,
}

/// `custody schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema: `input` (one supplier event, as `custody sign` reads it).
    #[arg(value_parser = ["input"])]
    pub which: String,
}

/// `custody init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The log origin (first line of every checkpoint), e.g. custody.example/ledger.
    #[arg(long)]
    pub origin: String,
    /// The operator's private key; created (with FILE.pub) if absent.
    #[arg(long)]
    pub operator_key: PathBuf,
    /// The operator's party id.
    #[arg(long, default_value = "operator")]
    pub operator_id: String,
    /// The operator's name.
    #[arg(long, default_value = "Ledger operator")]
    pub operator_name: String,
    /// The operator's country (ISO 3166-1 alpha-2).
    #[arg(long, default_value = "BE")]
    pub operator_country: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `custody keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the private key; the public key goes to FILE.pub.
    #[arg(long)]
    pub out: PathBuf,
    /// Protect the private key with a passphrase (PKCS#8 encrypted PEM, readable by
    /// OpenSSL), taken from $CUSTODY_PASSPHRASE or asked on the terminal.
    #[arg(long)]
    pub encrypt: bool,
}

/// `custody enroll`.
#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The party id.
    #[arg(long)]
    pub party: String,
    /// Its name.
    #[arg(long)]
    pub name: String,
    /// Its country (ISO 3166-1 alpha-2).
    #[arg(long)]
    pub country: String,
    /// Its roles, comma-separated: miner, trader, refiner, manufacturer, recycler, transporter, auditor, operator.
    #[arg(long, value_delimiter = ',', required = true)]
    pub role: Vec<String>,
    /// Public key files (PEM) to enroll.
    #[arg(long, required = true)]
    pub key: Vec<PathBuf>,
    /// The operator's private key.
    #[arg(long)]
    pub operator_key: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `custody revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The party id.
    #[arg(long)]
    pub party: String,
    /// The public key file (PEM) to revoke.
    #[arg(long)]
    pub key: PathBuf,
    /// The operator's private key.
    #[arg(long)]
    pub operator_key: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `custody sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The signer's private key.
    #[arg(long)]
    pub key: PathBuf,
    /// The origin of the ledger the statements are for (the first line of its
    /// checkpoints): every signature covers it. Taken from the ledger when there is one;
    /// needed to sign offline, without a ledger.
    #[arg(long)]
    pub origin: Option<String>,
    /// The JSON event file ('-' for stdin).
    pub events: PathBuf,
    /// Where to write the signed statements (default stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `custody append`.
#[derive(Debug, Args)]
pub struct AppendArgs {
    /// Files of signed statements, one JSON object per line ('-' for stdin).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print JSON (every receipt, with its inclusion proof).
    #[arg(long)]
    pub json: bool,
    /// Print a line for every appended statement, however many (a large batch otherwise
    /// prints its first ones and a summary line).
    #[arg(long)]
    pub verbose: bool,
}

/// `custody verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify this lot's provenance instead of the whole ledger.
    #[arg(long, conflicts_with = "bundle")]
    pub lot: Option<LotId>,
    /// Verify an evidence bundle offline (no ledger needed), e.g. module.bundle.
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// The operator's published checkpoint verifier key (`name+id+base64`, or a file
    /// holding it); without it the genesis key in the bundle is used so that every check
    /// runs, and the verdict is a fail: "operator key not confirmed" (CUS-INT-007).
    #[arg(long, requires = "bundle")]
    pub vkey: Option<String>,
    /// A due-diligence policy file (TOML or JSON). Without --lot or --bundle, the origin
    /// and due-diligence rules then also run for every product lot of the ledger (a lot no
    /// transform consumes), with the findings `verify --lot` gives each.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// A signed checkpoint you kept from earlier (C2SP text, as `custody checkpoint`
    /// prints it): the ledger (or the bundle's checkpoint) must be consistent with it and at
    /// least as large. Repeatable. For a bundle whose checkpoint is larger, the consistency
    /// proof is fetched from --server.
    #[arg(long)]
    pub checkpoint: Vec<PathBuf>,
    /// A witness you trust, by its cosignature/v1 verifier key (`name+id+base64`, or a
    /// file holding it). Repeatable. The checkpoint the verdict rests on (the bundle's, or
    /// the ledger's latest) must carry valid cosignatures from --witness-quorum of them.
    #[arg(
        long = "witness",
        value_name = "VKEY",
        conflicts_with = "witness_policy"
    )]
    pub witnesses: Vec<String>,
    /// How many of the --witness keys must have cosigned (default: all of them).
    #[arg(long, requires = "witnesses")]
    pub witness_quorum: Option<usize>,
    /// A C2SP tlog-policy file (log, witness, group and quorum lines) instead of --witness.
    #[arg(long)]
    pub witness_policy: Option<PathBuf>,
    /// The oldest the newest cosignature may be, e.g. `90s`, `15m`, `24h`, `7d`.
    #[arg(long, value_name = "DURATION")]
    pub max_age: Option<String>,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `custody trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The lot.
    pub lot: LotId,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `custody checkpoint`.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// The operator's private key (a currently valid operator key of this ledger); not
    /// needed with --server, which prints the server's latest checkpoint.
    #[arg(long, env = "CUSTODY_OPERATOR_KEY")]
    pub operator_key: Option<PathBuf>,
    /// Print `origin`, `size`, `root` (hex) and `note` as JSON.
    #[arg(long)]
    pub json: bool,
    /// A witness to ask for a cosignature, as `URL,VKEY` (its submission URL and its
    /// cosignature/v1 verifier key). Repeatable. The cosigned note is stored, so bundles
    /// exported from now on carry the cosignatures.
    #[arg(long = "witness", value_name = "URL,VKEY")]
    pub witnesses: Vec<String>,
    /// How many of the witnesses must cosign (default: all); fewer is an error, though the
    /// cosignatures that came are kept.
    #[arg(long, requires = "witnesses")]
    pub witness_quorum: Option<usize>,
    /// The longest wait for one witness, in seconds.
    #[arg(long, default_value_t = 10, requires = "witnesses")]
    pub witness_timeout: u64,
    /// Cosignature lines a witness made offline (`custody witness cosign` prints them), to
    /// add to the latest stored checkpoint instead of signing one: each must verify under a
    /// --witness-key. No operator key is needed.
    #[arg(long, value_name = "FILE", requires = "witness_keys", conflicts_with_all = ["operator_key", "witnesses"])]
    pub add_cosignatures: Option<PathBuf>,
    /// A witness's cosignature/v1 verifier key (text, or a file holding it), for
    /// --add-cosignatures. Repeatable.
    #[arg(long = "witness-key", value_name = "VKEY")]
    pub witness_keys: Vec<String>,
}

/// `custody proof`.
#[derive(Debug, Args)]
pub struct ProofArgs {
    /// Which proof.
    #[command(subcommand)]
    pub kind: ProofKind,
}

/// The proofs `custody proof` gives.
#[derive(Debug, Subcommand)]
pub enum ProofKind {
    /// The audit path of entry N in the log of size M (default: the current size).
    ///
    /// Example: custody proof inclusion --seq 3 --size 10 --json
    Inclusion(InclusionArgs),
    /// The proof that the log of size N is a prefix of the log of size M.
    ///
    /// Example: custody proof consistency --from 5 --to 10 --json
    Consistency(ConsistencyArgs),
}

/// `custody proof inclusion`.
#[derive(Debug, Args)]
pub struct InclusionArgs {
    /// The entry's log position (its leaf index).
    #[arg(long)]
    pub seq: u64,
    /// The tree size (default: the current log size).
    #[arg(long)]
    pub size: Option<u64>,
    /// Print `leaf_index`, `tree_size`, `leaf_hash`, `root` and `path` as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `custody proof consistency`.
#[derive(Debug, Args)]
pub struct ConsistencyArgs {
    /// The older tree size.
    #[arg(long)]
    pub from: u64,
    /// The newer tree size (default: the current log size).
    #[arg(long)]
    pub to: Option<u64>,
    /// Print `first`, `second`, `first_root`, `second_root` and `path` as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `custody export-tiles`.
#[derive(Debug, Args)]
pub struct ExportTilesArgs {
    /// The directory to write: created if absent; an earlier export there is brought up to
    /// the latest checkpoint.
    #[arg(long)]
    pub out: PathBuf,
}

/// `custody export-bundle`.
#[derive(Debug, Args)]
pub struct ExportBundleArgs {
    /// The lot.
    pub lot: LotId,
    /// Where to write the bundle.
    #[arg(long)]
    pub out: PathBuf,
    /// The operator's private key, needed only when no stored checkpoint covers the whole
    /// log (a fresh one is signed and stored).
    #[arg(long, env = "CUSTODY_OPERATOR_KEY")]
    pub operator_key: Option<PathBuf>,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `custody report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The lot.
    pub lot: LotId,
    /// The format: json (custody-report/1), csv (RMI EMRT-shaped tables), html (self-contained,
    /// printable), dot (Graphviz), epcis (GS1 EPCIS 2.0 JSON-LD) or passport (Battery Pass sections).
    #[arg(long, default_value = "json", value_parser = ["json", "csv", "html", "dot", "epcis", "passport"])]
    pub format: String,
    /// A due-diligence policy file (TOML or JSON).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Where to write the report (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The scheme and host that the passport QR code of the html and passport formats
    /// points at.
    #[arg(long, value_name = "URL", default_value = ledger_report::gs1::DEFAULT_BASE_URL)]
    pub base_url: String,
}

/// `custody label`.
#[derive(Debug, Args)]
pub struct LabelArgs {
    /// The module lot, bound to a GTIN and serial by the event that created it.
    pub lot: LotId,
    /// Where to write the SVG label.
    #[arg(long)]
    pub out: PathBuf,
    /// The scheme and host of the resolver serving /01/{gtin}/21/{serial} (custody serve
    /// --base-url).
    #[arg(long, value_name = "URL", default_value = ledger_report::gs1::DEFAULT_BASE_URL)]
    pub base_url: String,
}

/// `custody passport-request`.
#[derive(Debug, Args)]
pub struct PassportRequestArgs {
    /// The passport's path, `/01/{gtin}/21/{serial}`.
    pub path: String,
    /// The party's private key (an enrolled, current key of --party).
    #[arg(long)]
    pub key: PathBuf,
    /// The enrolled party making the request.
    #[arg(long)]
    pub party: ledger_core::id::PartyId,
    /// The ledger's origin (the first line of its checkpoints): the signature binds it.
    #[arg(long)]
    pub origin: String,
}

/// `custody show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The log position.
    #[arg(long, required_unless_present = "event", conflicts_with = "event")]
    pub seq: Option<u64>,
    /// The event id (hex).
    #[arg(long)]
    pub event: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `custody demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to build the demo ledger (default: a new temporary directory, removed after).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// `custody bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Events in the synthetic ledger (at least about 14,000 for one complete module).
    #[arg(long, default_value_t = 100_000)]
    pub events: usize,
    /// Build the synthetic ledger here and keep it (default: a temporary directory).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Also build the same ledger in this empty PostgreSQL database (a postgres:// URL) and
    /// measure it beside sled in the same run.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}
