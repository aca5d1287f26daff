//! A throwaway PostgreSQL cluster for tests (feature `test-cluster`): `initdb` into a
//! temporary directory, `pg_ctl start` on a Unix socket in it (no TCP listener), one new
//! database per [`Cluster::database`], `pg_ctl stop -m immediate` on drop. A primary with a
//! synchronous hot standby ([`Cluster::start_primary`], [`Cluster::start_standby`]) can be
//! killed ([`Cluster::kill`]) and the standby promoted ([`Cluster::promote`]), for the
//! failover test.
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

/// Settings of a primary that a synchronous standby named [`STANDBY`] replicates: a commit
/// returns only once the standby has flushed it (`synchronous_commit = on`).
const PRIMARY_SETTINGS: &[&str] = &[
    "wal_level=replica",
    "max_wal_senders=4",
    "wal_keep_size=256MB",
    "synchronous_commit=on",
    "synchronous_standby_names=standby",
    "hot_standby=on",
];

/// The application name a standby connects to its primary with.
pub const STANDBY: &str = "standby";

impl Cluster {
    /// Starts a new cluster and waits until it accepts connections.
    pub fn start() -> Result<Cluster, String> {
        Cluster::start_with(&[])
    }

    /// Starts a new cluster set up as the primary of a synchronous standby
    /// ([`Cluster::start_standby`]): until one connects, its commits wait.
    pub fn start_primary() -> Result<Cluster, String> {
        Cluster::start_with(PRIMARY_SETTINGS)
    }

    /// Starts a hot standby of this primary, streaming from it as [`STANDBY`]: a copy made
    /// with `pg_basebackup`, started in recovery (read-only until [`Cluster::promote`]).
    pub fn start_standby(&self) -> Result<Cluster, String> {
        let standby = Cluster::empty()?;
        let conninfo = format!(
            "host={} port={} user={SUPERUSER} application_name={STANDBY}",
            self.home.display(),
            self.port
        );
        run(standby
            .command("pg_basebackup")
            .arg("-D")
            .arg(standby.data())
            .args(["-d", &conninfo, "-R", "-X", "stream", "--checkpoint=fast"])
            .arg("--no-sync"))?;
        // Promoted, it runs alone until a new standby joins (as Patroni does without
        // `synchronous_mode_strict`): it must not wait for a standby of its own.
        standby.configure(&["synchronous_standby_names="])?;
        standby.run_server()?;
        Ok(standby)
    }

    /// Kills the cluster's server processes with SIGKILL, as a lost machine would stop
    /// them: nothing is flushed or closed. The postmaster is stopped first, so that it forks
    /// no backend between the listing of its children and their kill.
    pub fn kill(&self) -> Result<(), String> {
        let pid_file = self.data().join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file)
            .map_err(|e| format!("cannot read {}: {e}", pid_file.display()))?;
        let pid = text
            .lines()
            .next()
            .map(str::trim)
            .filter(|pid| !pid.is_empty())
            .ok_or_else(|| format!("{} names no process", pid_file.display()))?;
        run(Command::new("kill").args(["-STOP", pid]))?;
        let children = Command::new("pgrep")
            .args(["-P", pid])
            .output()
            .map_err(|e| format!("cannot run pgrep: {e}"))?;
        let mut pids = vec![pid.to_owned()];
        pids.extend(
            String::from_utf8_lossy(&children.stdout)
                .split_whitespace()
                .map(str::to_owned),
        );
        // Some backends may have exited by now: only the postmaster's death is checked.
        let _ = Command::new("kill").arg("-KILL").args(&pids).output();
        for _ in 0..100 {
            // Dead, or a zombie no one has reaped yet (its state, after the name, is `Z`).
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                !stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            });
            if !alive {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err(format!("the postmaster {pid} survived SIGKILL"))
    }

    /// Promotes a standby to a primary that accepts writes, and waits until it does.
    pub fn promote(&self) -> Result<(), String> {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-t", "60", "promote"]))
    }

    /// The host part of this cluster's URLs: its socket directory, percent-encoded.
    pub fn host(&self) -> String {
        self.home.display().to_string().replace('/', "%2F")
    }

    /// The port that names this cluster's socket.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn start_with(settings: &[&str]) -> Result<Cluster, String> {
        let cluster = Cluster::empty()?;
        run(cluster
            .command("initdb")
            .arg("-D")
            .arg(cluster.data())
            .args(["--auth=trust", "-U", SUPERUSER, "-E", "UTF8", "--locale=C"])
            .arg("--no-sync"))?;
        cluster.configure(settings)?;
        cluster.run_server()?;
        Ok(cluster)
    }

    /// Adds `name=value` settings to the cluster's `postgresql.auto.conf`.
    fn configure(&self, settings: &[&str]) -> Result<(), String> {
        let conf = self.data().join("postgresql.auto.conf");
        let mut text = std::fs::read_to_string(&conf)
            .map_err(|e| format!("cannot read {}: {e}", conf.display()))?;
        for setting in settings {
            let (name, value) = setting.split_once('=').unwrap_or((setting, ""));
            text.push_str(&format!("{name} = '{value}'\n"));
        }
        std::fs::write(&conf, text).map_err(|e| format!("cannot write {}: {e}", conf.display()))
    }

    fn data(&self) -> PathBuf {
        self.home.join("data")
    }

    /// Starts the server on the cluster's socket and waits until it accepts connections.
    fn run_server(&self) -> Result<(), String> {
        let options = format!(
            "-k {} -p {} -c listen_addresses=''",
            self.home.display(),
            self.port
        );
        let started = run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.home.join("log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]));
        started.map_err(|e| {
            let log = std::fs::read_to_string(self.home.join("log")).unwrap_or_default();
            format!("{e}\nserver log:\n{log}")
        })
    }

    /// A cluster's directories and port, with no data directory yet.
    fn empty() -> Result<Cluster, String> {
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
        Ok(cluster)
    }

    /// The URL of the database `name` in this cluster.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}@{}:{}/{name}",
            self.host(),
            self.port
        )
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
            .arg(self.data())
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
