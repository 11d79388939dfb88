//! [`ApiQuery`]: the query string of a route, deserialized into its typed
//! parameters. A refusal is the JSON error shape naming the parameter, not
//! the framework's plain-text rejection. A parameter given empty
//! (`?cursor=`) is given, as the empty string: it is checked like any other
//! value (the schema of each parameter says what it takes).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The typed query of a request (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// Deserializes `query` (without the `?`).
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let why = e.into_inner().to_string();
        if field.is_empty() || field == "." {
            ApiError::invalid("query", &why)
        } else {
            ApiError::invalid(&field, &why)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Q {
        limit: Option<u32>,
        queue: Option<String>,
    }

    fn message(e: ApiError) -> String {
        e.message().to_owned()
    }

    #[test]
    fn parameters_are_decoded_and_an_empty_one_is_given() {
        let q: Q = parse("queue=&limit=7").unwrap();
        assert_eq!(q, Q { limit: Some(7), queue: Some(String::new()) });
        let q: Q = parse("").unwrap();
        assert_eq!(q, Q { limit: None, queue: None });
        let q: Q = parse("queue=a%20b").unwrap();
        assert_eq!(q.queue.as_deref(), Some("a b"));
        let m = message(parse::<Q>("limit=").unwrap_err());
        assert!(m.contains("`limit`"), "{m}");
    }

    #[test]
    fn a_refusal_names_the_parameter() {
        let m = message(parse::<Q>("limit=lots").unwrap_err());
        assert!(m.contains("`limit`"), "{m}");
        let m = message(parse::<Q>("colour=red").unwrap_err());
        assert!(m.starts_with("`colour`") && m.contains("unknown field"), "{m}");
    }
}
