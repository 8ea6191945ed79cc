//! [`HmacVerifier`]: HS256/HS384/HS512 verification with the key schedule computed once, for
//! [`Codec`](crate::codec::Codec)'s single-secret managers.
//!
//! `jsonwebtoken::decode` builds a new keyed HMAC for every token (a heap allocation and two
//! hash compressions over the padded key) and parses the header twice. This verifier keeps the
//! keyed state and clones it per token; every other step is jsonwebtoken's, in jsonwebtoken's
//! order and with jsonwebtoken's errors: the header is parsed into [`jsonwebtoken::Header`] by
//! serde, the algorithm must be one the [`Validation`] allows, the signature is compared in
//! constant time (`hmac`'s `verify_slice`), and the claims are checked by the rules of
//! [`Validation`] (required claims, `exp`/`nbf` with the leeway, `sub`, `iss`, `aud`). A test
//! runs both on the same tokens and requires the same answer.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{Algorithm, AlgorithmFamily, Header, TokenData, Validation};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use sha2::{Sha256, Sha384, Sha512};

/// A secret keyed once for one HMAC algorithm.
#[derive(Clone)]
pub(crate) enum HmacVerifier {
    Hs256(Hmac<Sha256>),
    Hs384(Hmac<Sha384>),
    Hs512(Hmac<Sha512>),
}

impl HmacVerifier {
    /// The verifier of `secret` for `algorithm`, when it is an HMAC algorithm.
    pub(crate) fn new(algorithm: Algorithm, secret: &[u8]) -> Option<Self> {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        Some(match algorithm {
            Algorithm::HS256 => Self::Hs256(Hmac::new_from_slice(secret).ok()?),
            Algorithm::HS384 => Self::Hs384(Hmac::new_from_slice(secret).ok()?),
            Algorithm::HS512 => Self::Hs512(Hmac::new_from_slice(secret).ok()?),
            _ => return None,
        })
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            Self::Hs256(_) => Algorithm::HS256,
            Self::Hs384(_) => Algorithm::HS384,
            Self::Hs512(_) => Algorithm::HS512,
        }
    }

    /// Whether `signature` is the MAC of `message`, compared in constant time.
    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Hs256(mac) => mac.clone().chain_update(message).verify_slice(signature).is_ok(),
            Self::Hs384(mac) => mac.clone().chain_update(message).verify_slice(signature).is_ok(),
            Self::Hs512(mac) => mac.clone().chain_update(message).verify_slice(signature).is_ok(),
        }
    }

    /// What `jsonwebtoken::decode(token, key, validation)` answers, with `now` as the clock;
    /// `None` when the header names another algorithm than this verifier's (the caller hands
    /// such tokens to jsonwebtoken).
    pub(crate) fn decode<T: DeserializeOwned>(
        &self,
        token: &str,
        validation: &Validation,
        now: u64,
    ) -> Option<Result<TokenData<T>, Error>> {
        let (signature, message) = match two(token.rsplitn(2, '.')) {
            Ok(parts) => parts,
            Err(e) => return Some(Err(e)),
        };
        let (payload, header) = match two(message.rsplitn(2, '.')) {
            Ok(parts) => parts,
            Err(e) => return Some(Err(e)),
        };
        let header: Header = match b64_json(header) {
            Ok(header) => header,
            Err(e) => return Some(Err(e)),
        };
        if header.alg != self.algorithm() {
            return None;
        }
        Some(self.verify_and_check(header, message, signature, payload, validation, now))
    }

    fn verify_and_check<T: DeserializeOwned>(
        &self,
        header: Header,
        message: &str,
        signature: &str,
        payload: &str,
        validation: &Validation,
        now: u64,
    ) -> Result<TokenData<T>, Error> {
        let allowed = &validation.algorithms;
        if !allowed.contains(&header.alg) || allowed.iter().any(|alg| alg.family() != AlgorithmFamily::Hmac) {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        let signature = URL_SAFE_NO_PAD.decode(signature)?;
        if !self.verifies(message.as_bytes(), &signature) {
            return Err(ErrorKind::InvalidSignature.into());
        }
        let payload = URL_SAFE_NO_PAD.decode(payload)?;
        let claims: T = serde_json::from_slice(&payload)?;
        check_claims(&serde_json::from_slice(&payload)?, validation, now)?;
        Ok(TokenData { header, claims })
    }
}

/// The two parts of a `rsplitn(2, '.')`, or jsonwebtoken's answer to a token without them.
fn two<'a>(mut parts: impl Iterator<Item = &'a str>) -> Result<(&'a str, &'a str), Error> {
    match (parts.next(), parts.next(), parts.next()) {
        (Some(first), Some(second), None) => Ok((first, second)),
        _ => Err(ErrorKind::InvalidToken.into()),
    }
}

fn b64_json<T: DeserializeOwned>(part: &str) -> Result<T, Error> {
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part)?)?)
}

/// The registered claims a [`Validation`] looks at, each present, absent or of the wrong shape.
#[derive(Deserialize)]
struct RegisteredClaims<'a> {
    #[serde(deserialize_with = "numeric_date", default)]
    exp: Claim<u64>,
    #[serde(deserialize_with = "numeric_date", default)]
    nbf: Claim<u64>,
    #[serde(borrow)]
    sub: Claim<Cow<'a, str>>,
    #[serde(borrow)]
    iss: Claim<OneOrMany<'a>>,
    #[serde(borrow)]
    aud: Claim<OneOrMany<'a>>,
}

#[derive(Default)]
enum Claim<T> {
    Present(T),
    Malformed,
    #[default]
    Absent,
}

impl<T> Claim<T> {
    fn is_present(&self) -> bool {
        matches!(self, Self::Present(_))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Claim<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer) {
            Ok(Some(value)) => Self::Present(value),
            Ok(None) => Self::Absent,
            Err(_) => Self::Malformed,
        })
    }
}

/// `iss` and `aud`: a string or an array of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<'a> {
    One(#[serde(borrow)] Cow<'a, str>),
    Many(#[serde(borrow)] HashSet<Borrowed<'a>>),
}

/// A string of an array, borrowed from the payload when it has no escapes.
#[derive(Deserialize, PartialEq, Eq, Hash)]
struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);

impl OneOrMany<'_> {
    /// Whether one of the values is an accepted one.
    fn meets(&self, accepted: &HashSet<String>) -> bool {
        match self {
            Self::One(value) => accepted.contains(value.as_ref()),
            Self::Many(values) => values.iter().any(|v| accepted.contains(v.0.as_ref())),
        }
    }
}

/// A NumericDate: a non-negative integer, or a finite float below 2^64, rounded.
fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Claim<u64>, D::Error> {
    struct NumericDate(PhantomData<fn() -> Claim<u64>>);

    impl Visitor<'_> for NumericDate {
        type Value = Claim<u64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a NumericDate")
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Ok(Claim::Present(value))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            if value.is_finite() && value >= 0.0 && value < u64::MAX as f64 {
                Ok(Claim::Present(value.round() as u64))
            } else {
                Err(E::custom("a NumericDate must fit in a u64"))
            }
        }
    }

    Ok(deserializer
        .deserialize_any(NumericDate(PhantomData))
        .unwrap_or(Claim::Malformed))
}

/// The checks `validation` asks of the registered claims, at `now`, with jsonwebtoken's errors.
fn check_claims(claims: &RegisteredClaims<'_>, validation: &Validation, now: u64) -> Result<(), Error> {
    for required in &validation.required_spec_claims {
        let present = match required.as_str() {
            "exp" => claims.exp.is_present(),
            "nbf" => claims.nbf.is_present(),
            "sub" => claims.sub.is_present(),
            "iss" => claims.iss.is_present(),
            "aud" => claims.aud.is_present(),
            _ => continue,
        };
        if !present {
            return Err(ErrorKind::MissingRequiredClaim(required.clone()).into());
        }
    }
    if validation.validate_exp || validation.validate_nbf {
        if validation.validate_exp && matches!(claims.exp, Claim::Malformed) {
            return Err(ErrorKind::InvalidClaimFormat("exp".to_owned()).into());
        }
        if validation.validate_nbf && matches!(claims.nbf, Claim::Malformed) {
            return Err(ErrorKind::InvalidClaimFormat("nbf".to_owned()).into());
        }
        let margin = validation.reject_tokens_expiring_in_less_than;
        if let Claim::Present(exp) = claims.exp {
            if exp < margin {
                return Err(ErrorKind::InvalidToken.into());
            }
            if validation.validate_exp && exp - margin < now.saturating_sub(validation.leeway) {
                return Err(ErrorKind::ExpiredSignature.into());
            }
        }
        if let Claim::Present(nbf) = claims.nbf
            && validation.validate_nbf
            && nbf > now.saturating_add(validation.leeway)
        {
            return Err(ErrorKind::ImmatureSignature.into());
        }
    }
    if let (Claim::Present(sub), Some(expected)) = (&claims.sub, validation.sub.as_deref())
        && sub != expected
    {
        return Err(ErrorKind::InvalidSubject.into());
    }
    if let (Claim::Present(iss), Some(accepted)) = (&claims.iss, &validation.iss)
        && !iss.meets(accepted)
    {
        return Err(ErrorKind::InvalidIssuer.into());
    }
    if !validation.validate_aud {
        return Ok(());
    }
    match (&claims.aud, &validation.aud) {
        // An `aud` names its recipients; a service without an audience is none of them.
        (Claim::Present(_), None) => Err(ErrorKind::InvalidAudience.into()),
        (Claim::Present(aud), Some(accepted)) if !aud.meets(accepted) => {
            Err(ErrorKind::InvalidAudience.into())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    //! The verifier against `jsonwebtoken::decode` on the same tokens and validations: every
    //! answer must be the same (for JSON errors, the same kind: serde names the struct it parsed).

    use super::*;
    use jsonwebtoken::{DecodingKey, decode, get_current_timestamp};
    use serde_json::{Value, json};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// `header.payload.signature` with raw JSON text, signed with `secret` by HMAC-SHA256/384/512.
    fn signed(header: &str, payload: &str, alg: Algorithm, secret: &[u8]) -> String {
        let message = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let tag = match HmacVerifier::new(alg, secret).expect("an HMAC algorithm") {
            HmacVerifier::Hs256(mac) => mac
                .chain_update(message.as_bytes())
                .finalize()
                .into_bytes()
                .to_vec(),
            HmacVerifier::Hs384(mac) => mac
                .chain_update(message.as_bytes())
                .finalize()
                .into_bytes()
                .to_vec(),
            HmacVerifier::Hs512(mac) => mac
                .chain_update(message.as_bytes())
                .finalize()
                .into_bytes()
                .to_vec(),
        };
        format!("{message}.{}", b64(&tag))
    }

    fn answer(result: Result<TokenData<Value>, Error>) -> String {
        match result {
            Ok(data) => format!("ok {:?} {}", data.header, data.claims),
            Err(e) => match e.kind() {
                ErrorKind::Json(_) => "json error".to_owned(),
                kind => format!("{kind:?}"),
            },
        }
    }

    fn validations() -> Vec<Validation> {
        let mut all = Vec::new();
        let base = || {
            let mut v = Validation::new(Algorithm::HS256);
            v.leeway = 0;
            v.validate_nbf = true;
            v.set_required_spec_claims(&["exp", "sub"]);
            v
        };
        all.push(base());
        let mut v = base();
        v.set_issuer(&["issuer", "other issuer"]);
        v.set_audience(&["api"]);
        v.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        all.push(v);
        let mut v = base();
        v.leeway = 60;
        v.reject_tokens_expiring_in_less_than = 30;
        v.sub = Some("alice".to_owned());
        all.push(v);
        let mut v = base();
        v.validate_aud = false;
        v.validate_exp = false;
        v.validate_nbf = false;
        v.required_spec_claims.clear();
        all.push(v);
        let mut v = base();
        v.algorithms = vec![Algorithm::HS256, Algorithm::RS256];
        all.push(v);
        let mut v = base();
        v.algorithms = vec![Algorithm::HS384, Algorithm::HS256];
        v.set_required_spec_claims(&["nbf", "exp"]);
        all.push(v);
        let mut v = base();
        v.algorithms = vec![Algorithm::HS512];
        all.push(v);
        all
    }

    fn corpus(now: u64) -> Vec<String> {
        let headers = [
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"alg":"HS256"}"#,
            r#"{"typ":"JWT","alg":"HS256","kid":"k1","cty":"JWT"}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"{"alg":"HS256","kid":5}"#,
            r#"{"alg":"HS256","jwk":{}}"#,
            r#"{"alg":"HS256","alg":"HS256"}"#,
            r#"{"alg":"HS256","custom":[1,2]}"#,
            r#"{"alg":"hs256"}"#,
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS384"}"#,
            r#"{"alg":"HS512"}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"typ":"JWT"}"#,
            r#"["HS256"]"#,
            r#"not json"#,
            r#""#,
        ];
        let (past, future) = (now - 1000, now + 1000);
        let payloads = vec![
            json!({"sub": "alice", "exp": future}).to_string(),
            json!({"sub": "alice", "exp": past}).to_string(),
            json!({"sub": "alice", "exp": now - 20}).to_string(),
            json!({"sub": "alice", "exp": now + 20}).to_string(),
            json!({"sub": "alice", "exp": now + 45}).to_string(),
            json!({"sub": "alice", "exp": 10}).to_string(),
            json!({"sub": "alice", "exp": future as f64 + 0.4}).to_string(),
            json!({"sub": "alice", "exp": -5}).to_string(),
            json!({"sub": "alice", "exp": "soon"}).to_string(),
            json!({"sub": "alice", "exp": 1e300}).to_string(),
            json!({"sub": "alice", "exp": null}).to_string(),
            json!({"sub": "alice"}).to_string(),
            json!({"exp": future}).to_string(),
            json!({"sub": 7, "exp": future}).to_string(),
            json!({"sub": "bob", "exp": future}).to_string(),
            json!({"sub": "alice", "exp": future, "nbf": future}).to_string(),
            json!({"sub": "alice", "exp": future, "nbf": now + 30}).to_string(),
            json!({"sub": "alice", "exp": future, "nbf": past}).to_string(),
            json!({"sub": "alice", "exp": future, "nbf": now}).to_string(),
            json!({"sub": "alice", "exp": now}).to_string(),
            json!({"sub": "alice", "exp": future, "nbf": "later"}).to_string(),
            json!({"sub": "alice", "exp": future, "iss": "issuer", "aud": "api"}).to_string(),
            json!({"sub": "alice", "exp": future, "iss": ["x", "other issuer"], "aud": ["api", "x"]})
                .to_string(),
            json!({"sub": "alice", "exp": future, "iss": "mallory", "aud": "api"}).to_string(),
            json!({"sub": "alice", "exp": future, "iss": "issuer", "aud": "web"}).to_string(),
            json!({"sub": "alice", "exp": future, "iss": "issuer", "aud": []}).to_string(),
            json!({"sub": "alice", "exp": future, "iss": [], "aud": ["web"]}).to_string(),
            json!({"sub": "alice", "exp": future, "iss": 1, "aud": 2}).to_string(),
            json!({"sub": "alice", "exp": future, "aud": "api"}).to_string(),
            json!({"sub": "alice", "exp": future, "aud": [1]}).to_string(),
            format!(r#"{{"sub":"\u0061lice","exp":{future},"iss":"\u0069ssuer","aud":["\u0061pi"]}}"#),
            format!(r#"{{"sub":"alice","exp":{future},"exp":{future}}}"#),
            format!(r#"{{"sub":"alice","exp":{future},"scopes":["a","b"],"extra":{{"x":1}}}}"#),
            "[1, 2]".to_owned(),
            "5".to_owned(),
            "{}".to_owned(),
            "{".to_owned(),
            String::new(),
        ];
        let mut tokens = Vec::new();
        for header in headers {
            for payload in &payloads {
                for alg in [Algorithm::HS256, Algorithm::HS384] {
                    let good = signed(header, payload, alg, SECRET);
                    tokens.push(signed(header, payload, alg, b"another secret, just as long...."));
                    let (message, signature) = good.rsplit_once('.').unwrap();
                    tokens.push(format!("{message}.{signature}="));
                    tokens.push(format!("{message}.{}", &signature[1..]));
                    tokens.push(format!("{message}.{signature}.x"));
                    tokens.push(format!("{message}."));
                    tokens.push(format!("{message}.!!!"));
                    tokens.push(message.to_owned());
                    tokens.push(good);
                }
            }
        }
        tokens.extend(["", ".", "..", "...", "a.b.c", "a.b", "x", " . . "].map(str::to_owned));
        tokens
    }

    fn assert_same(verifier: &HmacVerifier, key: &DecodingKey, token: &str, validation: &Validation) {
        let now = get_current_timestamp();
        let ours = verifier
            .decode::<Value>(token, validation, now)
            .unwrap_or_else(|| decode::<Value>(token, key, validation));
        let theirs = decode::<Value>(token, key, validation);
        assert_eq!(
            answer(ours),
            answer(theirs),
            "token {token}, validation {validation:?}"
        );
    }

    #[test]
    fn answers_as_jsonwebtoken_does() {
        let now = get_current_timestamp();
        let tokens = corpus(now);
        let key = DecodingKey::from_secret(SECRET);
        let mut accepted = 0;
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let verifier = HmacVerifier::new(alg, SECRET).unwrap();
            for validation in validations() {
                for token in &tokens {
                    assert_same(&verifier, &key, token, &validation);
                    accepted += usize::from(decode::<Value>(token, &key, &validation).is_ok());
                }
            }
        }
        // The corpus reaches acceptance as well as every refusal.
        assert!(accepted > 100, "{accepted} accepted");
    }

    #[test]
    fn mutated_tokens_answer_as_jsonwebtoken_does() {
        let now = get_current_timestamp();
        let good = signed(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &json!({"sub": "alice", "exp": now + 1000, "iss": "issuer", "aud": "api"}).to_string(),
            Algorithm::HS256,
            SECRET,
        );
        let key = DecodingKey::from_secret(SECRET);
        let verifier = HmacVerifier::new(Algorithm::HS256, SECRET).unwrap();
        let validations = validations();
        let alphabet = b"AZaz09-_.=+/ \"{}";
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(seed >> 33).unwrap() % n
        };
        for _ in 0..3000 {
            let mut bytes = good.clone().into_bytes();
            for _ in 0..=next(3) {
                let at = next(bytes.len());
                match next(3) {
                    0 => bytes[at] = alphabet[next(alphabet.len())],
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, alphabet[next(alphabet.len())]),
                }
            }
            let token = String::from_utf8(bytes).unwrap();
            for validation in &validations {
                assert_same(&verifier, &key, &token, validation);
            }
        }
    }

    #[test]
    fn time_limits_are_inclusive_within_the_leeway() {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 60;
        validation.validate_nbf = true;
        let (now, leeway) = (1_000_000, 60);
        let check = |claims: Value| {
            let text = claims.to_string();
            let claims: RegisteredClaims<'_> = serde_json::from_str(&text).unwrap();
            check_claims(&claims, &validation, now).map_err(|e| format!("{:?}", e.kind()))
        };
        assert_eq!(check(json!({"exp": now - leeway})), Ok(()));
        assert_eq!(
            check(json!({"exp": now - leeway - 1})),
            Err("ExpiredSignature".to_owned())
        );
        assert_eq!(check(json!({"exp": now, "nbf": now + leeway})), Ok(()));
        let immature = check(json!({"exp": now + 100, "nbf": now + leeway + 1}));
        assert_eq!(immature, Err("ImmatureSignature".to_owned()));
    }

    #[test]
    fn only_hmac_algorithms_have_a_verifier() {
        assert!(HmacVerifier::new(Algorithm::HS512, SECRET).is_some());
        assert!(HmacVerifier::new(Algorithm::RS256, SECRET).is_none());
        assert!(HmacVerifier::new(Algorithm::EdDSA, SECRET).is_none());
    }
}
