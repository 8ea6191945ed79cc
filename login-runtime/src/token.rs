//! The shapes of access tokens: the one to create, the verified claims, and why one failed.
//! [`LoginManager`](crate::LoginManager) creates and verifies them (its codec does the work).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Tokens longer than this are refused before any parsing (8 KiB).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The latest `exp` accepted: 9999-12-31T23:59:59Z, the last second an RFC 3339 date (and Python's
/// `datetime`, so PyJWT) can express. A larger `exp`, up to `u64::MAX`, would make a token that
/// never expires; it is refused as [`TokenError::ExpiryOutOfRange`].
pub const MAX_EXP: u64 = 253_402_300_799;

/// A token to create: its subject, lifetime, scopes and extra claims
/// (the arguments of fastapi-login's `create_access_token`).
///
/// ```
/// use std::time::Duration;
/// use login_runtime::AccessToken;
///
/// let token = AccessToken::new("johndoe@e.mail")
///     .expires_in(Duration::from_secs(12 * 3600))
///     .scopes(["admin"])
///     .claim("name", "John Doe");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct AccessToken {
    pub(crate) sub: String,
    pub(crate) expires_in: Option<Duration>,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) extra: Map<String, Value>,
}

impl AccessToken {
    /// A token for this subject (what the `#[user_loader]` receives), with the manager's expiry.
    pub fn new(sub: impl Into<String>) -> Self {
        Self {
            sub: sub.into(),
            expires_in: None,
            scopes: None,
            extra: Map::new(),
        }
    }

    /// Expire after this long instead of the manager's default.
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.expires_in = Some(lifetime);
        self
    }

    /// Grant these scopes (written as a JSON array claim `scopes`).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Add a claim of your own. Reserved names (`sub`, `exp`, `iat`, `nbf`, `scopes`, `iss`, `aud`)
    /// make [`LoginManager::create_access_token`](crate::LoginManager::create_access_token) fail
    /// with [`TokenError::ReservedClaim`].
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(name.into(), value.into());
        self
    }
}

impl From<&str> for AccessToken {
    fn from(sub: &str) -> Self {
        Self::new(sub)
    }
}

impl From<String> for AccessToken {
    fn from(sub: String) -> Self {
        Self::new(sub)
    }
}

impl From<&String> for AccessToken {
    fn from(sub: &String) -> Self {
        Self::new(sub.as_str())
    }
}

/// The verified claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Claims {
    /// The subject: what the token was made for, handed to the `#[user_loader]`.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not-before time, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Granted scopes; a `scopes` claim that is not an array of strings makes the token invalid.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `iss`, read only to refuse one that is not a string (RFC 7519 §4.1.1): jsonwebtoken takes
    /// an array too, and ignores a number when no issuer is configured.
    #[serde(default, rename = "iss", skip_serializing)]
    iss_type: StringClaim,
    /// `aud`, read only to refuse one that is neither a string nor an array of strings (RFC 7519
    /// §4.1.3): jsonwebtoken ignores a number when no audience is configured.
    #[serde(default, rename = "aud", skip_serializing)]
    aud_type: AudienceClaim,
}

/// A claim that must be a JSON string; deserializing anything else fails. Put it in a claims type
/// of your own to refuse, say, a numeric `iss` that jsonwebtoken would let through unchecked.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Mine { #[serde(default)] iss: login_runtime::StringClaim }
///
/// assert!(serde_json::from_str::<Mine>(r#"{"iss": "me"}"#).is_ok());
/// assert!(serde_json::from_str::<Mine>(r#"{"iss": 7}"#).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StringClaim;

impl<'de> Deserialize<'de> for StringClaim {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = StringClaim;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<StringClaim, E> {
                Ok(StringClaim)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// `aud`: a JSON string or an array of strings (RFC 7519 §4.1.3); deserializing anything else fails.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Mine { #[serde(default)] aud: login_runtime::AudienceClaim }
///
/// assert!(serde_json::from_str::<Mine>(r#"{"aud": ["a", "b"]}"#).is_ok());
/// assert!(serde_json::from_str::<Mine>(r#"{"aud": 7}"#).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudienceClaim;

impl<'de> Deserialize<'de> for AudienceClaim {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = AudienceClaim;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<AudienceClaim, E> {
                Ok(AudienceClaim)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<AudienceClaim, A::Error> {
                while seq.next_element::<StringClaim>()?.is_some() {}
                Ok(AudienceClaim)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A claims type [`LoginManager::decode_with`](crate::LoginManager::decode_with) can check: `iat`
/// (not in the future beyond the leeway) and, when the type exposes `exp`, its range and the
/// manager's [`max_lifetime`](crate::LoginManagerBuilder::max_lifetime).
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Reset { sub: String, iat: Option<u64> }
///
/// impl login_runtime::TimedClaims for Reset {
///     fn iat(&self) -> Option<u64> {
///         self.iat
///     }
/// }
/// ```
pub trait TimedClaims {
    /// `iat`, when the token has one.
    fn iat(&self) -> Option<u64>;

    /// `exp`, when the type keeps it (jsonwebtoken has checked it is present and not past).
    fn exp(&self) -> Option<u64> {
        None
    }
}

impl TimedClaims for Claims {
    fn iat(&self) -> Option<u64> {
        self.iat
    }

    fn exp(&self) -> Option<u64> {
        Some(self.exp)
    }
}

impl Claims {
    /// Claims for a subject, expiring at `exp`, with no scopes: what a [`TokenReader`] of opaque
    /// tokens returns.
    ///
    /// [`TokenReader`]: crate::TokenReader
    pub fn new(sub: impl Into<String>, exp: u64) -> Self {
        Self {
            sub: sub.into(),
            exp,
            iat: None,
            nbf: None,
            scopes: Vec::new(),
            iss_type: StringClaim,
            aud_type: AudienceClaim,
        }
    }

    /// Whether every one of `required` was granted.
    pub fn has_scopes(&self, required: &[&str]) -> bool {
        required.iter().all(|r| self.scopes.iter().any(|s| s == r))
    }
}

/// Why a token was not made or not accepted. Its text is for logs; responses never show it.
#[derive(Debug)]
#[non_exhaustive]
pub enum TokenError {
    /// Longer than the manager's maximum; refused unparsed.
    TooLong,
    /// The header names a `crit` extension, which this crate does not implement (RFC 7515 §4.1.11).
    CriticalHeader,
    /// `iat` lies in the future beyond the leeway.
    IssuedInFuture,
    /// `exp` lies beyond [`MAX_EXP`] (year 9999): a token that would never expire.
    ExpiryOutOfRange,
    /// The token lives longer than the manager's
    /// [`max_lifetime`](crate::LoginManagerBuilder::max_lifetime): `exp − iat` above it, or, without
    /// `iat`, `exp` further from now than it and the leeway. Also refused when creating one.
    LifetimeTooLong,
    /// An extra claim would override one the crate writes.
    ReservedClaim(String),
    /// Malformed, badly signed, expired, not yet valid, wrong algorithm, issuer or audience, or
    /// claims of the wrong shape: everything jsonwebtoken checks.
    Jwt(jsonwebtoken::errors::Error),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => f.write_str("token too long"),
            Self::CriticalHeader => f.write_str("token header has a `crit` parameter"),
            Self::IssuedInFuture => f.write_str("token `iat` is in the future"),
            Self::ExpiryOutOfRange => f.write_str("token `exp` is beyond the year 9999"),
            Self::LifetimeTooLong => f.write_str("token lifetime is longer than the maximum"),
            Self::ReservedClaim(c) => write!(f, "claim `{c}` is reserved"),
            Self::Jwt(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TokenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Jwt(e) => Some(e),
            _ => None,
        }
    }
}

impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        Self::Jwt(e)
    }
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LoginManager;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use jsonwebtoken::{Algorithm, EncodingKey};
    use jsonwebtoken::{Header, encode};
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn manager() -> LoginManager {
        LoginManager::builder().secret(SECRET).build().unwrap()
    }

    fn sign(header: &Header, claims: &Value) -> String {
        encode(header, claims, &EncodingKey::from_secret(SECRET)).unwrap()
    }

    fn hs256(claims: Value) -> String {
        sign(&Header::new(Algorithm::HS256), &claims)
    }

    fn in_an_hour() -> u64 {
        now() + 3600
    }

    #[test]
    fn round_trip_with_scopes_and_extra_claims() {
        let m = manager();
        let token = m
            .create_access_token(AccessToken::new("ann").scopes(["a", "b"]).claim("name", "Ann"))
            .unwrap();
        let claims = m.decode(&token).unwrap();
        assert_eq!(claims.sub, "ann");
        assert_eq!(claims.scopes, ["a", "b"]);
        assert!(claims.has_scopes(&["b"]) && !claims.has_scopes(&["c"]));
        let iat = claims.iat.unwrap();
        assert_eq!(claims.exp - iat, 15 * 60);
        let payload: Value = jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
        assert_eq!(payload["name"], "Ann");
        assert!(payload["scopes"].is_array());
    }

    #[test]
    fn header_is_written_as_pyjwt_writes_it() {
        let token = manager().create_access_token("ann").unwrap();
        let header = token.split('.').next().unwrap();
        assert_eq!(B64.decode(header).unwrap(), br#"{"alg":"HS256","typ":"JWT"}"#);
    }

    #[test]
    fn no_scopes_claim_unless_granted() {
        let m = manager();
        let token = m.create_access_token("ann").unwrap();
        let payload: Value = jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
        assert!(payload.get("scopes").is_none(), "{payload}");
        assert_eq!(m.decode(&token).unwrap().scopes, Vec::<String>::new());
    }

    #[test]
    fn reserved_claims_cannot_be_overridden() {
        let err = manager()
            .create_access_token(AccessToken::new("a").claim("exp", 1))
            .unwrap_err();
        assert!(matches!(err, TokenError::ReservedClaim(c) if c == "exp"));
    }

    #[test]
    fn pyjwt_shaped_token_is_accepted() {
        // What fastapi-login 1.10 writes: {"sub": …, "exp": …, "scopes": [...]} with typ JWT.
        let token = hs256(json!({"sub": "johndoe@e.mail", "exp": in_an_hour(), "scopes": ["admin"]}));
        assert_eq!(manager().decode(&token).unwrap().scopes, ["admin"]);
    }

    #[test]
    fn expired_beyond_leeway_is_refused_within_is_accepted() {
        let token = hs256(json!({"sub": "a", "exp": now() - 30}));
        assert!(manager().decode(&token).is_err());
        let lenient = LoginManager::builder()
            .secret(SECRET)
            .leeway(Duration::from_secs(60))
            .build()
            .unwrap();
        assert!(lenient.decode(&token).is_ok());
    }

    #[test]
    fn missing_exp_or_sub_is_refused() {
        assert!(manager().decode(&hs256(json!({"sub": "a"}))).is_err());
        assert!(manager().decode(&hs256(json!({"exp": in_an_hour()}))).is_err());
        assert!(
            manager()
                .decode(&hs256(json!({"sub": 42, "exp": in_an_hour()})))
                .is_err()
        );
    }

    #[test]
    fn odd_exp_values_are_refused() {
        for exp in [
            json!("9999999999"),
            json!(-1),
            json!(1e300),
            json!(u64::MAX as f64),
        ] {
            let token = hs256(json!({"sub": "a", "exp": exp}));
            assert!(manager().decode(&token).is_err(), "exp {exp}");
        }
    }

    #[test]
    fn future_nbf_and_iat_are_refused() {
        let m = manager();
        assert!(
            m.decode(&hs256(
                json!({"sub": "a", "exp": in_an_hour(), "nbf": now() + 600})
            ))
            .is_err()
        );
        let err = m
            .decode(&hs256(
                json!({"sub": "a", "exp": in_an_hour(), "iat": now() + 600}),
            ))
            .unwrap_err();
        assert!(matches!(err, TokenError::IssuedInFuture));
        assert!(
            m.decode(&hs256(
                json!({"sub": "a", "exp": in_an_hour(), "iat": now(), "nbf": now()})
            ))
            .is_ok()
        );
    }

    #[test]
    fn string_scopes_are_refused() {
        // fastapi-login substring-matches a string `scopes`: "xadminx" would pass its "admin" check.
        let token = hs256(json!({"sub": "a", "exp": in_an_hour(), "scopes": "xadminx"}));
        assert!(manager().decode(&token).is_err());
        let token = hs256(json!({"sub": "a", "exp": in_an_hour(), "scopes": [1]}));
        assert!(manager().decode(&token).is_err());
    }

    #[test]
    fn crit_header_is_refused() {
        let mut header = Header::new(Algorithm::HS256);
        header.crit = Some(vec!["exp".into()]);
        let token = sign(&header, &json!({"sub": "a", "exp": in_an_hour()}));
        assert!(matches!(
            manager().decode(&token),
            Err(TokenError::CriticalHeader)
        ));
    }

    #[test]
    fn oversize_token_is_refused_unparsed() {
        let token = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(manager().decode(&token), Err(TokenError::TooLong)));
    }

    #[test]
    fn other_algorithms_and_none_are_refused() {
        let claims = json!({"sub": "a", "exp": in_an_hour()});
        let hs512 = sign(&Header::new(Algorithm::HS512), &claims);
        assert!(manager().decode(&hs512).is_err());
        let body = B64.encode(claims.to_string());
        for alg in ["none", "None", "NONE"] {
            let head = B64.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
            assert!(manager().decode(&format!("{head}.{body}.")).is_err(), "{alg}");
        }
        let good = hs256(claims);
        let (rest, _sig) = good.rsplit_once('.').unwrap();
        assert!(manager().decode(&format!("{rest}.")).is_err());
        assert!(manager().decode(rest).is_err());
    }

    #[test]
    fn audience_and_issuer_are_strict() {
        let claims = json!({"sub": "a", "exp": in_an_hour(), "aud": "someone"});
        assert!(
            manager().decode(&hs256(claims)).is_err(),
            "an aud with no audience configured"
        );
        let m = LoginManager::builder()
            .secret(SECRET)
            .audience("me")
            .issuer("us")
            .build()
            .unwrap();
        let ok = m.create_access_token("a").unwrap();
        assert!(m.decode(&ok).is_ok());
        for claims in [
            json!({"sub": "a", "exp": in_an_hour(), "iss": "us"}),
            json!({"sub": "a", "exp": in_an_hour(), "aud": "me"}),
            json!({"sub": "a", "exp": in_an_hour(), "aud": "you", "iss": "us"}),
            json!({"sub": "a", "exp": in_an_hour(), "aud": "me", "iss": "them"}),
        ] {
            assert!(m.decode(&hs256(claims.clone())).is_err(), "{claims}");
        }
    }

    #[test]
    fn exp_beyond_the_year_9999_is_refused() {
        let m = manager();
        for exp in [MAX_EXP + 1, u64::MAX] {
            let err = m.decode(&hs256(json!({"sub": "a", "exp": exp}))).unwrap_err();
            assert!(matches!(err, TokenError::ExpiryOutOfRange), "{exp}: {err}");
        }
        assert!(m.decode(&hs256(json!({"sub": "a", "exp": MAX_EXP}))).is_ok());
        let err = m
            .create_access_token(AccessToken::new("a").expires_in(Duration::MAX))
            .unwrap_err();
        assert!(matches!(err, TokenError::ExpiryOutOfRange), "{err}");
    }

    fn hour_limited() -> LoginManager {
        LoginManager::builder()
            .secret(SECRET)
            .max_lifetime(Duration::from_secs(3600))
            .leeway(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    #[test]
    fn max_lifetime_refuses_longer_lived_tokens() {
        let m = hour_limited();
        let t = now();
        for (claims, ok) in [
            (json!({"sub": "a", "iat": t, "exp": t + 3600}), true),
            (json!({"sub": "a", "iat": t, "exp": t + 3601}), false),
            // An old `iat` with a fresh `exp`: the issuer signed a lifetime of years.
            (json!({"sub": "a", "iat": 1, "exp": t + 60}), false),
            (json!({"sub": "a", "iat": t - 1800, "exp": t + 1800}), true),
            // No `iat` (FastAPI Users): judged from now, with the leeway for the issuer's clock.
            (json!({"sub": "a", "exp": t + 3600 + 30}), true),
            (json!({"sub": "a", "exp": t + 3600 + 30 + 60}), false),
        ] {
            let result = m.decode(&hs256(claims.clone()));
            assert_eq!(result.is_ok(), ok, "{claims}: {result:?}");
            if !ok {
                assert!(matches!(result, Err(TokenError::LifetimeTooLong)), "{claims}");
            }
        }
        assert!(m.decode(&m.create_access_token("a").unwrap()).is_ok());
        let err = m
            .create_access_token(AccessToken::new("a").expires_in(Duration::from_secs(3601)))
            .unwrap_err();
        assert!(matches!(err, TokenError::LifetimeTooLong), "{err}");
        // Off by default: a 50-year token (as PyJWT makes them) is accepted.
        let fifty_years = json!({"sub": "a", "iat": t, "exp": t + 50 * 365 * 86400});
        assert!(manager().decode(&hs256(fifty_years)).is_ok());
    }

    #[test]
    fn max_lifetime_shorter_than_expiry_is_a_config_error() {
        let err = LoginManager::builder()
            .secret(SECRET)
            .expiry(Duration::from_secs(7200))
            .max_lifetime(Duration::from_secs(3600))
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "max_lifetime");
    }

    #[test]
    fn iss_and_aud_of_the_wrong_type_are_refused() {
        let exp = in_an_hour();
        // With no issuer or audience configured, jsonwebtoken alone would ignore these.
        for claims in [
            json!({"sub": "a", "exp": exp, "iss": 42}),
            json!({"sub": "a", "exp": exp, "iss": ["us"]}),
            json!({"sub": "a", "exp": exp, "iss": null}),
            json!({"sub": "a", "exp": exp, "aud": 42}),
            json!({"sub": "a", "exp": exp, "aud": {"me": true}}),
            json!({"sub": "a", "exp": exp, "aud": [1]}),
        ] {
            assert!(manager().decode(&hs256(claims.clone())).is_err(), "{claims}");
        }
        assert!(
            manager()
                .decode(&hs256(json!({"sub": "a", "exp": exp, "iss": "us"})))
                .is_ok()
        );
        let m = LoginManager::builder()
            .secret(SECRET)
            .audience("me")
            .issuer("us")
            .build()
            .unwrap();
        // jsonwebtoken takes an `iss` array holding the issuer; RFC 7519 makes `iss` one string.
        let array_iss = json!({"sub": "a", "exp": exp, "aud": "me", "iss": ["us"]});
        assert!(m.decode(&hs256(array_iss)).is_err());
        let array_aud = json!({"sub": "a", "exp": exp, "aud": ["me", "other"], "iss": "us"});
        assert!(
            m.decode(&hs256(array_aud)).is_ok(),
            "an `aud` array naming us is fine"
        );
    }

    #[test]
    fn payloads_that_are_not_objects_and_duplicate_claims_are_refused() {
        let sign_raw = |payload: &str| {
            let message = format!("{}.{}", B64.encode(r#"{"alg":"HS256"}"#), B64.encode(payload));
            let signature = jsonwebtoken::crypto::sign(
                message.as_bytes(),
                &EncodingKey::from_secret(SECRET),
                Algorithm::HS256,
            )
            .unwrap();
            format!("{message}.{signature}")
        };
        let exp = in_an_hour();
        assert!(
            manager()
                .decode(&sign_raw(&format!(r#"{{"sub":"a","exp":{exp}}}"#)))
                .is_ok()
        );
        for payload in [
            format!(r#"["a",{exp}]"#),
            format!(r#"[{exp},null,"a"]"#),
            r#""a""#.to_owned(),
            "null".to_owned(),
            format!(r#"{{"sub":"b","sub":"a","exp":{exp}}}"#),
            format!(r#"{{"sub":"a","exp":1,"exp":{exp}}}"#),
            format!(r#"{{"sub":"a","exp":{exp},"aud":"x","aud":"y"}}"#),
            format!(r#"{{"sub":"a","exp":{exp}}}trailing"#),
        ] {
            assert!(manager().decode(&sign_raw(&payload)).is_err(), "{payload}");
        }
        // Not checked: bytes that are not UTF-8 in a claim nobody reads. Only the key could sign
        // such a payload and the crate never writes one; see tests/attacks.rs.
    }

    #[test]
    fn float_claims_come_back_exactly() {
        // Found by the `roundtrip` fuzz target: without serde_json's `float_roundtrip`, this came
        // back as -4.348109200093447e-238.
        let m = manager();
        let value = -4.3481092000934475e-238_f64;
        let token = m
            .create_access_token(AccessToken::new("a").claim("f", value))
            .unwrap();
        let claims: Value = m.decode_claims(&token).unwrap();
        assert_eq!(claims["f"].as_f64(), Some(value));
    }

    #[test]
    fn asymmetric_keys_round_trip() {
        // An Ed25519 key pair (RFC 8037 test key, PEM-wrapped).
        let private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";
        let public = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n";
        let m = LoginManager::builder()
            .algorithm(Algorithm::EdDSA)
            .pem_keys(private, public)
            .build()
            .unwrap();
        let token = m.create_access_token("ann").unwrap();
        assert_eq!(m.decode(&token).unwrap().sub, "ann");
        assert!(
            manager().decode(&token).is_err(),
            "an HS256 manager refuses an EdDSA token"
        );
    }
}
