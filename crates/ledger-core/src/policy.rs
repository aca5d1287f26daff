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

/// A due-diligence policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Countries whose mine sites call for enhanced due diligence.
    #[serde(default = "default_high_risk")]
    pub high_risk_countries: Vec<Country>,
    /// Treatment of sites in high-risk countries.
    #[serde(default = "warn")]
    pub high_risk: Treatment,
    /// Treatment of artisanal and small-scale mine sites.
    #[serde(default = "warn")]
    pub artisanal: Treatment,
    /// Treatment of missing or expired required attestations.
    #[serde(default = "warn")]
    pub missing_attestation: Treatment,
    /// Treatment of open major corrective action plans.
    #[serde(default = "warn")]
    pub open_major_cap: Treatment,
    /// Required attestations per role.
    #[serde(default = "default_requirements")]
    pub require: Vec<Requirement>,
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
    /// Whether `country` is on the high-risk list.
    pub fn is_high_risk(&self, country: &Country) -> bool {
        self.high_risk_countries.contains(country)
    }
}
