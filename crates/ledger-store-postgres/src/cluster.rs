//! A throwaway PostgreSQL cluster for tests (feature `test-cluster`): `initdb` into a
//! temporary directory, `pg_ctl start` on a Unix socket in it (no TCP listener), one new
//! database per [`Cluster::database`], `pg_ctl stop -m immediate` on drop.
//!
//! The binaries are Debian's: `initdb` on the `PATH` (with `pg_ctl` beside it), else the
//! newest `/usr/lib/postgresql/*/bin`. PostgreSQL refuses to run as root, and CI runs as
//! root: there the cluster runs as `nobody` through `runuser` (util-linux, on every Debian
//! machine), in a directory owned by `nobody`; root's test process still reaches its socket.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The user the cluster runs as when the tests run as root.
const UNPRIVILEGED: &str = "nobody";

/// The cluster's superuser (`initdb -U`), trusted on its socket.
const SUPERUSER: &str = "custody";

/// A running cluster, stopped and deleted on drop.
pub struct Cluster {
    _root: tempfile::TempDir,
    /// The data directory and, beside it, the socket.
    home: PathBuf,
    bin: PathBuf,
    port: u16,
    as_user: Option<&'static str>,
    databases: AtomicU32,
}

/// Where the PostgreSQL server binaries are, or why they are missing.
pub fn binaries() -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("initdb"))
            .find(|candidate| candidate.is_file())
    });
    if let Some(initdb) = on_path {
        // `/usr/local/bin/initdb` may be a link into the version's own directory.
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        if let Some(dir) = real.parent()
            && dir.join("pg_ctl").is_file()
        {
            return Ok(dir.to_path_buf());
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        "PostgreSQL's initdb and pg_ctl are not installed (apt-get install postgresql)".into()
    })
}

impl Cluster {
    /// Starts a new cluster and waits until it accepts connections.
    pub fn start() -> Result<Cluster, String> {
        let bin = binaries()?;
        let as_user = is_root()?.then_some(UNPRIVILEGED);
        let root = tempfile::Builder::new()
            .prefix("custody-pg-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let home = root.path().join("pg");
        std::fs::create_dir(&home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
        if let Some(user) = as_user {
            // The unprivileged user must reach and own its directory.
            set_mode(root.path(), 0o755)?;
            run(Command::new("chown").arg(user).arg(&home))?;
        }
        let port = free_port()?;
        let cluster = Cluster {
            _root: root,
            home,
            bin,
            port,
            as_user,
            databases: AtomicU32::new(0),
        };
        let data = cluster.home.join("data");
        run(cluster
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["--auth=trust", "-U", SUPERUSER, "-E", "UTF8", "--locale=C"])
            .arg("--no-sync"))?;
        let options = format!(
            "-k {} -p {port} -c listen_addresses=''",
            cluster.home.display()
        );
        let started = run(cluster
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(cluster.home.join("log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]));
        if let Err(e) = started {
            let log = std::fs::read_to_string(cluster.home.join("log")).unwrap_or_default();
            return Err(format!("{e}\nserver log:\n{log}"));
        }
        Ok(cluster)
    }

    /// The URL of the database `name` in this cluster.
    pub fn url(&self, name: &str) -> String {
        let socket = self.home.display().to_string().replace('/', "%2F");
        format!("postgresql://{SUPERUSER}@{socket}:{}/{name}", self.port)
    }

    /// A new, empty database; its URL.
    pub fn database(&self) -> Result<String, String> {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("ledger_{n}");
        let mut client = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .map_err(|e| format!("cannot connect to the test cluster: {e}"))?;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| format!("cannot create database {name}: {e}"))?;
        Ok(self.url(&name))
    }

    /// A server program of the cluster's version, run as the cluster's user.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.as_user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(path);
                command
            }
            None => Command::new(path),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Best effort: a cluster that will not stop dies with its directory's deletion.
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.home.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Whether this process runs as root (`id -u` is 0).
fn is_root() -> Result<bool, String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("cannot run id -u: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot change the mode of {}: {e}", path.display()))
}

/// A port no one listens on now: it names the socket file (the cluster opens no TCP port).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// Runs `command`, failing with its output unless it succeeds.
fn run(command: &mut Command) -> Result<(), String> {
    let out = command.output().map_err(|e| {
        let program = command.get_program().to_string_lossy();
        format!("cannot run {program}: {e}")
    })?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{} failed ({}):\n{}{}",
        command.get_program().to_string_lossy(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}
