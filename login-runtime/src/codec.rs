//! [`Codec`]: a manager's keys and the rules its tokens follow, for signing new tokens and
//! strictly verifying received ones. [`LoginManager`](crate::LoginManager)'s token methods hand
//! their work to it.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation, decode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::hmac_verifier::HmacVerifier;
use crate::keys::KeySet;
use crate::token::{AccessToken, Claims, MAX_EXP, TimedClaims, TokenError, now};

/// Claims this crate writes itself; [`AccessToken::claim`] cannot override them.
const RESERVED: &[&str] = &["sub", "exp", "iat", "nbf", "scopes", "iss", "aud"];

/// The keys a [`Codec`] signs and verifies with.
pub(crate) enum Keys {
    /// One key (an HMAC secret or a PEM pair) for one algorithm; tokens carry no `kid`.
    Single {
        encoding: EncodingKey,
        decoding: DecodingKey,
        algorithm: Algorithm,
    },
    /// A key set: its first key signs and writes its `kid`, every key verifies its own tokens.
    Set(KeySet),
}

/// The rules a [`Codec`]'s tokens follow; the builder has checked them.
pub(crate) struct Rules {
    /// The lifetime of new tokens.
    pub(crate) expiry: Duration,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub(crate) leeway: u64,
    /// The `iss` written and required.
    pub(crate) issuer: Option<String>,
    /// The `aud` written and required.
    pub(crate) audience: Option<String>,
    /// Tokens longer than this are refused unparsed.
    pub(crate) max_token_len: usize,
    /// The longest lifetime accepted and made, in seconds.
    pub(crate) max_lifetime: Option<u64>,
}

/// Signs and verifies a manager's tokens: the keys, the one algorithm, the `Validation` made from
/// the [`Rules`] once, and the checks jsonwebtoken does not make.
pub(crate) struct Codec {
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    algorithm: Algorithm,
    /// The single HMAC secret, keyed once: verifies what `decoding_key` would, without keying a
    /// new HMAC per token.
    hmac: Option<HmacVerifier>,
    /// The key set, when one replaces the single key: `kid` in, `kid` out, JWKS.
    key_set: Option<KeySet>,
    validation: Validation,
    rules: Rules,
}

#[derive(Serialize)]
struct Outgoing<'a> {
    sub: &'a str,
    exp: u64,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

impl Codec {
    /// A codec of these keys and rules; the `Validation` pins the keys' algorithm, requires `exp`
    /// and `sub` (and `iss`/`aud` when the rules name them) and checks `nbf` within the leeway.
    pub(crate) fn new(keys: Keys, rules: Rules) -> Self {
        let (encoding_key, decoding_key, algorithm, key_set) = match keys {
            Keys::Single {
                encoding,
                decoding,
                algorithm,
            } => (encoding, decoding, algorithm, None),
            Keys::Set(set) => {
                let first = set.signing();
                let (encoding, decoding, algorithm) =
                    (first.encoding.clone(), first.decoding.clone(), first.algorithm);
                (encoding, decoding, algorithm, Some(set))
            }
        };
        let hmac = match key_set {
            None => decoding_key
                .try_get_as_bytes()
                .ok()
                .and_then(|secret| HmacVerifier::new(algorithm, secret)),
            Some(_) => None,
        };
        let mut validation = Validation::new(algorithm);
        let mut required = vec!["exp", "sub"];
        validation.validate_nbf = true;
        validation.leeway = rules.leeway;
        if let Some(iss) = &rules.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        // With no audience configured, jsonwebtoken refuses every token that carries an `aud`.
        if let Some(aud) = &rules.audience {
            validation.set_audience(&[aud]);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        Self {
            encoding_key,
            decoding_key,
            algorithm,
            hmac,
            key_set,
            validation,
            rules,
        }
    }

    /// The algorithm tokens are signed and verified with.
    pub(crate) fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key set, when the codec has one.
    pub(crate) fn key_set(&self) -> Option<&KeySet> {
        self.key_set.as_ref()
    }

    /// The key set's public keys as a JWK set.
    pub(crate) fn jwks(&self) -> Option<&JwkSet> {
        self.key_set.as_ref().map(KeySet::jwks)
    }

    /// The `kid` new tokens carry: the signing key's, with a key set.
    pub(crate) fn signing_kid(&self) -> Option<&str> {
        self.key_set.as_ref().map(|set| set.signing().kid.as_str())
    }

    /// The rules the codec was made with.
    pub(crate) fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Signs `token` with `sub`, `exp`, `iat`, `scopes` (when granted), the rules' `iss`/`aud`
    /// and the extra claims; refuses a reserved extra claim and a lifetime over the maximum.
    pub(crate) fn create_access_token(&self, token: AccessToken) -> Result<String, TokenError> {
        if let Some(reserved) = token.extra.keys().find(|k| RESERVED.contains(&k.as_str())) {
            return Err(TokenError::ReservedClaim(reserved.clone()));
        }
        let iat = now();
        let lifetime = token.expires_in.unwrap_or(self.rules.expiry).as_secs();
        if self.rules.max_lifetime.is_some_and(|max| lifetime > max) {
            return Err(TokenError::LifetimeTooLong);
        }
        let exp = iat.saturating_add(lifetime);
        if exp > MAX_EXP {
            return Err(TokenError::ExpiryOutOfRange);
        }
        let claims = Outgoing {
            sub: &token.sub,
            exp,
            iat,
            scopes: token.scopes.as_deref(),
            iss: self.rules.issuer.as_deref(),
            aud: self.rules.audience.as_deref(),
            extra: &token.extra,
        };
        self.encode_claims(&claims)
    }

    /// Verifies `token` with the codec's own validation.
    pub(crate) fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        self.decode_with(token, &self.validation)
    }

    /// Verifies `token` with `validation`, into `T`: the size limit first, jsonwebtoken's checks
    /// (made by the keyed [`HmacVerifier`] for a single secret, with the key a key set's `kid`
    /// names otherwise), then `crit`, a future `iat`, `exp`'s range and the maximum lifetime.
    pub(crate) fn decode_with<T: DeserializeOwned + TimedClaims>(
        &self,
        token: &str,
        validation: &Validation,
    ) -> Result<T, TokenError> {
        if token.len() > self.rules.max_token_len {
            return Err(TokenError::TooLong);
        }
        let now = now();
        let fast = self
            .hmac
            .as_ref()
            .and_then(|hmac| hmac.decode::<T>(token, validation, now));
        let data = match (fast, &self.key_set) {
            (Some(verified), _) => verified?,
            (None, None) => decode::<T>(token, &self.decoding_key, validation)?,
            (None, Some(set)) => {
                // The key the token names, by `kid`, and only for that key's own `alg`.
                let header = jsonwebtoken::decode_header(token)?;
                let key = set.verifying(header.kid.as_deref(), header.alg)?;
                let mut scratch = None;
                let validation = KeySet::validation_for(key, validation, &mut scratch);
                decode::<T>(token, &key.decoding, validation)?
            }
        };
        if data.header.crit.is_some() {
            return Err(TokenError::CriticalHeader);
        }
        let leeway = self.rules.leeway;
        let iat = data.claims.iat();
        if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
            return Err(TokenError::IssuedInFuture);
        }
        if let Some(exp) = data.claims.exp() {
            if exp > MAX_EXP {
                return Err(TokenError::ExpiryOutOfRange);
            }
            if let Some(max) = self.rules.max_lifetime {
                // Without `iat` (FastAPI Users writes none) the token lives at least until `exp`
                // from now; the issuer's clock may run ahead by the leeway.
                let (start, slack) = iat.map_or((now, leeway), |iat| (iat, 0));
                if exp.saturating_sub(start) > max.saturating_add(slack) {
                    return Err(TokenError::LifetimeTooLong);
                }
            }
        }
        Ok(data.claims)
    }

    /// The validation [`decode`](Self::decode) uses.
    pub(crate) fn validation(&self) -> &Validation {
        &self.validation
    }

    /// The codec's validation for tokens of another audience.
    pub(crate) fn validation_for(&self, audience: &str) -> Validation {
        let mut validation = self.validation.clone();
        validation.set_audience(&[audience]);
        validation
    }

    /// Signs `claims` as they are, with the header PyJWT writes.
    pub(crate) fn encode_claims<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        // The header as PyJWT writes it (`alg` before `typ`), so tokens match FastAPI Users' and
        // fastapi-login's byte for byte; jsonwebtoken's `Header` puts `typ` first.
        #[derive(Serialize)]
        struct JwsHeader<'a> {
            alg: Algorithm,
            typ: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            kid: Option<&'a str>,
        }
        let header = JwsHeader {
            alg: self.algorithm,
            typ: "JWT",
            kid: self.signing_kid(),
        };
        let part = |json: Vec<u8>| URL_SAFE_NO_PAD.encode(json);
        let message = format!(
            "{}.{}",
            part(serde_json::to_vec(&header).map_err(jsonwebtoken::errors::Error::from)?),
            part(serde_json::to_vec(claims).map_err(jsonwebtoken::errors::Error::from)?)
        );
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding_key, header.alg)?;
        Ok(format!("{message}.{signature}"))
    }

    /// Verifies `token` like [`decode`](Self::decode), then reads its payload as `T`.
    pub(crate) fn decode_claims<T: DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
        self.decode(token)?;
        // The signature and every claim check passed just above.
        Ok(jsonwebtoken::dangerous::insecure_decode_claims::<T>(token)?)
    }
}
