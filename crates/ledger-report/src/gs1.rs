//! GS1 identifiers of a battery: the GTIN and serial a manufacturer binds to a module lot,
//! the GS1 Digital Link URL of its passport, and that URL as a QR code.
//!
//! The binding is a `documents` entry of the event that creates the lot, named
//! `battery-passport lot=LOT gtin=GTIN serial=SERIAL [model=M] [chemistry=C]`: the creator
//! signs it with the event, so no one else can bind a lot, and it needs no format change
//! (`docs/passport.md`). Its `sha256` is the hash of the manufacturer's product documentation.

use std::fmt;

use ledger_core::event::Event;
use ledger_core::hash::Digest;
use ledger_core::id::LotId;
use ledger_core::quantity::Quantity;

/// The first word of a binding document's name.
pub const BINDING_PREFIX: &str = "battery-passport ";

/// The resolver host of Digital Link URLs when none is configured: Custody's own example
/// domain, so that a default never points at a real third party.
pub const DEFAULT_BASE_URL: &str = "https://id.custody.example";

/// Why an identifier or a binding was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Gs1Error {
    /// A GTIN that is not 14 digits.
    #[error("gtin: {0:?} is not 14 digits (GTIN-14; pad a shorter GTIN with leading zeros)")]
    GtinDigits(String),
    /// A GTIN whose check digit is wrong.
    #[error("gtin: {gtin} has check digit {found}, the GS1 check digit is {expected}")]
    GtinCheckDigit {
        /// The GTIN as given.
        gtin: String,
        /// Its last digit.
        found: u8,
        /// The check digit its first 13 digits give.
        expected: u8,
    },
    /// A serial outside the accepted characters or length.
    #[error("serial: {0:?} must be 1 to 20 characters of A-Z a-z 0-9 . _ -")]
    Serial(String),
    /// A binding document whose name does not parse.
    #[error("documents[{index}].name: {reason}")]
    Binding {
        /// The document's index in the event.
        index: usize,
        /// What is wrong, naming the key.
        reason: String,
    },
}

/// A GTIN-14 whose GS1 check digit is correct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gtin([u8; 14]);

impl Gtin {
    /// Parses 14 ASCII digits and checks the GS1 mod-10 check digit.
    pub fn parse(text: &str) -> Result<Gtin, Gs1Error> {
        let bytes = text.as_bytes();
        if bytes.len() != 14 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(Gs1Error::GtinDigits(text.to_owned()));
        }
        let mut digits = [0u8; 14];
        for (d, b) in digits.iter_mut().zip(bytes) {
            *d = b - b'0';
        }
        // Weights 3, 1, 3, ... from the digit left of the check digit (GS1 General
        // Specifications §7.9.1).
        let sum: u32 = digits[..13]
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &d)| u32::from(d) * if i % 2 == 0 { 3 } else { 1 })
            .sum();
        let expected = ((10 - sum % 10) % 10) as u8;
        if digits[13] != expected {
            return Err(Gs1Error::GtinCheckDigit {
                gtin: text.to_owned(),
                found: digits[13],
                expected,
            });
        }
        Ok(Gtin(digits))
    }
}

impl fmt::Display for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|d| write!(f, "{d}"))
    }
}

/// A serial number (GS1 AI 21), restricted to characters that need no escaping in a URL
/// path: a subset of GS1's CSET 82.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(String);

impl Serial {
    /// Parses 1 to 20 characters of `A-Z a-z 0-9 . _ -`.
    pub fn parse(text: &str) -> Result<Serial, Gs1Error> {
        if (1..=20).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            Ok(Serial(text.to_owned()))
        } else {
            Err(Gs1Error::Serial(text.to_owned()))
        }
    }

    /// The serial as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A manufacturer's binding of a lot to its GS1 identifiers, as signed in the event that
/// created the lot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The bound lot: a pieces output of the event.
    pub lot: LotId,
    /// Its GTIN.
    pub gtin: Gtin,
    /// Its serial.
    pub serial: Serial,
    /// The model name, where declared.
    pub model: Option<String>,
    /// The cell chemistry, where declared (for example `NMC811`).
    pub chemistry: Option<String>,
    /// The hash of the manufacturer's product documentation.
    pub documentation: Digest,
}

impl Binding {
    /// The Digital Link path, `/01/{gtin}/21/{serial}`.
    pub fn path(&self) -> String {
        format!("/01/{}/21/{}", self.gtin, self.serial)
    }

    /// The Digital Link URL under `base` (a scheme and host, no trailing slash needed).
    pub fn url(&self, base: &str) -> String {
        format!("{}{}", base.trim_end_matches('/'), self.path())
    }
}

/// A declared value: 1 to 64 characters of `A-Z a-z 0-9 . _ -`.
fn declared(key: &str, value: &str) -> Result<String, String> {
    if (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{key}: {value:?} must be 1 to 64 characters of A-Z a-z 0-9 . _ -"
        ))
    }
}

/// The bindings an event declares: its documents named `battery-passport …`. A binding
/// must name a pieces output of the event itself; an error names the document and key.
pub fn bindings(event: &Event) -> Result<Vec<Binding>, Gs1Error> {
    let mut out = Vec::new();
    for (index, doc) in event.documents.iter().enumerate() {
        let Some(rest) = doc.name.strip_prefix(BINDING_PREFIX) else {
            continue;
        };
        let fail = |reason: String| Gs1Error::Binding { index, reason };
        let (mut lot, mut gtin, mut serial, mut model, mut chemistry) =
            (None, None, None, None, None);
        for pair in rest.split(' ').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| fail(format!("{pair:?} is not key=value")))?;
            let slot = match key {
                "lot" => &mut lot,
                "gtin" => &mut gtin,
                "serial" => &mut serial,
                "model" => &mut model,
                "chemistry" => &mut chemistry,
                _ => {
                    return Err(fail(format!(
                        "unknown key {key:?} (lot, gtin, serial, model, chemistry)"
                    )));
                }
            };
            if slot.replace(value).is_some() {
                return Err(fail(format!("{key} is given twice")));
            }
        }
        let missing = |key: &str| fail(format!("{key} is missing"));
        let lot_text = lot.ok_or_else(|| missing("lot"))?;
        let lot = LotId::new(lot_text).map_err(|e| fail(format!("lot: {e}")))?;
        let output = event.body.outputs().iter().find(|o| o.lot == lot);
        if !matches!(output.map(|o| o.quantity), Some(Quantity::Pieces(_))) {
            return Err(fail(format!(
                "lot: {lot} is not a pieces output of this event"
            )));
        }
        let gtin =
            Gtin::parse(gtin.ok_or_else(|| missing("gtin"))?).map_err(|e| fail(e.to_string()))?;
        let serial = Serial::parse(serial.ok_or_else(|| missing("serial"))?)
            .map_err(|e| fail(e.to_string()))?;
        out.push(Binding {
            lot,
            gtin,
            serial,
            model: model
                .map(|m| declared("model", m))
                .transpose()
                .map_err(fail)?,
            chemistry: chemistry
                .map(|c| declared("chemistry", c))
                .transpose()
                .map_err(fail)?,
            documentation: doc.sha256,
        });
    }
    Ok(out)
}

/// The binding of the report's product lot, if its creating event declares one that parses.
pub fn product_binding(data: &crate::ReportData) -> Option<Binding> {
    let created = data.event(&data.product.created_by)?;
    bindings(&created.event)
        .ok()?
        .into_iter()
        .find(|b| b.lot == data.lot)
}

/// The product's Digital Link URL under `base_url` and its QR code, for reports of a bound
/// lot.
pub fn product_qr(
    data: &crate::ReportData,
    base_url: &str,
) -> Result<Option<(String, String)>, crate::ReportError> {
    let Some(binding) = product_binding(data) else {
        return Ok(None);
    };
    let url = binding.url(base_url);
    let svg = qr_svg(&url, &format!("QR code of {url}"))
        .map_err(|e| crate::ReportError::Qr(e.to_string()))?;
    Ok(Some((url, svg)))
}

/// The dark modules of a QR code of `text` (error correction level M) as one SVG path in
/// module units, offset by a quiet zone of four modules, and the side including it.
fn qr_path(text: &str) -> Result<(usize, String), qrcode::types::QrError> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)?;
    let width = code.width();
    let mut d = String::new();
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = (i % width + 4, i / width + 4);
            d.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Ok((width + 8, d))
}

/// Escapes text for XML.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A QR code of `text` as inline SVG (the `qrcode` crate's encoding, error correction level
/// M, a quiet zone of four modules), named `label` for screen readers.
pub fn qr_svg(text: &str, label: &str) -> Result<String, qrcode::types::QrError> {
    let (side, d) = qr_path(text)?;
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"{}\"><rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{d}\"/></svg>",
        xml(label)
    ))
}

/// A printable module label (SVG, 60 x 80 mm): the QR code of the passport URL under
/// `base_url`, and the GS1 element string, model and URL in text.
pub fn label_svg(binding: &Binding, base_url: &str) -> Result<String, qrcode::types::QrError> {
    let url = binding.url(base_url);
    let (side, d) = qr_path(&url)?;
    // The QR code fills a 52 mm square at the top; module units are scaled into it.
    let scale = 52.0 / side as f64;
    let mut lines = vec![format!("(01) {} (21) {}", binding.gtin, binding.serial)];
    if let Some(model) = &binding.model {
        lines.push(format!("Model {model}"));
    }
    lines.push("Battery passport:".to_owned());
    lines.push(url.clone());
    let text: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "<text x=\"30\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                62 + 4 * i,
                xml(l)
            )
        })
        .collect();
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"60mm\" height=\"80mm\" viewBox=\"0 0 60 80\" role=\"img\" aria-label=\"Battery passport label: {}\">\n<rect width=\"60\" height=\"80\" fill=\"#fff\"/>\n<g transform=\"translate(4 2) scale({scale:.6})\" shape-rendering=\"crispEdges\"><path fill=\"#000\" d=\"{d}\"/></g>\n<g font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"2.6\" fill=\"#000\">{text}</g>\n</svg>\n",
        xml(&url)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtin_check_digit_is_the_gs1_mod_10() {
        // GS1's own example GTIN.
        assert!(Gtin::parse("09506000134352").is_ok());
        assert_eq!(
            Gtin::parse("09506000134353").unwrap_err().to_string(),
            "gtin: 09506000134353 has check digit 3, the GS1 check digit is 2"
        );
        assert!(matches!(
            Gtin::parse("950600013435"),
            Err(Gs1Error::GtinDigits(_))
        ));
        assert!(matches!(
            Gtin::parse("0950600013435x"),
            Err(Gs1Error::GtinDigits(_))
        ));
    }

    /// A module transform whose documents are named `names`.
    fn module(names: &[&str]) -> Event {
        use ledger_core::event::{Body, Document, LotMove, LotOutput, Transform};
        use ledger_core::id::{Material, PartyId};
        let output = |lot: &str, quantity| LotOutput {
            lot: LotId::new(lot).unwrap(),
            material: Material::new("module").unwrap(),
            quantity,
            content: Default::default(),
            capacity_wh: None,
            unit_mass_mg: Some(1),
        };
        Event {
            actor: PartyId::new("maker").unwrap(),
            time: ledger_core::timestamp::Timestamp::from_unix(0).unwrap(),
            nonce: 0,
            emissions_g_co2e: None,
            documents: names
                .iter()
                .map(|n| Document {
                    name: (*n).to_owned(),
                    sha256: Digest::ZERO,
                })
                .collect(),
            body: Body::Transform(Transform {
                inputs: vec![LotMove {
                    lot: LotId::new("CELLS").unwrap(),
                    quantity: Quantity::Pieces(1),
                    from: Digest::ZERO,
                }],
                outputs: vec![
                    output("MOD-1", Quantity::Pieces(10)),
                    output("SCRAP", Quantity::Grams(5)),
                ],
            }),
        }
    }

    #[test]
    fn a_binding_names_a_pieces_output_and_errors_name_the_document_and_key() {
        let ok = bindings(&module(&[
            "assay",
            "battery-passport lot=MOD-1 gtin=04012345123456 serial=S1 model=M-1",
        ]))
        .unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].path(), "/01/04012345123456/21/S1");
        assert_eq!(ok[0].model.as_deref(), Some("M-1"));
        assert_eq!(ok[0].chemistry, None);
        assert_eq!(
            ok[0].url("https://id.example/"),
            "https://id.example/01/04012345123456/21/S1"
        );
        for (name, error) in [
            (
                "battery-passport lot=MOD-1 serial=S1",
                "documents[0].name: gtin is missing",
            ),
            (
                "battery-passport lot=MOD-1 gtin=04012345123456 serial=S1 colour=red",
                "documents[0].name: unknown key \"colour\" (lot, gtin, serial, model, chemistry)",
            ),
            (
                "battery-passport lot=MOD-1 lot=MOD-1 gtin=04012345123456 serial=S1",
                "documents[0].name: lot is given twice",
            ),
            (
                "battery-passport lot=SCRAP gtin=04012345123456 serial=S1",
                "documents[0].name: lot: SCRAP is not a pieces output of this event",
            ),
            (
                "battery-passport lot=MOD-1 gtin=04012345123455 serial=S1",
                "documents[0].name: gtin: 04012345123455 has check digit 5, the GS1 check digit is 6",
            ),
            (
                "battery-passport lot=MOD-1 gtin=04012345123456 serial=S1 model",
                "documents[0].name: \"model\" is not key=value",
            ),
        ] {
            assert_eq!(
                bindings(&module(&[name])).unwrap_err().to_string(),
                error,
                "{name}"
            );
        }
    }

    #[test]
    fn serial_refuses_characters_a_url_path_would_escape() {
        assert!(Serial::parse("VM-0001").is_ok());
        assert!(Serial::parse("").is_err());
        assert!(Serial::parse("a/b").is_err());
        assert!(Serial::parse(&"9".repeat(21)).is_err());
    }
}
