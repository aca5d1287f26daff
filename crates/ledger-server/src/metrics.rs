//! `/metrics`: Prometheus counters and histograms of what the server does.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The server's metrics, registered in their own registry.
pub struct Metrics {
    registry: Registry,
    /// Statements appended.
    pub appended: IntCounter,
    /// Requests answered, by status code.
    pub responses: IntCounterVec,
    /// Findings that refused a request, by rule code.
    pub refusals: IntCounterVec,
    /// Statements per committed group.
    pub group_statements: Histogram,
    /// Requests per committed group.
    pub group_requests: Histogram,
    /// Seconds from the first request of a group to its durable commit.
    pub commit_seconds: Histogram,
    /// Seconds from receiving a submission to its answer.
    pub submit_seconds: Histogram,
    /// Checkpoints signed.
    pub checkpoints: IntCounter,
    /// The log size of the latest signed checkpoint.
    pub tree_size: IntGauge,
    /// Requests waiting for the writer.
    pub queued: IntGauge,
    /// Checkpoints published after a quorum of witnesses cosigned them.
    pub witnessed: IntCounter,
    /// Rounds of asking the witnesses that missed the quorum.
    pub witness_misses: IntCounter,
}

fn buckets() -> Vec<f64> {
    vec![
        0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
    ]
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("custody".into()), None)?;
        let appended = IntCounter::new("statements_appended_total", "statements appended")?;
        let responses = IntCounterVec::new(
            Opts::new("responses_total", "requests answered, by status code"),
            &["status"],
        )?;
        let refusals = IntCounterVec::new(
            Opts::new(
                "refusals_total",
                "error findings that refused a request, by rule",
            ),
            &["rule"],
        )?;
        let group_statements = Histogram::with_opts(
            HistogramOpts::new("group_statements", "statements per committed group").buckets(vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
            ]),
        )?;
        let group_requests = Histogram::with_opts(
            HistogramOpts::new("group_requests", "requests per committed group").buckets(vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
            ]),
        )?;
        let commit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "commit_seconds",
                "seconds to check and durably commit a group",
            )
            .buckets(buckets()),
        )?;
        let submit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "submit_seconds",
                "seconds from a submission's arrival to its answer",
            )
            .buckets(buckets()),
        )?;
        let checkpoints = IntCounter::new("checkpoints_signed_total", "checkpoints signed")?;
        let tree_size = IntGauge::new("tree_size", "log size of the latest signed checkpoint")?;
        let queued = IntGauge::new("queued_requests", "requests waiting for the writer")?;
        let witnessed = IntCounter::new(
            "checkpoints_witnessed_total",
            "checkpoints published once a quorum of witnesses cosigned them",
        )?;
        let witness_misses = IntCounter::new(
            "witness_quorum_misses_total",
            "rounds of asking the witnesses that missed the quorum",
        )?;
        registry.register(Box::new(appended.clone()))?;
        registry.register(Box::new(responses.clone()))?;
        registry.register(Box::new(refusals.clone()))?;
        registry.register(Box::new(group_statements.clone()))?;
        registry.register(Box::new(group_requests.clone()))?;
        registry.register(Box::new(commit_seconds.clone()))?;
        registry.register(Box::new(submit_seconds.clone()))?;
        registry.register(Box::new(checkpoints.clone()))?;
        registry.register(Box::new(tree_size.clone()))?;
        registry.register(Box::new(queued.clone()))?;
        registry.register(Box::new(witnessed.clone()))?;
        registry.register(Box::new(witness_misses.clone()))?;
        Ok(Metrics {
            registry,
            appended,
            responses,
            refusals,
            group_statements,
            group_requests,
            commit_seconds,
            submit_seconds,
            checkpoints,
            tree_size,
            queued,
            witnessed,
            witness_misses,
        })
    }

    /// Counts the findings of a refusal.
    pub fn refused(&self, refused: &ledger::Refused) {
        for (_, f) in &refused.findings {
            self.refusals.with_label_values(&[f.rule.code()]).inc();
        }
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}
