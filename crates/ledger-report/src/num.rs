//! Fixed-point figures to decimal text. The roll-ups are exact integers (shares as fractions
//! of [`SHARE_ONE`], masses and emissions in micrograms); this module is the one place where
//! they become decimals, always by rounding half up at a stated number of places.

use ledger_core::provenance::SHARE_ONE;

/// Micrograms in a kilogram.
pub const UG_PER_KG: u128 = 1_000_000_000;

/// `n / d` rounded half up; zero when `d` is zero.
pub fn div_round(n: u128, d: u128) -> u128 {
    n.saturating_add(d / 2).checked_div(d).unwrap_or(0)
}

/// `value / 10^scale` as a decimal with at most `places` decimals (rounded half up, trailing
/// zeros trimmed).
pub fn decimal(value: u128, scale: u32, places: u32) -> String {
    let value = if places < scale {
        div_round(value, 10u128.pow(scale - places))
    } else {
        value
    };
    let shown = places.min(scale);
    let div = 10u128.pow(shown);
    let (whole, frac) = (value / div, value % div);
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:0width$}", width = shown as usize);
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A share (fraction of [`SHARE_ONE`]) as a percentage with at most `places` decimals.
pub fn percent(share: u128, places: u32) -> String {
    // share / SHARE_ONE * 100 = share / 10^10.
    decimal(share, 10, places)
}

/// A share in parts per million, rounded half up.
pub fn ppm(share: u128) -> u64 {
    u64::try_from(div_round(share.saturating_mul(1_000_000), SHARE_ONE)).unwrap_or(u64::MAX)
}

/// Micrograms as kilograms with at most six decimals (milligram resolution).
pub fn kg(ug: u128) -> String {
    decimal(ug, 9, 6)
}

/// A decimal string as an exact JSON number (the workspace keeps JSON numbers as written).
pub fn json_number(text: &str) -> serde_json::Value {
    match text.parse::<serde_json::Number>() {
        Ok(n) => serde_json::Value::Number(n),
        Err(_) => serde_json::Value::String(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_half_up_and_trim() {
        assert_eq!(decimal(13_902_430_555, 9, 6), "13.902431");
        assert_eq!(decimal(800_780_000_000, 9, 6), "800.78");
        assert_eq!(decimal(5, 1, 0), "1");
        assert_eq!(decimal(4, 1, 0), "0");
        assert_eq!(kg(6_076_800_000), "6.0768");
        assert_eq!(percent(SHARE_ONE / 5, 2), "20");
        assert_eq!(percent(486_035_660_000, 4), "48.6036");
        assert_eq!(ppm(SHARE_ONE / 3), 333_333);
    }
}
