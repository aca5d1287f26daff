//! PostgreSQL trials for a test binary: one throwaway cluster
//! (`ledger_store_postgres::cluster`) shared by the binary's trials, started once. Without
//! PostgreSQL's binaries the trials show as ignored with the reason; under `CI=true` they
//! fail, as does a cluster that will not start.

use std::sync::Arc;

use ledger_store_postgres::cluster::{self, Cluster};
use libtest_mimic::{Failed, Trial};

/// A test body, given the binary's cluster.
pub type Test = fn(&Cluster);

/// The trials of `tests` on one cluster, and the cluster, to drop after the run (which
/// stops it). `listing`: the binary only lists its tests, so no cluster is started.
pub fn trials(tests: &[(&'static str, Test)], listing: bool) -> (Vec<Trial>, Option<Arc<Cluster>>) {
    let missing = cluster::binaries().err();
    let cluster = match (&missing, listing) {
        (None, false) => Cluster::start().map(Arc::new),
        (Some(why), _) => Err(why.clone()),
        (None, true) => Err("listing only".into()),
    };
    let trials = tests
        .iter()
        .map(|&(name, body)| match (&cluster, &missing) {
            (Ok(cluster), _) => {
                let cluster = Arc::clone(cluster);
                Trial::test(name, move || {
                    body(&cluster);
                    Ok(())
                })
            }
            (Err(why), Some(_)) if !crate::in_ci() => {
                let why = why.clone();
                Trial::test(name, move || Err(Failed::from(why)))
                    .with_kind("needs PostgreSQL")
                    .with_ignored_flag(true)
            }
            (Err(why), _) => {
                let why = format!("cannot start PostgreSQL: {why}");
                Trial::test(name, move || Err(Failed::from(why)))
            }
        })
        .collect();
    if let (Some(why), false) = (&missing, crate::in_ci()) {
        eprintln!("note: tests ignored: {why}");
    }
    (trials, cluster.ok())
}
