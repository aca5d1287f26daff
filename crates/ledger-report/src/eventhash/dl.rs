//! The GS1 Digital Link normaliser of the EPCIS event hash algorithm: EPC URIs, EPC class
//! URIs, EPC pattern URIs and GS1 Digital Link URIs all become one constrained, canonical
//! `https://id.gs1.org/...` form; anything else is left as it is.
//!
//! This is a port of `dl_normaliser.py` of the reference implementation
//! (`epcis-event-hash-generator` 1.9.3), regular expression by regular expression and slice
//! by slice, because the pre-hash strings must agree byte for byte. Python's `re.match`
//! anchors at the start only, so every pattern is wrapped in `^(?:...)`.

use std::sync::OnceLock;

use regex::Regex;

/// The character class of a GS1 AI-82 value written in an EPC URI (with percent escapes).
const C82: &str = r"(%2[125-9A-Fa-f]|%3[0-9A-Fa-f]|%4[1-9A-Fa-f]|%5[0-9AaFf]|%6[1-9A-Fa-f]|%7[0-9Aa]|[!')(*+,.0-9:;=A-Za-z_-])";
/// The character class of a component/part reference (CPI).
const C39: &str = r"(%2[3dfDF]|%3[0-9]|%4[1-9A-Fa-f]|%5[0-9Aa]|[0-9A-Z-])";
/// Characters allowed in a canonical Digital Link value.
const DLV: &str = r"[\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]";

/// Company prefix and reference partitions of a 13-digit key (GTIN without check digit).
const P13: &str = r"((\d{6}\.\d{7})|(\d{7}\.\d{6})|(\d{8}\.\d{5})|(\d{9}\.\d{4})|(\d{10}\.\d{3})|(\d{11}\.\d{2})|(\d{12}\.\d{1}))";
/// Company prefix and reference partitions of a 12-digit key (GLN, GDTI, ...).
const P12: &str = r"((\d{6}\.\d{6})|(\d{7}\.\d{5})|(\d{8}\.\d{4})|(\d{9}\.\d{3})|(\d{10}\.\d{2})|(\d{11}\.\d{1})|(\d{12}\.))";
/// As [`P12`], with the GRAI/GDTI spelling of an empty reference (`..`).
const P12DD: &str = r"((\d{6}\.\d{6})|(\d{7}\.\d{5})|(\d{8}\.\d{4})|(\d{9}\.\d{3})|(\d{10}\.\d{2})|(\d{11}\.\d{1})|(\d{12}\.\.))";

/// Builds the Digital Link of a matched URI (its characters, the index of its first dot).
type Build = fn(&[char], usize) -> String;
/// A scheme: its pattern, and how to build the Digital Link from the matched URI.
type Rule = (String, Build);

fn rules() -> &'static Vec<(Regex, Build)> {
    static RULES: OnceLock<Vec<(Regex, Build)>> = OnceLock::new();
    RULES.get_or_init(|| {
        let list: Vec<Rule> = vec![
            (format!(r"urn:epc:id:sgtin:{P13}\.{C82}{{1,20}}$"), |u, p| {
                let gtin = gtin(u, 17, p);
                format!("https://id.gs1.org/01/{gtin}{}/21/{}", check_digit(&gtin), pct(&sl(u, 32, u.len())))
            }),
            (
                r"urn:epc:id:sscc:((\d{6}\.\d{11}$)|(\d{7}\.\d{10}$)|(\d{8}\.\d{9}$)|(\d{9}\.\d{8}$)|(\d{10}\.\d{7}$)|(\d{11}\.\d{6}$)|(\d{12}\.\d{5}$))".into(),
                |u, p| {
                    let raw = format!("{}{}{}", sl(u, p + 1, p + 2), sl(u, 16, p), sl(u, p + 2, u.len()));
                    format!("https://id.gs1.org/00/{raw}{}", check_digit(&raw))
                },
            ),
            (format!(r"urn:epc:id:sgln:{P12}\.{C82}{{1,20}}$"), |u, p| {
                let company = sl(u, 16, p);
                let gln = format!("{company}{}", sl(u, p + 1, p + 1 + 12 - company.chars().count().min(12)));
                let extension = sl(u, 30, u.len());
                if extension == "0" {
                    format!("https://id.gs1.org/414/{gln}{}", check_digit(&gln))
                } else {
                    format!("https://id.gs1.org/414/{gln}{}/254/{}", check_digit(&gln), pct(&extension))
                }
            }),
            (format!(r"urn:epc:id:grai:{P12DD}\.{C82}{{1,16}}$"), |u, p| {
                let company = sl(u, 16, p);
                let raw = format!("0{company}{}", sl(u, p + 1, p + 1 + 12 - company.chars().count().min(12)));
                format!("https://id.gs1.org/8003/{raw}{}{}", check_digit(&raw), pct(&sl(u, 30, u.len())))
            }),
            (
                format!(
                    r"urn:epc:id:giai:(([\d]{{6}}\.{C82}{{1,24}})|([\d]{{7}}\.{C82}{{1,23}})|([\d]{{8}}\.{C82}{{1,22}})|([\d]{{9}}\.{C82}{{1,21}})|([\d]{{10}}\.{C82}{{1,20}})|([\d]{{11}}\.{C82}{{1,19}})|([\d]{{12}}\.{C82}{{1,18}}))$"
                ),
                |u, p| format!("https://id.gs1.org/8004/{}{}", sl(u, 16, p), pct(&sl(u, p + 1, u.len()))),
            ),
            (
                r"urn:epc:id:gsrn:(([\d]{6}\.[\d]{11}$)|([\d]{7}\.[\d]{10}$)|([\d]{8}\.[\d]{9}$)|([\d]{9}\.[\d]{8}$)|([\d]{10}\.[\d]{7}$)|([\d]{11}\.[\d]{6}$)|([\d]{12}\.[\d]{5}$))".into(),
                |u, p| {
                    let raw = format!("{}{}", sl(u, 16, p), sl(u, p + 1, u.len()));
                    format!("https://id.gs1.org/8018/{raw}{}", check_digit(&raw))
                },
            ),
            (
                r"urn:epc:id:gsrnp:(([\d]{6}\.[\d]{11}$)|([\d]{7}\.[\d]{10}$)|([\d]{8}\.[\d]{9}$)|([\d]{9}\.[\d]{8}$)|([\d]{10}\.[\d]{7}$)|([\d]{11}\.[\d]{6}$)|([\d]{12}\.[\d]{5}$))".into(),
                |u, p| {
                    let raw = format!("{}{}", sl(u, 17, p), sl(u, p + 1, u.len()));
                    format!("https://id.gs1.org/8017/{raw}{}", check_digit(&raw))
                },
            ),
            (format!(r"urn:epc:id:gdti:{P12DD}{C82}{{1,20}}$"), |u, p| {
                let company = sl(u, 16, p);
                let raw = format!("{company}{}", sl(u, p + 1, p + 1 + 12 - company.chars().count().min(12)));
                format!("https://id.gs1.org/253/{raw}{}{}", check_digit(&raw), pct(&sl(u, 30, u.len())))
            }),
            (
                format!(
                    r"urn:epc:id:cpi:((\d{{6}}\.{C39}{{1,24}})|(\d{{7}}\.{C39}{{1,23}})|(\d{{8}}\.{C39}{{1,22}})|(\d{{9}}\.{C39}{{1,21}})|(\d{{10}}\.{C39}{{1,20}})|(\d{{11}}\.{C39}{{1,19}})|(\d{{12}}\.{C39}{{1,18}}))\.[\d]{{1,12}}$"
                ),
                |u, p| {
                    let sep = rfind_dot(u);
                    let raw = format!("{}{}", sl(u, 15, p), sl(u, p + 1, sep));
                    format!("https://id.gs1.org/8010/{}/8011/{}", pct(&raw), sl(u, sep + 1, u.len()))
                },
            ),
            (format!(r"urn:epc:id:sgcn:{P12}\.[\d]{{1,12}}$"), |u, p| {
                let company = sl(u, 16, p);
                let raw = format!("{company}{}", sl(u, p + 1, p + 1 + 12 - company.chars().count().min(12)));
                format!("https://id.gs1.org/255/{raw}{}{}", check_digit(&raw), sl(u, 30, u.len()))
            }),
            (
                format!(
                    r"urn:epc:id:ginc:([\d]{{6}}\.{C82}{{1,24}}|[\d]{{7}}\.{C82}{{1,23}}|[\d]{{8}}\.{C82}{{1,22}}|[\d]{{9}}\.{C82}{{1,21}}|[\d]{{10}}\.{C82}{{1,20}}|[\d]{{11}}\.{C82}{{1,19}}|[\d]{{12}}\.{C82}{{1,18}})$"
                ),
                |u, p| format!("https://id.gs1.org/401/{}{}", sl(u, 16, p), pct(&sl(u, p + 1, u.len()))),
            ),
            (
                r"urn:epc:id:gsin:(([\d]{6}\.[\d]{10}$)|([\d]{7}\.[\d]{9}$)|([\d]{8}\.[\d]{8}$)|([\d]{9}\.[\d]{7}$)|([\d]{10}\.[\d]{6}$)|([\d]{11}\.[\d]{5}$)|([\d]{12}\.[\d]{4}$))".into(),
                |u, p| {
                    let raw = format!("{}{}", sl(u, 16, p), sl(u, p + 1, u.len()));
                    format!("https://id.gs1.org/402/{raw}{}", check_digit(&raw))
                },
            ),
            (format!(r"urn:epc:id:itip:{P13}\.[\d]{{2}}\.[\d]{{2}}\.{C82}{{1,20}}$"), |u, p| {
                let gtin = gtin(u, 16, p);
                format!(
                    "https://id.gs1.org/8006/{gtin}{}{}{}/21/{}",
                    check_digit(&gtin),
                    sl(u, 31, 33),
                    sl(u, 34, 36),
                    pct(&sl(u, 37, u.len()))
                )
            }),
            (format!(r"urn:epc:id:upui:{P13}\.{C82}{{1,28}}$"), |u, p| {
                let gtin = gtin(u, 16, p);
                format!("https://id.gs1.org/01/{gtin}{}/235/{}", check_digit(&gtin), pct(&sl(u, 31, u.len())))
            }),
            (format!(r"urn:epc:id:pgln:{P12}$"), |u, p| {
                let company = sl(u, 16, p);
                let raw = format!("{company}{}", sl(u, p + 1, p + 1 + 12 - company.chars().count().min(12)));
                format!("https://id.gs1.org/417/{raw}{}", check_digit(&raw))
            }),
            (format!(r"urn:epc:class:lgtin:{P13}\.{C82}{{1,20}}$"), |u, p| {
                let gtin = gtin(u, 20, p);
                format!("https://id.gs1.org/01/{gtin}{}/10/{}", check_digit(&gtin), pct(&sl(u, 35, u.len())))
            }),
            (format!(r"urn:epc:idpat:sgtin:{P13}\.\*$"), |u, p| {
                let gtin = gtin(u, 20, p);
                format!("https://id.gs1.org/01/{gtin}{}", check_digit(&gtin))
            }),
            (format!(r"urn:epc:idpat:grai:{P12DD}\.\*$"), |u, p| {
                let company = sl(u, 19, p);
                let raw = format!("0{company}{}", sl(u, p + 1, p + 1 + 12 - company.chars().count().min(12)));
                format!("https://id.gs1.org/8003/{raw}{}", check_digit(&raw))
            }),
            (format!(r"urn:epc:idpat:gdti:{P12DD}\.\*$"), |u, p| {
                let company = sl(u, 19, p);
                let raw = format!("{company}{}", sl(u, p + 1, p + 1 + 12 - company.chars().count().min(12)));
                format!("https://id.gs1.org/253/{raw}{}", check_digit(&raw))
            }),
            (format!(r"urn:epc:idpat:sgcn:{P12DD}\.\*$"), |u, p| {
                let company = sl(u, 19, p);
                let raw = format!("{company}{}", sl(u, p + 1, p + 1 + 12 - company.chars().count().min(12)));
                format!("https://id.gs1.org/255/{raw}{}", check_digit(&raw))
            }),
            (
                format!(
                    r"urn:epc:idpat:cpi:((\d{{6}}\.{C39}{{1,24}})|(\d{{7}}\.{C39}{{1,23}})|(\d{{8}}\.{C39}{{1,22}})|(\d{{9}}\.{C39}{{1,21}})|(\d{{10}}\.{C39}{{1,20}})|(\d{{11}}\.{C39}{{1,19}})|(\d{{12}}\.{C39}{{1,18}}))\.\*$"
                ),
                |u, p| {
                    let sep = rfind_dot(u);
                    format!("https://id.gs1.org/8010/{}", pct(&format!("{}{}", sl(u, 18, p), sl(u, p + 1, sep))))
                },
            ),
            (format!(r"urn:epc:idpat:itip:{P13}\.[\d]{{2}}\.[\d]{{2}}\.\*$"), |u, p| {
                let gtin = gtin(u, 19, p);
                format!("https://id.gs1.org/8006/{gtin}{}{}{}", check_digit(&gtin), sl(u, 34, 36), sl(u, 37, 39))
            }),
            (format!(r"urn:epc:idpat:upui:{P13}\.\*$"), |u, p| {
                let gtin = gtin(u, 19, p);
                format!("https://id.gs1.org/01/{gtin}{}", check_digit(&gtin))
            }),
        ];
        list.into_iter().filter_map(|(pattern, build)| anchored(&pattern).map(|re| (re, build))).collect()
    })
}

/// Compiles `pattern` with Python `re.match` semantics (anchored at the start).
fn anchored(pattern: &str) -> Option<Regex> {
    Regex::new(&format!("^(?:{pattern})")).ok()
}

/// Python's `s[a:b]` on characters, clamped.
fn sl(u: &[char], a: usize, b: usize) -> String {
    let b = b.min(u.len());
    if a >= b {
        String::new()
    } else {
        u[a..b].iter().collect()
    }
}

fn rfind_dot(u: &[char]) -> usize {
    u.iter().rposition(|c| *c == '.').unwrap_or(0)
}

/// The 13 digits of a GTIN without its check digit: indicator digit, company prefix, item
/// reference, for a URI whose company prefix starts at `start` and ends at `p`.
fn gtin(u: &[char], start: usize, p: usize) -> String {
    let company = sl(u, start, p);
    let item = sl(
        u,
        p + 1,
        p + 1 + 13usize.saturating_sub(company.chars().count()),
    );
    let (indicator, rest) = item
        .char_indices()
        .nth(1)
        .map_or((item.as_str(), ""), |(i, _)| item.split_at(i));
    format!("{indicator}{company}{rest}")
}

/// Percent-encodes the characters GS1 Digital Link requires (Table 7-1) that an EPC URI may
/// carry literally.
fn pct(input: &str) -> String {
    input
        .replace('!', "%21")
        .replace('(', "%28")
        .replace(')', "%29")
        .replace('*', "%2A")
        .replace('+', "%2B")
        .replace(',', "%2C")
        .replace(':', "%3A")
}

/// The GS1 check digit (GS1 General Specifications 7.9.1) of a key written without it.
pub fn check_digit(key: &str) -> u32 {
    let digits: Vec<u32> = key
        .chars()
        .rev()
        .map(|c| c.to_digit(10).unwrap_or(0))
        .collect();
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d })
        .sum();
    sum.div_ceil(10) * 10 - sum
}

struct DlPatterns {
    any_dl: Regex,
    canonical: Regex,
    gtin14: Regex,
    gtin13: Regex,
    gtin12: Regex,
    gtin8: Regex,
    cpv_8006: Regex,
    cpv_01: Regex,
    cpv_8006_more: Regex,
    cpv_01_more: Regex,
    lot_serial_8006: Regex,
    lot_serial_01: Regex,
    valid: Vec<Regex>,
}

fn dl_patterns() -> Option<&'static DlPatterns> {
    static PATTERNS: OnceLock<Option<DlPatterns>> = OnceLock::new();
    PATTERNS
        .get_or_init(|| {
            let v = |p: &str| anchored(p);
            Some(DlPatterns {
                any_dl: v(r"https?:(//((([^/?#]*)@)?([^/?#:]*)(:([^/?#]*))?))?((([^?#]*)(/(01|gtin|8006|itip|8010|cpid|414|gln|417|party|8017|gsrnp|8018|gsrn|255|gcn|00|sscc|253|gdti|401|ginc|402|gsin|8003|grai|8004|giai)/)(\d{4}[^/]+)(/[^/]+/[^/]+)?[/]?(\?([^?\n]*))?(#([^\n]*))?)|(/[A-Za-z_-]{10}$))")?,
                canonical: v(r"https://id.gs1.org/(01|8006|8010|414|417|8017|8018|255|00|253|401|402|8003|8004)/(\d{4}[^/]+)(/[^/]+/[^/]+)?[/]?(\?([^?\n]*))?(#([^\n]*))?|(/[A-Za-z_-]{10}$)")?,
                gtin14: v(r"https://id.gs1.org/01/\d{14}")?,
                gtin13: v(r"https://id.gs1.org/01/\d{13}")?,
                gtin12: v(r"https://id.gs1.org/01/\d{12}")?,
                gtin8: v(r"https://id.gs1.org/01/\d{8}")?,
                cpv_8006: v(&format!(r"https://id.gs1.org/8006/\d{{18}}/22/({DLV}{{0,20}})$"))?,
                cpv_01: v(&format!(r"https://id.gs1.org/01/\d{{14}}/22/({DLV}{{0,20}})$"))?,
                cpv_8006_more: v(r"https://id.gs1.org/8006/\d{18}/22/([\x2F\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]{0,20})$")?,
                cpv_01_more: v(r"https://id.gs1.org/01/\d{14}/22/([\x2F\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]{0,20})$")?,
                lot_serial_8006: v(&format!(r"https://id.gs1.org/8006/\d{{18}}/10/({DLV}{{0,20}})/21/({DLV}{{0,20}})$"))?,
                lot_serial_01: v(&format!(r"https://id.gs1.org/01/(\d{{14}})/10/({DLV}{{0,20}})/21/({DLV}{{0,20}})$"))?,
                valid: [
                    r"https://id.gs1.org/00/(\d{18})$".to_owned(),
                    format!(r"https://id.gs1.org/01/(\d{{14}})/21/({DLV}{{0,20}})$"),
                    format!(r"https://id.gs1.org/01/(\d{{14}})/10/({DLV}{{0,20}})$"),
                    r"https://id.gs1.org/01/(\d{14})$".to_owned(),
                    format!(r"https://id.gs1.org/01/(\d{{14}})/235/({DLV}{{0,28}})$"),
                    format!(r"https://id.gs1.org/253/(\d{{13}})({DLV}{{0,17}})$"),
                    r"https://id.gs1.org/255/(\d{13})(\d{0,12})$".to_owned(),
                    format!(r"https://id.gs1.org/401/({DLV}{{0,30}})$"),
                    r"https://id.gs1.org/402/(\d{17})$".to_owned(),
                    r"https://id.gs1.org/414/(\d{13})$".to_owned(),
                    format!(r"https://id.gs1.org/414/(\d{{13}})/254/({DLV}{{0,20}})$"),
                    r"https://id.gs1.org/417/(\d{13})$".to_owned(),
                    format!(r"https://id.gs1.org/8003/(\d{{14}})({DLV}{{0,16}})$"),
                    format!(r"https://id.gs1.org/8004/({DLV}{{0,30}})$"),
                    format!(r"https://id.gs1.org/8006/(\d{{18}})/21/({DLV}{{0,20}})$"),
                    format!(r"https://id.gs1.org/8006/(\d{{18}})/10/({DLV}{{0,20}})$"),
                    r"https://id.gs1.org/8006/(\d{18})$".to_owned(),
                    r"https://id.gs1.org/8010/([\x23\x2D\x2F\x30-\x39\x41-\x5A]{0,30})/8011/(\d{0,12})$".to_owned(),
                    r"https://id.gs1.org/8010/([\x23\x2D\x2F\x30-\x39\x41-\x5A]{0,30})$".to_owned(),
                    r"https://id.gs1.org/8017/(\d{18})$".to_owned(),
                    r"https://id.gs1.org/8018/(\d{18})$".to_owned(),
                ]
                .iter()
                .map(|p| v(p))
                .collect::<Option<Vec<_>>>()?,
            })
        })
        .as_ref()
}

/// Python's `s.find(needle)` on characters, as a char index.
fn find(s: &str, needle: &str) -> Option<usize> {
    s.find(needle).map(|b| s[..b].chars().count())
}

fn from_char(s: &str, start: usize) -> String {
    s.chars().skip(start).collect()
}

fn upto_char(s: &str, end: usize) -> String {
    s.chars().take(end).collect()
}

/// The canonical GS1 Digital Link URI of `uri`, or `None` when it conveys no GS1 key.
pub fn normalise(uri: &str) -> Option<String> {
    let chars: Vec<char> = uri.chars().collect();
    let partition = chars.iter().position(|c| *c == '.')?;
    for (re, build) in rules() {
        if re.is_match(uri) {
            return Some(build(&chars, partition));
        }
    }
    let p = dl_patterns()?;
    if !p.any_dl.is_match(uri) {
        return None;
    }
    let mut uri = match find(uri, "?") {
        Some(q) => upto_char(uri, q),
        None => uri.to_owned(),
    };
    for (short, ai) in [
        ("/gtin/", "/01/"),
        ("/itip/", "/8006/"),
        ("/cpid/", "/8010/"),
        ("/gln/", "/414/"),
        ("/party/", "/417/"),
        ("/gsrnp/", "/8017/"),
        ("/gsrn/", "/8018/"),
        ("/gcn/", "/255/"),
        ("/sscc/", "/00/"),
        ("/gdti/", "/253/"),
        ("/ginc/", "/401/"),
        ("/gsin/", "/402/"),
        ("/grai/", "/8003/"),
        ("/giai/", "/8004/"),
        ("/cpv/", "/22/"),
        ("/lot/", "/10/"),
        ("/ser/", "/21/"),
    ] {
        uri = uri.replace(short, ai);
    }
    if !p.canonical.is_match(&uri) {
        for key in [
            "/00/", "/01/", "/253/", "/255/", "/401/", "/402/", "/414/", "/417/", "/8003/",
            "/8004/", "/8006/", "/8010/", "/8017/", "/8018/",
        ] {
            if let Some(at) = find(&uri, key) {
                uri = format!("https://id.gs1.org{}", from_char(&uri, at));
                break;
            }
        }
    }
    if !p.gtin14.is_match(&uri) {
        if p.gtin13.is_match(&uri) {
            uri = uri.replace("/01/", "/01/0");
        } else if p.gtin12.is_match(&uri) {
            uri = uri.replace("/01/", "/01/00");
        } else if p.gtin8.is_match(&uri) {
            uri = uri.replace("/01/", "/01/000000");
        }
    }
    // Python: x = uri[(uri.find('/22/') + 4):], with find() = -1 when absent.
    let x_start = find(&uri, "/22/").map_or(3, |i| i + 4);
    let x = from_char(&uri, x_start);
    let x_slash = find(&x, "/");
    if p.cpv_8006.is_match(&uri) || p.cpv_01.is_match(&uri) {
        // uri[:find('/22/')] + x[x.find('/'):-1]
        let head = upto_char(&uri, find(&uri, "/22/").unwrap_or(0));
        let xs: Vec<char> = x.chars().collect();
        let from = x_slash.unwrap_or(xs.len().saturating_sub(1));
        let tail = sl(&xs, from, xs.len().saturating_sub(1));
        uri = format!("{head}{tail}");
    }
    let x = from_char(&uri, find(&uri, "/22/").map_or(3, |i| i + 4));
    if p.cpv_8006_more.is_match(&uri) || p.cpv_01_more.is_match(&uri) {
        let head = upto_char(&uri, find(&uri, "/22/").unwrap_or(0));
        let xs: Vec<char> = x.chars().collect();
        let from = find(&x, "/").unwrap_or(xs.len().saturating_sub(1));
        uri = format!("{head}{}", sl(&xs, from, xs.len()));
    }
    if p.lot_serial_8006.is_match(&uri) || p.lot_serial_01.is_match(&uri) {
        let at = find(&uri, "/10/").unwrap_or(0);
        let y = from_char(&uri, at + 4);
        let ys: Vec<char> = y.chars().collect();
        let from = find(&y, "/").unwrap_or(ys.len().saturating_sub(1));
        uri = format!("{}{}", upto_char(&uri, at), sl(&ys, from, ys.len()));
    }
    if p.valid.iter().any(|re| re.is_match(&uri)) {
        Some(uri)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epc_uris_become_canonical_digital_links() {
        let cases = [
            (
                "urn:epc:id:sscc:4012345.0000000333",
                "https://id.gs1.org/00/040123450000003338",
            ),
            (
                "urn:epc:id:sgtin:4012345.011111.9876",
                "https://id.gs1.org/01/04012345111118/21/9876",
            ),
            (
                "urn:epc:id:sgln:4012345.00011.987",
                "https://id.gs1.org/414/4012345000115/254/987",
            ),
            (
                "urn:epc:id:sgln:4012345.00005.0",
                "https://id.gs1.org/414/4012345000054",
            ),
            (
                "urn:epc:id:giai:4000001.111",
                "https://id.gs1.org/8004/4000001111",
            ),
            (
                "urn:epc:id:gdti:4012345.11111.123",
                "https://id.gs1.org/253/4012345111118123",
            ),
            (
                "urn:epc:id:pgln:4012345.00000",
                "https://id.gs1.org/417/4012345000009",
            ),
            (
                "urn:epc:class:lgtin:4054739.099914.20160711",
                "https://id.gs1.org/01/04054739999148/10/20160711",
            ),
            (
                "urn:epc:idpat:sgtin:4012345.066666.*",
                "https://id.gs1.org/01/04012345666663",
            ),
            (
                "https://id.gs1.org/8004/4000001111",
                "https://id.gs1.org/8004/4000001111",
            ),
            (
                "https://example.com/gtin/9520123456788/ser/12345?17=280901",
                "https://id.gs1.org/01/09520123456788/21/12345",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(normalise(input).as_deref(), Some(expected), "{input}");
        }
    }

    #[test]
    fn other_uris_are_left_alone() {
        for uri in [
            "https://custody.example/id/lot/KV-ORE-0001",
            "https://custody.example/voc/extraction",
            "urn:epcglobal:cbv:bt:5200001000008:4711",
            "http://epcis.example.com/user/vocab/bizstep/exampling",
            "no-dot-here",
        ] {
            assert_eq!(normalise(uri), None, "{uri}");
        }
    }
}
