//! The JSON annotation a CDS hatchery writes in `config.annotation` of each VM it spawns.

use serde::{Deserialize, Deserializer};

/// The part of a CDS annotation the metrics read.
///
/// The hatchery also writes `worker_name`, `register_only`, `provisioning`,
/// `worker_model_last_modified`, `created`, `job_id` and `ip_address`. They are not
/// declared here on purpose: serde then skips them whatever their type, which is what keeps
/// annotations of older CDS versions (where `job_id` was a number) parsable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CdsAnnotation {
    #[serde(deserialize_with = "null_as_default")]
    pub hatchery_name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub worker_model_path: String,
    /// `true` on the VM a worker model is cloned from: a template, not a worker.
    #[serde(deserialize_with = "null_as_default")]
    pub model: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub flavor: String,
}

/// Why a non-empty annotation is not a CDS annotation.
#[derive(Debug, thiserror::Error)]
pub enum AnnotationError {
    #[error("not a JSON object")]
    NotAnObject,
    #[error("not a CDS annotation")]
    Json(#[source] serde_json::Error),
}

impl CdsAnnotation {
    /// Reads a raw `config.annotation`.
    ///
    /// An empty (or blank) annotation is simply not a CDS one: `Ok(None)`. Anything else
    /// that is not a JSON object whose read fields have the right types is an error, so
    /// the caller can count it.
    pub fn parse(raw: &str) -> Result<Option<Self>, AnnotationError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }

        // serde also builds a struct from a JSON array, field by field; CDS never writes
        // one, so only an object is accepted.
        if !raw.starts_with('{') {
            return Err(AnnotationError::NotAnObject);
        }

        serde_json::from_str(raw)
            .map(Some)
            .map_err(AnnotationError::Json)
    }
}

/// The hatchery is written in Go, whose JSON decoder leaves a field at its zero value when
/// it reads `null`; we do the same rather than reject the annotation.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Option<CdsAnnotation> {
        CdsAnnotation::parse(raw).expect("a CDS annotation")
    }

    fn is_broken(raw: &str) -> bool {
        CdsAnnotation::parse(raw).is_err()
    }

    #[test]
    fn reads_a_full_annotation_of_the_current_cds() {
        let raw = r#"{"hatchery_name":"h1","worker_name":"w1","register_only":false,
            "provisioning":false,"worker_model_path":"group/debian12",
            "worker_model_last_modified":"1700000000","model":false,
            "created":"2026-01-01T00:00:00Z","job_id":"42","ip_address":"10.0.0.2",
            "flavor":"b2-7"}"#;

        let annotation = parse(raw).unwrap();

        assert_eq!(annotation.hatchery_name, "h1");
        assert_eq!(annotation.worker_model_path, "group/debian12");
        assert!(!annotation.model);
        assert_eq!(annotation.flavor, "b2-7");
    }

    #[test]
    fn empty_and_blank_annotations_are_not_cds_nor_broken() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("  \n\t"), None);
    }

    #[test]
    fn missing_fields_take_their_defaults() {
        let annotation = parse(r#"{"hatchery_name":"h1"}"#).unwrap();

        assert_eq!(annotation.worker_model_path, "");
        assert!(!annotation.model);
        assert_eq!(annotation.flavor, "");
        assert_eq!(parse("{}").unwrap(), CdsAnnotation::default());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let annotation = parse(r#"{"hatchery_name":"h1","future":{"a":[1,2]}}"#).unwrap();

        assert_eq!(annotation.hatchery_name, "h1");
    }

    #[test]
    fn types_of_unread_fields_are_ignored() {
        // Older CDS versions wrote job_id as a number.
        let annotation = parse(
            r#"{"hatchery_name":"h1","job_id":42,"created":7,
            "worker_name":null,"provisioning":"yes","register_only":1}"#,
        );

        assert_eq!(annotation.unwrap().hatchery_name, "h1");
    }

    #[test]
    fn null_read_fields_take_their_defaults() {
        let annotation = parse(r#"{"hatchery_name":"h1","model":null,"flavor":null}"#).unwrap();

        assert!(!annotation.model);
        assert_eq!(annotation.flavor, "");
    }

    #[test]
    fn model_true_marks_a_template() {
        assert!(
            parse(r#"{"hatchery_name":"h1","model":true}"#)
                .unwrap()
                .model
        );
    }

    #[test]
    fn text_that_is_not_json_is_broken() {
        assert!(is_broken("created by hand, do not delete"));
        assert!(is_broken(r#"{"hatchery_name":"h1""#));
    }

    #[test]
    fn json_that_is_not_an_object_is_broken() {
        assert!(is_broken("[]"));
        assert!(is_broken("42"));
        assert!(is_broken(r#""h1""#));
        assert!(is_broken("null"));
    }

    #[test]
    fn read_fields_of_the_wrong_type_are_broken() {
        assert!(is_broken(r#"{"hatchery_name":42}"#));
        assert!(is_broken(r#"{"hatchery_name":"h1","model":"true"}"#));
        assert!(is_broken(
            r#"{"hatchery_name":"h1","worker_model_path":["a"]}"#
        ));
        assert!(is_broken(r#"{"hatchery_name":"h1","flavor":{}}"#));
    }

    #[test]
    fn trailing_garbage_is_broken() {
        assert!(is_broken(r#"{"hatchery_name":"h1"} trailing"#));
    }

    #[test]
    fn deep_nesting_never_overflows_the_stack() {
        let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));

        let in_an_unread_field = format!(r#"{{"hatchery_name":"h1","x":{nested}}}"#);
        assert_eq!(parse(&in_an_unread_field).unwrap().hatchery_name, "h1");
        assert!(is_broken(&format!(r#"{{"flavor":{nested}}}"#)));
    }

    #[test]
    fn odd_unicode_is_kept_as_is() {
        let annotation = parse(r#"{"hatchery_name":"h1","flavor":"\u00e9\ud83d\ude00\"\n"}"#);

        assert_eq!(annotation.unwrap().flavor, "é😀\"\n");
    }

    /// Properties of the parser on hostile input: it always returns, only a blank text is
    /// "no annotation", whatever CDS could write reads back, and anything else is refused.
    mod properties {
        use proptest::prelude::*;
        use serde_json::{Map, Value, json};

        use super::super::*;

        const READ_FIELDS: [&str; 4] = ["hatchery_name", "worker_model_path", "model", "flavor"];

        /// Any JSON value, nested a few levels.
        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                any::<String>().prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 32, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                    prop::collection::btree_map(any::<String>(), inner, 0..4)
                        .prop_map(|map| Value::Object(map.into_iter().collect())),
                ]
            })
        }

        /// Fields CDS writes and we skip, or fields of a future CDS, of any type.
        fn unread_fields() -> impl Strategy<Value = Map<String, Value>> {
            let name = any::<String>().prop_filter("not a read field", |name| {
                !READ_FIELDS.contains(&name.as_str())
            });
            prop::collection::btree_map(name, json_value(), 0..4)
                .prop_map(|map| map.into_iter().collect())
        }

        fn blank() -> impl Strategy<Value = String> {
            "[ \t\n\r]{0,3}"
        }

        proptest! {
            #[test]
            fn any_bytes_read_as_text_never_panic(
                bytes in prop::collection::vec(any::<u8>(), 0..2048),
            ) {
                let text = String::from_utf8_lossy(&bytes);

                let parsed = CdsAnnotation::parse(&text);

                prop_assert_eq!(matches!(parsed, Ok(None)), text.trim().is_empty());
            }

            #[test]
            fn any_text_never_panics(text in any::<String>()) {
                let parsed = CdsAnnotation::parse(&text);

                prop_assert_eq!(matches!(parsed, Ok(None)), text.trim().is_empty());
            }

            #[test]
            fn what_cds_writes_reads_back(
                hatchery_name in any::<String>(),
                worker_model_path in any::<String>(),
                model in any::<bool>(),
                flavor in any::<String>(),
                unread in unread_fields(),
                before in blank(),
                after in blank(),
            ) {
                let mut object = unread;
                object.insert("hatchery_name".into(), json!(hatchery_name));
                object.insert("worker_model_path".into(), json!(worker_model_path));
                object.insert("model".into(), json!(model));
                object.insert("flavor".into(), json!(flavor));
                let raw = format!("{before}{}{after}", Value::Object(object));

                let parsed = CdsAnnotation::parse(&raw);

                let expected = CdsAnnotation { hatchery_name, worker_model_path, model, flavor };
                prop_assert_eq!(parsed.ok().flatten(), Some(expected));
            }

            #[test]
            fn json_other_than_an_object_is_refused(value in json_value()) {
                prop_assume!(!value.is_object());

                prop_assert!(CdsAnnotation::parse(&value.to_string()).is_err());
            }

            #[test]
            fn a_read_field_of_the_wrong_type_is_refused(
                field in prop::sample::select(&READ_FIELDS[..]),
                value in json_value(),
                unread in unread_fields(),
            ) {
                let right_type = if field == "model" { value.is_boolean() } else { value.is_string() };
                prop_assume!(!right_type && !value.is_null());
                let mut object = unread;
                object.insert(field.into(), value);

                prop_assert!(CdsAnnotation::parse(&Value::Object(object).to_string()).is_err());
            }
        }
    }
}
