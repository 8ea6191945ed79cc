//! Request bodies checked the way FastAPI checks them, with its 422 answers: JSON objects with
//! typed fields, and the OAuth2 password form (urlencoded or multipart).

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value, json};

use crate::email::normalize_email;
use crate::responses::{ApiError, FieldError};

fn content_type(req: &Request) -> String {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// A JSON body, read only when the content type says JSON (as FastAPI does).
pub(crate) struct JsonBody(Value);

impl JsonBody {
    /// The body of a model parameter (`UserCreate`, `UserUpdate`): it must be an object.
    pub(crate) fn object(self) -> Result<Map<String, Value>, ApiError> {
        match self.0 {
            Value::Object(map) => Ok(map),
            other => Err(ApiError::Invalid(vec![not_an_object(other)])),
        }
    }

    /// The body of embedded parameters (`email`, `token`, `password`): anything but an object
    /// has none of them.
    pub(crate) fn embedded(self) -> Map<String, Value> {
        match self.0 {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

fn not_an_object(input: Value) -> FieldError {
    FieldError::at(
        "",
        "model_attributes_type",
        "Input should be a valid dictionary or object to extract fields from",
        input,
    )
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let kind = content_type(&req);
        let is_json = kind.starts_with("application/json") || kind.contains("+json");
        let missing =
            || ApiError::Invalid(vec![FieldError::at("", "missing", "Field required", Value::Null)]);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge
            } else {
                missing()
            }
        })?;
        if bytes.is_empty() {
            return Err(missing());
        }
        if !is_json {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            return Err(ApiError::Invalid(vec![not_an_object(Value::String(text))]));
        }
        serde_json::from_slice::<Value>(&bytes)
            .map(Self)
            .map_err(|error| {
                let mut e = FieldError::at("", "json_invalid", "JSON decode error", json!({}));
                // Python's `JSONDecodeError.pos`: at the end of the input, its length.
                let at = if error.is_eof() {
                    bytes.len()
                } else {
                    offset(&bytes, error.line(), error.column())
                };
                e.loc.push(json!(at));
                let text = if error.is_eof() || error.to_string().starts_with("expected value") {
                    "Expecting value".to_owned()
                } else {
                    error.to_string()
                };
                e.ctx = Some(json!({ "error": text }));
                ApiError::Invalid(vec![e])
            })
    }
}

/// The byte offset of a 1-based line and column, as Python's `JSONDecodeError.pos` gives it.
fn offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = bytes
        .split(|b| *b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    (line_start + column.saturating_sub(1)).min(bytes.len())
}

/// Reads typed fields out of a JSON object, collecting every error as pydantic does.
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    embedded: bool,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    /// The fields of a model body: a missing field's `input` is the whole object.
    pub(crate) fn model(map: &'a Map<String, Value>) -> Self {
        Self {
            map,
            embedded: false,
            errors: Vec::new(),
        }
    }

    /// Embedded body parameters: a missing field's `input` is `null`.
    pub(crate) fn embedded(map: &'a Map<String, Value>) -> Self {
        Self {
            embedded: true,
            ..Self::model(map)
        }
    }

    fn missing(&mut self, name: &str) {
        let input = if self.embedded {
            Value::Null
        } else {
            Value::Object(self.map.clone())
        };
        self.errors
            .push(FieldError::at(name, "missing", "Field required", input));
    }

    /// A string field; `null` counts as absent for optional fields.
    pub(crate) fn string(&mut self, name: &str, required: bool) -> Option<String> {
        match self.map.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            None | Some(Value::Null) if !required => None,
            None => {
                self.missing(name);
                None
            }
            Some(other) => {
                self.errors.push(FieldError::at(
                    name,
                    "string_type",
                    "Input should be a valid string",
                    other.clone(),
                ));
                None
            }
        }
    }

    /// An email field: a string, then email syntax; normalised.
    pub(crate) fn email(&mut self, name: &str, required: bool) -> Option<String> {
        let raw = self.string(name, required)?;
        match normalize_email(&raw) {
            Ok(email) => Some(email),
            Err(reason) => {
                let mut e = FieldError::at(
                    name,
                    "value_error",
                    format!("value is not a valid email address: {reason}"),
                    Value::String(raw),
                );
                e.ctx = Some(json!({ "reason": reason }));
                self.errors.push(e);
                None
            }
        }
    }

    /// An optional boolean, read leniently as pydantic does (`1`, `"true"`, `"yes"`, …).
    pub(crate) fn boolean(&mut self, name: &str) -> Option<bool> {
        let value = self.map.get(name)?;
        let parsed = match value {
            Value::Null => return None,
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
                "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            let (kind, msg) = match value {
                Value::String(_) | Value::Number(_) => (
                    "bool_parsing",
                    "Input should be a valid boolean, unable to interpret input",
                ),
                _ => ("bool_type", "Input should be a valid boolean"),
            };
            self.errors.push(FieldError::at(name, kind, msg, value.clone()));
        }
        parsed
    }

    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(self.errors))
        }
    }
}

/// OAuth2's password form (`username`, `password`), urlencoded or multipart.
pub(crate) struct LoginForm {
    pub username: String,
    pub password: String,
}

impl<S: Send + Sync> FromRequest<S> for LoginForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let kind = content_type(&req);
        let mut fields: Vec<(String, String)> = Vec::new();
        if kind.starts_with("multipart/form-data") {
            let mut form = Multipart::from_request(req, state)
                .await
                .map_err(|_| bad_form())?;
            while let Some(field) = form.next_field().await.map_err(|_| bad_form())? {
                let name = field.name().unwrap_or_default().to_owned();
                let value = field.text().await.map_err(|_| bad_form())?;
                fields.push((name, value));
            }
        } else if kind.starts_with("application/x-www-form-urlencoded") {
            let bytes = Bytes::from_request(req, state).await.map_err(|_| bad_form())?;
            fields = form_urlencoded_pairs(&bytes);
        }
        // Starlette's form fields: an empty value counts as absent.
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        let mut errors = Vec::new();
        if let Some(grant) = get("grant_type")
            && grant != "password"
        {
            let mut e = FieldError::at(
                "grant_type",
                "string_pattern_mismatch",
                "String should match pattern '^password$'",
                Value::String(grant),
            );
            e.ctx = Some(json!({ "pattern": "^password$" }));
            errors.push(e);
        }
        let username = get("username");
        let password = get("password");
        for (name, value) in [("username", &username), ("password", &password)] {
            if value.is_none() {
                errors.push(FieldError::at(name, "missing", "Field required", Value::Null));
            }
        }
        match (username, password) {
            (Some(username), Some(password)) if errors.is_empty() => Ok(Self { username, password }),
            _ => Err(ApiError::Invalid(errors)),
        }
    }
}

fn bad_form() -> ApiError {
    ApiError::Invalid(vec![FieldError::at(
        "",
        "value_error",
        "There was an error parsing the body",
        Value::Null,
    )])
}

fn form_urlencoded_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).into_owned().collect()
}
