//! The JSON Schema of pipeline files (`kasane schema`), for editors. Step parameters come from
//! the same table the checker uses, so the two cannot disagree.

use serde_json::{json, Map, Value};

use super::parse::default_param;
use super::Param;
use crate::options::{self, ParamKind};

pub fn schema() -> Value {
    let mut params = Map::new();
    let mut seen = std::collections::BTreeSet::new();
    // Coverage, sv, call: where kinds share a parameter, the first one's help is shown.
    let all = options::params(options::coverage::OPTIONS)
        .chain(options::params(options::sv::OPTIONS))
        .chain(options::params(options::call::OPTIONS))
        .chain(options::params(options::qc::OPTIONS))
        .chain(options::params(options::eval::OPTIONS));
    for d in all.filter(|d| seen.insert(d.name)) {
        let Some(p) = d.param else { continue };
        let mut s = match p.kind {
            ParamKind::Bool => json!({ "type": "boolean" }),
            ParamKind::Int => json!({ "type": "integer" }),
            ParamKind::Str | ParamKind::Path => json!({ "type": "string" }),
            ParamKind::BedOrWindow => json!({ "type": ["string", "integer"] }),
            ParamKind::IntList => json!({
                "oneOf": [
                    { "type": "array", "items": { "type": "integer", "minimum": 0 } },
                    { "type": "string", "pattern": "^[0-9]+(,[0-9]+)*$" }
                ]
            }),
        };
        s["description"] = json!(p.help);
        if let Some(v) = default_param(d) {
            s["default"] = match v {
                Param::Bool(b) => json!(b),
                Param::Int(n) => json!(n),
                Param::Str(v) => json!(v),
                Param::List(l) => json!(l),
            };
        }
        params.insert(d.name.to_string(), s);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://kasane.invalid/pipeline.schema.json",
        "title": "kasane pipeline file",
        "description": "A whole analysis for `kasane run`: reference, samples, regions, engine settings and steps. Paths are relative to the file.",
        "type": "object",
        "additionalProperties": false,
        "required": ["steps"],
        "properties": {
            "name": { "type": "string", "description": "A name for logs and run.json." },
            "reference": { "type": "string", "description": "Reference FASTA (with .fai); needed for CRAM." },
            "output": { "type": "string", "description": "Output folder (`kasane run -o DIR` overrides it)." },
            "regions": { "type": "string", "description": "BED file of regions; steps use it with by = \"regions\"." },
            "sample_sheet": { "type": "string", "description": "Tab-separated samples with a header: id, path, and metadata columns." },
            "engine": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "backend": { "enum": ["auto", "cuda", "wgpu", "cpu"], "default": "auto" },
                    "threads": { "type": "integer", "minimum": 0, "default": 0, "description": "0: every core." }
                }
            },
            "samples": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["id", "path"],
                    "properties": {
                        "id": { "type": "string", "pattern": "^[^./\\\\][^/\\\\]*$" },
                        "path": { "type": "string", "description": "BAM or CRAM, sorted by coordinate." },
                        "meta": { "type": "object", "additionalProperties": { "type": ["string", "number", "boolean"] } }
                    }
                }
            },
            "steps": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["id", "kind"],
                    "properties": {
                        "id": { "type": "string" },
                        "kind": { "enum": ["coverage", "sv", "call", "qc", "eval"], "description": "coverage, sv, call, qc or eval: the kasane command the step runs." },
                        "depends_on": { "type": "array", "items": { "type": "string" } },
                        "params": {
                            "type": "object",
                            "additionalProperties": false,
                            "description": "The kind's CLI options by long name, with the CLI's defaults (coverage: mosdepth's; sv: tandem_repeats, min_svlen, min_mapq, min_support, mosaic; call: min_mapq, min_base_qual, read_type).",
                            "properties": params
                        }
                    }
                }
            }
        }
    })
}
