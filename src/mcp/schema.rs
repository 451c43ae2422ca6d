//! The input schemas sent in `tools/list`, trimmed to what an agent needs.
//!
//! An agent pays for every byte of the tool list on every turn, so the
//! schema rmcp derives from a parameter struct is cut down here: no
//! `$schema` URL, no integer `format` or `minimum: 0`, and no `null` in the
//! type of an optional parameter (leaving it out is how it is omitted).
//! Deserializing the arguments is unchanged; only the description shrinks.

use std::sync::Arc;

use rmcp::handler::server::common::schema_for_input;
use rmcp::model::JsonObject;
use rmcp::schemars::JsonSchema;
use serde_json::Value;

/// The trimmed input schema of the parameter struct `T`.
pub(super) fn input_schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let derived = schema_for_input::<T>().expect("every parameter struct derives an object schema");
    let mut schema = (*derived).clone();
    schema.remove("$schema");
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        properties
            .values_mut()
            .filter_map(Value::as_object_mut)
            .for_each(trim_property);
    }
    Arc::new(schema)
}

/// `value`, or the JSON object or array it holds when it is a string of
/// one: models often send an object parameter as its JSON text, and the
/// text is unambiguous. Any other string is left for the queue to judge.
pub(super) fn object_from_text(value: Value) -> Value {
    match &value {
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(parsed @ (Value::Object(_) | Value::Array(_))) => parsed,
            _ => value,
        },
        _ => value,
    }
}

fn trim_property(property: &mut JsonObject) {
    property.remove("format");
    if property.get("additionalProperties") == Some(&Value::Bool(true)) {
        property.remove("additionalProperties");
    }
    if property.get("minimum") == Some(&Value::from(0)) {
        property.remove("minimum");
    }
    if let Some(Value::Array(types)) = property.get("type") {
        let types: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        if let [only] = types.as_slice() {
            property.insert("type".to_owned(), only.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parameters of a made-up tool.
    #[derive(serde::Deserialize, JsonSchema)]
    #[schemars(crate = "rmcp::schemars")]
    #[allow(dead_code)]
    struct Params {
        /// Required.
        name: String,
        /// Optional number.
        count: Option<u64>,
    }

    #[test]
    fn optional_integers_lose_their_noise() {
        let schema = input_schema::<Params>();
        assert_eq!(
            Value::Object((*schema).clone()),
            serde_json::json!({
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"description": "Required.", "type": "string"},
                    "count": {"description": "Optional number.", "type": "integer"}
                }
            })
        );
    }
}
