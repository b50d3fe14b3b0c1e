//! The hashes of a saved plan: the document's own (so that an edited file is refused) and
//! the salted hashes of facts and `--var` values (so that no secret can be read back).

use std::collections::BTreeMap;

use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::facts::Facts;
use crate::mask::Masker;

use super::model::{FactsHash, PlanFile};

/// `sha256:HEX` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// `sha256:HEX` of the plan id, a label and a value, each length-prefixed so that no
/// two different triples hash alike. The plan id is a per-plan salt: a value hashed in
/// one plan cannot be looked up in a table made for another.
pub fn salted(plan_id: &str, label: &str, value: &str) -> String {
    let mut h = Sha256::new();
    for part in [plan_id, label, value] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    format!("sha256:{:x}", h.finalize())
}

/// The hashes of what a probe read, each value masked first: a fact that holds a secret
/// hashes as if the secret were `***`, so its hash says nothing of the secret.
pub fn facts_hash(plan_id: &str, masker: &Masker, facts: &Facts) -> FactsHash {
    let keys: BTreeMap<String, String> = facts
        .values
        .iter()
        .map(|(k, values)| {
            let masked: Vec<String> = values.iter().map(|v| masker.text(v)).collect();
            (k.clone(), salted(plan_id, k, &masked.join("\n")))
        })
        .collect();
    FactsHash {
        status: salted(plan_id, "$status", &facts.status.to_string()),
        keys,
    }
}

/// The document's integrity hash: SHA-256 of its canonical JSON (keys sorted, no
/// spaces) with `integrity` left out. It is computed on the JSON as read, not on the
/// typed plan, so that a field added by hand is caught too.
pub fn integrity(doc: &Json) -> String {
    let mut doc = doc.clone();
    if let Json::Object(m) = &mut doc {
        m.remove("integrity");
    }
    let mut out = String::new();
    canonical(&doc, &mut out);
    sha256(out.as_bytes())
}

/// [`integrity`] of a plan about to be written.
pub fn integrity_of(plan: &PlanFile) -> String {
    integrity(&serde_json::to_value(plan).unwrap_or(Json::Null))
}

/// `value` as JSON with every object's keys in sorted order, whatever map type
/// serde_json was built with.
fn canonical(value: &Json, out: &mut String) {
    match value {
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Json::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Json::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_in_a_fact_does_not_reach_its_hash() {
        let masker = Masker::new(vec!["hunter2".into()]);
        let with = Facts::parse(".line token=hunter2\n", 0);
        let other = Facts::parse(".line token=***\n", 0);
        assert_eq!(
            facts_hash("id", &masker, &with),
            facts_hash("id", &masker, &other)
        );
        assert_ne!(
            facts_hash("id", &masker, &with),
            facts_hash("other id", &masker, &with)
        );
    }

    #[test]
    fn salted_parts_do_not_run_together() {
        assert_ne!(salted("a", "bc", ""), salted("a", "b", "c"));
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let mut out = String::new();
        canonical(
            &serde_json::json!({"b": [1, {"d": 1, "c": null}], "a": "x"}),
            &mut out,
        );
        assert_eq!(out, r#"{"a":"x","b":[1,{"c":null,"d":1}]}"#);
    }
}
