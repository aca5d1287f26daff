//! Command-line arguments: the only place that knows about clap. Each subcommand's
//! arguments are turned into work in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Custody: a tamper-evident ledger of battery-material custody, from mine to module.
#[derive(Debug, Parser)]
#[command(name = "custody", version, about, long_about = None)]
pub struct Cli {
    /// The ledger directory (else $CUSTODY_LEDGER, else ./custody-ledger).
    #[arg(
        long,
        global = true,
        env = "CUSTODY_LEDGER",
        default_value = "custody-ledger"
    )]
    pub ledger: PathBuf,

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
    /// Sign JSON events (one object, an array, or one per line) into signed statements.
    ///
    /// Example: custody sign --key kivu.pem extract.json --out extract.signed.jsonl
    Sign(SignArgs),
    /// Append signed statements as one all-or-nothing batch ('-' reads stdin).
    ///
    /// Example: custody append extract.signed.jsonl
    Append(AppendArgs),
    /// Verify the whole ledger, or one lot's provenance.
    ///
    /// Example: custody verify --lot VM-MOD-0001 --json
    Verify(VerifyArgs),
    /// Trace a lot back to its origins.
    ///
    /// Example: custody trace VM-MOD-0001
    Trace(TraceArgs),
    /// Show one entry by position or event id.
    ///
    /// Example: custody show --seq 3 --json
    Show(ShowArgs),
    /// Build the demo scenario in a fresh ledger, verify the battery module and print its provenance.
    ///
    /// Example: custody demo --dir /tmp/custody-demo
    Demo(DemoArgs),
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
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `custody verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify this lot's provenance instead of the whole ledger.
    #[arg(long)]
    pub lot: Option<String>,
    /// A due-diligence policy file (TOML or JSON).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `custody trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The lot.
    pub lot: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
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
