//! The auditor's witness policy on `custody verify` (`--witness`, `--witness-quorum`,
//! `--witness-policy`, `--max-age`), and how its outcome is shown.

use anyhow::{Context, Result, bail};
use ledger::Report;
use ledger_core::finding::Finding;
use ledger_core::note::KeyKind;
use ledger_core::witnesses::{WitnessPolicy, Witnessing};
use ledger_witness::log::Endpoint;
use serde_json::{Value, json};

use crate::cli::VerifyArgs;
use crate::commands::bundle::parse_vkey_for;

/// The witness policy the arguments give, if any.
pub fn load(args: &VerifyArgs) -> Result<Option<WitnessPolicy>> {
    let max_age = args.max_age.as_deref().map(parse_duration).transpose()?;
    if let Some(path) = &args.witness_policy {
        let text = crate::io::read_text(path, ledger_core::witnesses::MAX_POLICY_SIZE as u64)?;
        let policy = WitnessPolicy::parse(text.as_bytes(), max_age)
            .with_context(|| format!("--witness-policy {}", path.display()))?;
        return Ok(Some(policy));
    }
    if args.witnesses.is_empty() {
        if max_age.is_some() {
            bail!(
                "--max-age needs witnesses to date the checkpoint: give --witness or --witness-policy"
            );
        }
        return Ok(None);
    }
    let mut keys = Vec::with_capacity(args.witnesses.len());
    for text in &args.witnesses {
        let key = parse_vkey_for("--witness", text)?;
        if key.kind() != KeyKind::Cosignature {
            bail!(
                "--witness {}: this is a log key (type 0x01); a witness's key is a \
                 cosignature/v1 key (type 0x04), as `custody witness vkey` prints it",
                key.vkey()
            );
        }
        keys.push(key);
    }
    let quorum = args.witness_quorum.unwrap_or(keys.len());
    Ok(Some(
        WitnessPolicy::new(keys, quorum, max_age).context("--witness-quorum")?,
    ))
}

/// The witnesses a log asks (`--witness URL,VKEY`, repeated) and how many must cosign
/// (`--witness-quorum`, default all), for `checkpoint` and `serve`.
pub fn endpoints(texts: &[String], quorum: Option<usize>) -> Result<(Vec<Endpoint>, usize)> {
    let endpoints = texts
        .iter()
        .map(|text| text.parse::<Endpoint>().map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()
        .context("--witness")?;
    let quorum = quorum.unwrap_or(endpoints.len());
    if !endpoints.is_empty() && (quorum == 0 || quorum > endpoints.len()) {
        bail!(
            "--witness-quorum must be between 1 and the {} witnesses given, not {quorum}",
            endpoints.len()
        );
    }
    Ok((endpoints, quorum))
}

/// Seconds in `90s`, `15m`, `24h` or `7d` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<u64> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("--max-age {text:?}: give a number with s, m, h or d, e.g. 24h"),
    };
    let n: u64 = digits.parse().with_context(|| {
        format!("--max-age {text:?}: give a number with s, m, h or d, e.g. 24h")
    })?;
    n.checked_mul(scale)
        .with_context(|| format!("--max-age {text:?} is too large"))
}

/// `report` with `more` findings added (the verdict follows them).
pub fn with_findings(report: Report, more: &[Finding]) -> Report {
    let mut findings = report.findings;
    findings.extend(more.iter().cloned());
    Report::new(report.scope, report.lot, report.entries, findings)
}

/// The line that says what the witnesses vouch for.
pub fn line(policy: Option<&WitnessPolicy>, found: Option<&Witnessing>) -> String {
    match (policy, found) {
        (Some(policy), Some(found)) => {
            let by: Vec<String> = found
                .cosigned
                .iter()
                .map(|(name, time)| format!("{name} at {}", show(*time)))
                .collect();
            let verdict = if found.findings.is_empty() {
                "met"
            } else {
                "NOT met"
            };
            format!(
                "witnesses: policy {verdict} (needs {}); cosigned by {}",
                policy.describe(),
                if by.is_empty() {
                    "none of them".to_owned()
                } else {
                    by.join(", ")
                }
            )
        }
        _ => "witnesses: none checked (no --witness or --witness-policy): the checkpoint is \
              unwitnessed, so a fork or a rolled-back copy of the log is not ruled out"
            .to_owned(),
    }
}

/// The JSON form of [`line`].
pub fn json(policy: Option<&WitnessPolicy>, found: Option<&Witnessing>) -> Value {
    match (policy, found) {
        (Some(policy), Some(found)) => json!({
            "witnessed": found.findings.is_empty(),
            "policy": policy.describe(),
            "cosigned": found.cosigned.iter().map(|(name, time)| json!({"witness": name, "time": time})).collect::<Vec<_>>(),
        }),
        _ => json!({"witnessed": false, "policy": null, "cosigned": []}),
    }
}

fn show(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| ledger_core::timestamp::Timestamp::from_unix(s).ok())
        .map_or_else(|| seconds.to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("15m").unwrap(), 900);
        assert_eq!(parse_duration("24h").unwrap(), 86_400);
        assert_eq!(parse_duration("7d").unwrap(), 604_800);
        for bad in ["", "h", "1w", "-1h", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
