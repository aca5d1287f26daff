//! The OpenAPI 3.1 description of the API, served at `/openapi.json`.

use serde_json::{Value, json};

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
    })
}

fn json_ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn lot_param() -> Value {
    json!({ "name": "lot", "in": "path", "required": true, "schema": { "type": "string" } })
}

/// The document.
pub fn document() -> Value {
    let object = json!({ "type": "object" });
    let receipts = json!({ "$ref": "#/components/schemas/Receipts" });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Custody ledger API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Submit signed custody statements, read checkpoints, tlog-tiles, entries, proofs and lot evidence. See docs/api.md."
        },
        "paths": {
            "/v1/statements": { "post": {
                "summary": "Submit one signed statement or an array of them (all or nothing)",
                "operationId": "submitStatements",
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "oneOf": [
                    { "$ref": "#/components/schemas/SignedStatement" },
                    { "type": "array", "minItems": 1, "items": { "$ref": "#/components/schemas/SignedStatement" } }
                ] } } } },
                "responses": {
                    "201": json_ok("appended and durable; receipts proved against the signed checkpoint", receipts.clone()),
                    "409": json_ok("every statement is already in the log; their receipts", receipts),
                    "400": problem("malformed: `field` names the JSON path"),
                    "408": { "description": "the request took longer than the request timeout" },
                    "413": { "description": "the body is over the limit" },
                    "415": problem("not application/json"),
                    "422": problem("refused by the rules: `findings` lists each (statement, code, message)"),
                    "503": problem("overloaded or unavailable; see Retry-After")
                }
            } },
            "/checkpoint": { "get": {
                "summary": "The latest signed checkpoint (C2SP tlog-checkpoint signed note)",
                "operationId": "checkpoint",
                "responses": {
                    "200": { "description": "the note", "content": { "text/plain": { "schema": { "type": "string" } } } },
                    "404": problem("no checkpoint yet")
                }
            } },
            "/v1/checkpoint": { "get": {
                "summary": "The latest signed checkpoint as JSON",
                "operationId": "checkpointJson",
                "responses": { "200": json_ok("origin, size, root and note", object.clone()) }
            } },
            "/tile/{path}": { "get": {
                "summary": "C2SP tlog-tiles: a Merkle tile tile/<L>/<N>[.p/<W>] or an entry bundle tile/entries/<N>[.p/<W>]",
                "operationId": "tile",
                "parameters": [ { "name": "path", "in": "path", "required": true, "schema": { "type": "string" } } ],
                "responses": {
                    "200": { "description": "the tile", "content": { "application/octet-stream": { "schema": { "type": "string", "contentMediaType": "application/octet-stream" } } } },
                    "404": problem("not a tile path, or beyond the log")
                }
            } },
            "/v1/entries/{seq}": { "get": {
                "summary": "One entry by log position",
                "operationId": "entryBySeq",
                "parameters": [ { "name": "seq", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 0 } } ],
                "responses": { "200": json_ok("the entry", json!({ "$ref": "#/components/schemas/Entry" })), "404": problem("no such entry") }
            } },
            "/v1/events/{id}": { "get": {
                "summary": "One entry by event id",
                "operationId": "entryById",
                "parameters": [ { "name": "id", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[0-9a-f]{64}$" } } ],
                "responses": { "200": json_ok("the entry", json!({ "$ref": "#/components/schemas/Entry" })), "404": problem("no such event") }
            } },
            "/v1/proofs/inclusion": { "get": {
                "summary": "RFC 9162 inclusion proof of entry seq in the tree of size (default: the log)",
                "operationId": "inclusionProof",
                "parameters": [
                    { "name": "seq", "in": "query", "required": true, "schema": { "type": "integer", "minimum": 0 } },
                    { "name": "size", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1 } }
                ],
                "responses": { "200": json_ok("leaf_index, tree_size, leaf_hash, root, path", object.clone()), "400": problem("bad sizes") }
            } },
            "/v1/proofs/consistency": { "get": {
                "summary": "RFC 9162 consistency proof from size `from` to `to` (default: the log)",
                "operationId": "consistencyProof",
                "parameters": [
                    { "name": "from", "in": "query", "required": true, "schema": { "type": "integer", "minimum": 0 } },
                    { "name": "to", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 0 } }
                ],
                "responses": { "200": json_ok("first, second, first_root, second_root, path", object.clone()), "400": problem("bad sizes") }
            } },
            "/v1/lots/{lot}/trace": { "get": {
                "summary": "A lot's provenance (as custody trace --json)",
                "operationId": "trace",
                "parameters": [ lot_param() ],
                "responses": { "200": json_ok("the trace", object.clone()), "404": problem("unknown lot") }
            } },
            "/v1/lots/{lot}/verify": {
                "get": {
                    "summary": "Verify a lot under the built-in policy (as custody verify --lot --json)",
                    "operationId": "verifyLot",
                    "parameters": [ lot_param() ],
                    "responses": { "200": json_ok("the report (verdict and findings)", object.clone()), "404": problem("unknown lot") }
                },
                "post": {
                    "summary": "Verify a lot under the policy in the body (TOML, or JSON with Content-Type application/json)",
                    "operationId": "verifyLotWithPolicy",
                    "parameters": [ lot_param() ],
                    "requestBody": { "content": {
                        "application/toml": { "schema": { "type": "string" } },
                        "application/json": { "schema": { "type": "object" } }
                    } },
                    "responses": { "200": json_ok("the report", object.clone()), "400": problem("bad policy"), "404": problem("unknown lot") }
                }
            },
            "/v1/lots/{lot}/bundle": { "get": {
                "summary": "The lot's evidence bundle (as custody export-bundle)",
                "operationId": "bundle",
                "parameters": [ lot_param() ],
                "responses": {
                    "200": { "description": "the bundle file", "content": { "application/octet-stream": { "schema": { "type": "string", "contentMediaType": "application/octet-stream" } } } },
                    "404": problem("unknown lot")
                }
            } },
            "/v1/lots/{lot}/report": {
                "get": {
                    "summary": "The lot's compliance report; format json, csv, html, dot, epcis or passport",
                    "operationId": "report",
                    "parameters": [ lot_param(), { "name": "format", "in": "query", "required": false, "schema": { "type": "string", "enum": ["json", "csv", "html", "dot", "epcis", "passport"] } } ],
                    "responses": { "200": { "description": "the report; Custody-Verdict says pass or fail" }, "404": problem("unknown lot") }
                },
                "post": {
                    "summary": "The lot's report under the policy in the body",
                    "operationId": "reportWithPolicy",
                    "parameters": [ lot_param(), { "name": "format", "in": "query", "required": false, "schema": { "type": "string" } } ],
                    "requestBody": { "content": { "application/toml": { "schema": { "type": "string" } } } },
                    "responses": { "200": { "description": "the report" }, "400": problem("bad policy") }
                }
            },
            "/v1/parties": { "get": {
                "summary": "Every enrolled party with its roles and keys",
                "operationId": "parties",
                "responses": { "200": json_ok("the parties", object.clone()) }
            } },
            "/healthz": { "get": {
                "summary": "Liveness: the store answers",
                "operationId": "healthz",
                "responses": { "200": json_ok("status, size, checkpoint_size", object.clone()) }
            } },
            "/metrics": { "get": {
                "summary": "Prometheus metrics",
                "operationId": "metrics",
                "responses": { "200": { "description": "text format 0.0.4", "content": { "text/plain": { "schema": { "type": "string" } } } } }
            } },
            "/openapi.json": { "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": { "200": json_ok("OpenAPI 3.1", object) }
            } }
        },
        "components": { "schemas": {
            "Problem": {
                "type": "object",
                "description": "RFC 9457 problem details",
                "required": ["type", "title", "status", "detail"],
                "properties": {
                    "type": { "type": "string" },
                    "title": { "type": "string" },
                    "status": { "type": "integer" },
                    "detail": { "type": "string" },
                    "field": { "type": "string", "description": "400: the JSON path of the bad value" },
                    "findings": { "type": "array", "items": { "$ref": "#/components/schemas/Finding" } }
                }
            },
            "Finding": {
                "type": "object",
                "required": ["statement", "code", "message"],
                "properties": {
                    "statement": { "type": "integer", "minimum": 1, "description": "1-based index in the request" },
                    "code": { "type": "string", "examples": ["CUS-BAL-001"] },
                    "message": { "type": "string" },
                    "event": { "type": ["string", "null"] },
                    "seq": { "type": ["integer", "null"] },
                    "party": { "type": ["string", "null"] },
                    "lot": { "type": ["string", "null"] }
                }
            },
            "SignedStatement": {
                "type": "object",
                "description": "As custody sign prints it",
                "required": ["id", "event", "signer", "signature"],
                "properties": {
                    "id": { "type": "string" },
                    "event": { "type": "object" },
                    "signer": { "type": "string" },
                    "signature": { "type": "string" }
                }
            },
            "Receipt": {
                "type": "object",
                "required": ["id", "seq", "leaf_hash", "tree_size", "root", "inclusion_path"],
                "properties": {
                    "id": { "type": "string" },
                    "seq": { "type": "integer" },
                    "leaf_hash": { "type": "string" },
                    "tree_size": { "type": "integer" },
                    "root": { "type": "string" },
                    "inclusion_path": { "type": "array", "items": { "type": "string" } }
                }
            },
            "Receipts": {
                "type": "object",
                "required": ["receipts", "checkpoint"],
                "properties": {
                    "receipts": { "type": "array", "items": { "$ref": "#/components/schemas/Receipt" } },
                    "checkpoint": { "type": "string", "description": "the signed checkpoint note every proof leads to" },
                    "detail": { "type": "string" }
                }
            },
            "Entry": {
                "type": "object",
                "properties": {
                    "seq": { "type": "integer" },
                    "prev": { "type": "string" },
                    "recorded_at": { "type": "string" },
                    "entry_hash": { "type": "string" },
                    "statement": { "$ref": "#/components/schemas/SignedStatement" },
                    "entry_hex": { "type": "string" }
                }
            }
        } }
    })
}
