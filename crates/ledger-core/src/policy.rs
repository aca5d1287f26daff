//! Due-diligence policy: which attestations each role needs and how old they may be, which
//! countries are high-risk, and which gaps fail a verdict. Read from TOML or JSON by the
//! CLI; without a policy file the [`Policy::default`] applies and every gap is a warning.

use serde::{Deserialize, Serialize};

use crate::event::{Claim, Role};
use crate::finding::Severity;
use crate::id::Country;

/// The built-in high-risk list: conflict-affected and high-risk areas commonly named for
/// 3TG and cobalt due diligence. Illustrative, not legal advice: replace it in a policy.
pub const DEFAULT_HIGH_RISK: &[&str] = &[
    "AF", "BF", "CD", "CF", "ER", "HT", "IQ", "LY", "ML", "MM", "MZ", "NE", "NG", "SD", "SO", "SS",
    "SY", "VE", "YE",
];

/// One attestation a role needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// The role it applies to.
    pub role: Role,
    /// The claim needed. Claims with an outcome must be `pass` or `conditional`.
    pub claim: Claim,
    /// How old the attestation may be, in days, unless its own `valid_until` is earlier.
    pub max_age_days: Option<u32>,
}

/// How a due-diligence gap counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Treatment {
    /// Not reported.
    Allow,
    /// A warning.
    Warn,
    /// An error: fails the verdict.
    Error,
}

impl Treatment {
    /// The finding severity, or `None` when allowed.
    pub fn severity(self) -> Option<Severity> {
        match self {
            Treatment::Allow => None,
            Treatment::Warn => Some(Severity::Warning),
            Treatment::Error => Some(Severity::Error),
        }
    }
}

/// What a policy file's `require` list does to the built-in requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Extends {
    /// The built-in requirements stay; the file's entries are added, and an entry for a
    /// role and claim the built-in list has replaces that one (a different `max_age_days`).
    Default,
    /// Only the file's requirements apply.
    None,
}

/// A due-diligence policy: as written in a file, `require` must say with `extends` whether
/// it adds to the built-in requirements or replaces them, so that one `[[require]]` never
/// silently drops the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyFile", into = "PolicyFile")]
pub struct Policy {
    /// Countries whose mine sites call for enhanced due diligence.
    pub high_risk_countries: Vec<Country>,
    /// Treatment of sites in high-risk countries.
    pub high_risk: Treatment,
    /// Treatment of artisanal and small-scale mine sites.
    pub artisanal: Treatment,
    /// Treatment of missing or expired required attestations.
    pub missing_attestation: Treatment,
    /// Treatment of open major corrective action plans.
    pub open_major_cap: Treatment,
    /// Required attestations per role.
    pub require: Vec<Requirement>,
}

/// The policy file's shape; [`Policy`] is what it means.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default = "default_high_risk")]
    high_risk_countries: Vec<Country>,
    #[serde(default = "warn")]
    high_risk: Treatment,
    #[serde(default = "warn")]
    artisanal: Treatment,
    #[serde(default = "warn")]
    missing_attestation: Treatment,
    #[serde(default = "warn")]
    open_major_cap: Treatment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    extends: Option<Extends>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    require: Option<Vec<Requirement>>,
}

impl TryFrom<PolicyFile> for Policy {
    type Error = String;

    fn try_from(file: PolicyFile) -> Result<Policy, String> {
        let require = match (file.extends, file.require) {
            (None, None) | (Some(Extends::Default), None) => default_requirements(),
            (Some(Extends::None), None) => Vec::new(),
            (None, Some(_)) => {
                return Err(
                    "`require` is given without `extends`: write `extends = \"default\"` \
                     to add these requirements to the built-in ones (an entry for the same \
                     role and claim replaces the built-in one), or `extends = \"none\"` to use \
                     only these"
                        .into(),
                );
            }
            (Some(Extends::None), Some(own)) => own,
            (Some(Extends::Default), Some(own)) => {
                let mut merged: Vec<Requirement> = default_requirements()
                    .into_iter()
                    .filter(|d| !own.iter().any(|o| o.role == d.role && o.claim == d.claim))
                    .collect();
                merged.extend(own);
                merged
            }
        };
        Ok(Policy {
            high_risk_countries: file.high_risk_countries,
            high_risk: file.high_risk,
            artisanal: file.artisanal,
            missing_attestation: file.missing_attestation,
            open_major_cap: file.open_major_cap,
            require,
        })
    }
}

impl From<Policy> for PolicyFile {
    /// The effective policy, written out whole: `extends = "none"` and every requirement.
    fn from(policy: Policy) -> PolicyFile {
        PolicyFile {
            high_risk_countries: policy.high_risk_countries,
            high_risk: policy.high_risk,
            artisanal: policy.artisanal,
            missing_attestation: policy.missing_attestation,
            open_major_cap: policy.open_major_cap,
            extends: Some(Extends::None),
            require: Some(policy.require),
        }
    }
}

fn warn() -> Treatment {
    Treatment::Warn
}

fn default_high_risk() -> Vec<Country> {
    DEFAULT_HIGH_RISK
        .iter()
        .filter_map(|c| Country::parse(c).ok())
        .collect()
}

fn default_requirements() -> Vec<Requirement> {
    let mut out = Vec::new();
    for role in [
        Role::Miner,
        Role::Trader,
        Role::Refiner,
        Role::Manufacturer,
        Role::Recycler,
    ] {
        out.push(Requirement {
            role,
            claim: Claim::CodeOfConduct,
            max_age_days: None,
        });
        out.push(Requirement {
            role,
            claim: Claim::Saq,
            max_age_days: Some(730),
        });
    }
    for role in [Role::Miner, Role::Trader, Role::Refiner, Role::Recycler] {
        out.push(Requirement {
            role,
            claim: Claim::OnsiteAudit,
            max_age_days: Some(365),
        });
    }
    out
}

impl Default for Policy {
    /// Code of conduct and SAQ (two years) for every supplier role; an on-site audit within
    /// a year for miners, traders, refiners and recyclers; the built-in high-risk list; every
    /// gap a warning.
    fn default() -> Policy {
        Policy {
            high_risk_countries: default_high_risk(),
            high_risk: Treatment::Warn,
            artisanal: Treatment::Warn,
            missing_attestation: Treatment::Warn,
            open_major_cap: Treatment::Warn,
            require: default_requirements(),
        }
    }
}

impl Policy {
    /// The supplier roles this policy requires no attestation of at all: each is worth a
    /// warning when the policy is loaded, since its parties pass due diligence unexamined.
    pub fn roles_without_requirements(&self) -> Vec<Role> {
        [
            Role::Miner,
            Role::Trader,
            Role::Refiner,
            Role::Manufacturer,
            Role::Recycler,
        ]
        .into_iter()
        .filter(|role| !self.require.iter().any(|r| r.role == *role))
        .collect()
    }

    /// Whether `country` is on the high-risk list.
    pub fn is_high_risk(&self, country: &Country) -> bool {
        self.high_risk_countries.contains(country)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Policy, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    fn onsite(role: Role, days: u32) -> Requirement {
        Requirement {
            role,
            claim: Claim::OnsiteAudit,
            max_age_days: Some(days),
        }
    }

    #[test]
    fn fail_a_require_list_without_extends_is_refused_not_silently_replacing_the_defaults() {
        let err =
            parse(r#"{"require": [{"role": "miner", "claim": "onsite-audit"}]}"#).unwrap_err();
        assert!(
            err.contains("`require` is given without `extends`"),
            "{err}"
        );
    }

    #[test]
    fn extends_default_adds_and_replaces_by_role_and_claim() {
        let policy = parse(
            r#"{"extends": "default", "require": [
                {"role": "miner", "claim": "onsite-audit", "max_age_days": 90},
                {"role": "transporter", "claim": "code-of-conduct"}]}"#,
        )
        .unwrap();
        let defaults = Policy::default().require;
        assert_eq!(policy.require.len(), defaults.len() + 1);
        let miner: Vec<_> = policy
            .require
            .iter()
            .filter(|r| r.role == Role::Miner && r.claim == Claim::OnsiteAudit)
            .collect();
        assert_eq!(miner, [&onsite(Role::Miner, 90)]);
        assert!(policy.require.iter().any(|r| r.role == Role::Transporter));
    }

    #[test]
    fn extends_none_keeps_only_the_files_requirements() {
        let policy =
            parse(r#"{"extends": "none", "require": [{"role": "miner", "claim": "onsite-audit", "max_age_days": 30}]}"#)
                .unwrap();
        assert_eq!(policy.require, [onsite(Role::Miner, 30)]);
        assert_eq!(
            policy.roles_without_requirements(),
            [
                Role::Trader,
                Role::Refiner,
                Role::Manufacturer,
                Role::Recycler
            ]
        );
        assert_eq!(parse(r#"{"extends": "none"}"#).unwrap().require, []);
        assert_eq!(parse("{}").unwrap(), Policy::default());
    }

    #[test]
    fn fail_the_high_risk_list_holds_only_assigned_iso_codes() {
        // The built-in list loses no entry to parsing (it is read with `filter_map`).
        assert_eq!(
            Policy::default().high_risk_countries.len(),
            DEFAULT_HIGH_RISK.len()
        );
        // A policy's list is read through the same check as every other country: a
        // withdrawn code (ZR, the old code of CD) or a made-up one is refused, not kept as
        // a code no site can match.
        for code in ["ZR", "XX", "QQ"] {
            let err =
                parse(&format!(r#"{{"high_risk_countries": ["CD", "{code}"]}}"#)).unwrap_err();
            assert!(err.contains("not an assigned ISO 3166-1"), "{code}: {err}");
        }
    }

    #[test]
    fn the_effective_policy_written_out_reads_back_the_same() {
        let policy = parse(r#"{"extends": "default", "artisanal": "error"}"#).unwrap();
        let text = serde_json::to_string(&policy).unwrap();
        assert!(text.contains(r#""extends":"none""#), "{text}");
        assert_eq!(parse(&text).unwrap(), policy);
        assert!(Policy::default().roles_without_requirements().is_empty());
    }
}
