//! The JSON Schema (draft 2020-12) of supplier input: what `custody sign` reads, one event
//! per schema instance. `docs/input.md` is the prose version of the same rules.
//!
//! The schema is derived from the input types of [`crate::input`] (their fields, types and
//! doc comments), so it follows the parser when a field changes. It is a discriminated union
//! over `kind`: one `oneOf` branch per event kind, each listing the common fields and the
//! kind's own, and no others (`additionalProperties: false`).
//!
//! The schema accepts everything the parser accepts. It cannot state every rule the parser
//! applies; those it cannot are in the descriptions:
//!
//! - decimal places (3 for kg, 6 for content fractions and coordinates) and numbers written
//!   with an exponent: JSON Schema sees numbers, not how they were written, and `multipleOf`
//!   is checked in floating point by most validators;
//! - rules across fields or events: content fractions of a kg lot add up to at most 1, a
//!   lot appears once per list, `to` is not the actor, `valid_until` is not before `time`,
//!   dates exist (no February 30), links point to the right events.

use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use crate::event::{Kind, limits};
use crate::input::{
    AddKeyIn, AmendIn, AttestIn, CommonIn, EnrollIn, ExtractIn, ReceiveIn, RecycleIn, RequestKeyIn,
    RevokeIn, ShipIn, TransformIn,
};
use crate::quantity::{MAX_GRAMS, MAX_MG_PER_PIECE, PPM};

/// Builds the schema of one kind's own fields.
type BodySchema = fn(&mut SchemaGenerator) -> Schema;

/// The JSON Schema of one supplier event, as `custody schema input` prints it.
///
/// ```
/// let schema = ledger_core::schema::input_schema();
/// assert_eq!(schema["oneOf"].as_array().map(Vec::len), Some(11));
/// assert_eq!(schema["oneOf"][2]["properties"]["kind"]["const"], "extract");
/// ```
pub fn input_schema() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let common = CommonIn::json_schema(&mut generator);
    let bodies: [(Kind, BodySchema); 11] = [
        (Kind::Enroll, EnrollIn::json_schema),
        (Kind::Revoke, RevokeIn::json_schema),
        (Kind::Extract, ExtractIn::json_schema),
        (Kind::Recycle, RecycleIn::json_schema),
        (Kind::Ship, ShipIn::json_schema),
        (Kind::Receive, ReceiveIn::json_schema),
        (Kind::Transform, TransformIn::json_schema),
        (Kind::Attest, AttestIn::json_schema),
        (Kind::Amend, AmendIn::json_schema),
        (Kind::RequestKey, RequestKeyIn::json_schema),
        (Kind::AddKey, AddKeyIn::json_schema),
    ];
    let kinds: Vec<&str> = bodies.iter().map(|(kind, _)| kind.name()).collect();
    let branches: Vec<Value> = bodies
        .iter()
        .map(|(kind, body)| branch(*kind, &common, body(&mut generator)))
        .collect();
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Custody supplier event",
        "description": "One custody event as a supplier writes it before `custody sign`: one \
            object per event; a file holds one object, an array of them, or one per line. \
            Numbers are exact decimals: quantities in kg have at most 3 decimals, content \
            fractions and coordinates at most 6, pieces are whole, and no number may use an \
            exponent. See docs/input.md.",
        "type": "object",
        "required": ["kind", "actor", "time"],
        "properties": {
            "kind": {"description": "The event kind.", "enum": kinds},
        },
        "oneOf": branches,
        "$defs": generator.take_definitions(true),
    });
    unwrap_descriptions(&mut schema);
    schema
}

/// Joins the lines of every `description` (doc comments wrap at 100 columns) into one,
/// keeping blank-line paragraph breaks.
fn unwrap_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                match item {
                    Value::String(text) if key == "description" => {
                        *text = text
                            .split("\n\n")
                            .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
                            .collect::<Vec<_>>()
                            .join("\n\n");
                    }
                    _ => unwrap_descriptions(item),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// One `oneOf` branch: `kind` fixed to `kind`, then the common fields, then the body's.
fn branch(kind: Kind, common: &Schema, body: Schema) -> Value {
    let mut branch = match body.to_value() {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut properties = Map::new();
    properties.insert(
        "kind".into(),
        json!({ "const": kind.name(), "description": "The event kind." }),
    );
    let mut required = vec![Value::from("kind")];
    for schema in [common.as_value(), &Value::Object(branch.clone())] {
        if let Some(Value::Object(props)) = schema.get("properties") {
            for (name, property) in props.iter().filter(|(name, _)| *name != "kind") {
                properties.insert(name.clone(), property.clone());
            }
        }
        if let Some(Value::Array(names)) = schema.get("required") {
            required.extend(names.iter().filter(|n| *n != "kind").cloned());
        }
    }
    branch.insert("title".into(), kind.name().into());
    branch.insert("type".into(), "object".into());
    branch.insert("properties".into(), Value::Object(properties));
    branch.insert("required".into(), Value::Array(required));
    branch.insert("additionalProperties".into(), false.into());
    Value::Object(branch)
}

/// Adds `rules` to `schema`'s `allOf`.
fn all_of(schema: &mut Schema, rules: Value) {
    let Value::Array(mut rules) = rules else {
        return;
    };
    if let Some(Value::Array(existing)) = schema.get_mut("allOf") {
        existing.append(&mut rules);
    } else {
        schema.insert("allOf".into(), Value::Array(rules));
    }
}

/// `if unit is u then ...` for a schema with a `unit` property.
fn if_unit(unit: &str, then: Value) -> Value {
    json!({
        "if": {"properties": {"unit": {"const": unit}}, "required": ["unit"]},
        "then": then,
    })
}

/// The limits of a lot output that depend on its unit: whole pieces, content at most 1 (a
/// mass fraction) or 1000 kg per piece, capacity only on pieces.
pub(crate) fn output_rules(schema: &mut Schema) {
    all_of(
        schema,
        json!([
            if_unit(
                "pcs",
                json!({"properties": {
                    "quantity": {"type": "integer"},
                    "content": {"additionalProperties": {"maximum": MAX_MG_PER_PIECE / 1_000_000}},
                }})
            ),
            if_unit(
                "kg",
                json!({"properties": {
                    "quantity": {"maximum": MAX_GRAMS / 1000},
                    "content": {"additionalProperties": {"maximum": PPM / 1_000_000}},
                    "capacity_kwh": {"type": "null"},
                }})
            ),
        ]),
    );
}

/// The limits of a moved or received quantity whose unit is given.
pub(crate) fn quantity_rules(schema: &mut Schema) {
    all_of(
        schema,
        json!([
            if_unit(
                "pcs",
                json!({"properties": {"quantity": {"type": "integer"}}})
            ),
            if_unit(
                "kg",
                json!({"properties": {"quantity": {"maximum": MAX_GRAMS / 1000}}})
            ),
        ]),
    );
}

/// A lot's content: components by name (the component pattern the map's key type gives,
/// applied to every name), each a positive number, at most 32.
pub(crate) fn content_rules(schema: &mut Schema) {
    if let Some(Value::Object(patterns)) = schema.remove("patternProperties")
        && let Some(pattern) = patterns.keys().next()
    {
        schema.insert("propertyNames".into(), json!({ "pattern": pattern }));
    }
    schema.insert("maxProperties".into(), limits::MAX_COMPONENTS.into());
    schema.insert(
        "additionalProperties".into(),
        json!({"type": "number", "exclusiveMinimum": 0, "maximum": MAX_MG_PER_PIECE / 1_000_000}),
    );
}

/// An attestation's subject: exactly one of `party` and `lot` is given (and not null).
pub(crate) fn exactly_one_of_party_and_lot(schema: &mut Schema) {
    schema.insert(
        "oneOf".into(),
        json!([
            {"required": ["party"], "properties": {"party": {"type": "string"}}},
            {"required": ["lot"], "properties": {"lot": {"type": "string"}}},
        ]),
    );
}

/// The fields each claim needs or refuses.
pub(crate) fn claim_rules(schema: &mut Schema) {
    let claim =
        |name: &str| json!({"properties": {"claim": {"const": name}}, "required": ["claim"]});
    let given = |fields: &[&str]| {
        let properties: Map<String, Value> = fields
            .iter()
            .map(|f| ((*f).to_owned(), json!({"type": "string"})))
            .collect();
        json!({"required": fields, "properties": properties})
    };
    all_of(
        schema,
        json!([
            {"if": claim("onsite-audit"), "then": given(&["result"])},
            {"if": claim("cap-opened"), "then": given(&["reference", "severity"]),
             "else": {"properties": {"severity": {"type": "null"}}}},
            {"if": claim("cap-closed"), "then": given(&["reference"])},
        ]),
    );
}
