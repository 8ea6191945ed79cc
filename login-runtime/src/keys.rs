//! Key sets: several asymmetric private keys, each named by its RFC 7638 thumbprint (`kid`). The
//! first signs; every one verifies; their public halves are served as a JWKS.

use std::fmt;
use std::path::Path;

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};

/// The smallest RSA modulus accepted in a key set, in bits (NIST SP 800-131A).
pub const MIN_RSA_BITS: usize = 2048;

/// One key of a [`KeySet`].
pub(crate) struct SetKey {
    pub(crate) kid: String,
    pub(crate) algorithm: Algorithm,
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
}

/// An ordered set of private keys: Ed25519 (EdDSA), P-256 (ES256) or RSA of at least
/// [`MIN_RSA_BITS`] bits (RS256), read from PEM.
///
/// The **first** key signs new tokens and writes its `kid` (the RFC 7638 SHA-256 thumbprint of its
/// public JWK) into their header; **every** key verifies. A token whose `kid` is missing or names
/// no key of the set, or whose `alg` is not its key's, is refused; nothing from the token (no
/// `jwk`, `jku`, `x5u`) is ever used as a key. Rotate by putting a new key first, keeping the old
/// one until every token it signed has expired, then dropping it.
///
/// ```
/// use login_runtime::{KeySet, LoginManager};
///
/// # let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/keys");
/// # let (new, old) = (format!("{dir}/ed25519_b.pem"), format!("{dir}/ed25519_a.pem"));
/// let keys = KeySet::from_pem_files([new, old])?;
/// let manager = LoginManager::builder().key_set(keys).build()?;
/// let token = manager.create_access_token("ann")?;
/// assert_eq!(manager.decode(&token)?.sub, "ann");
/// let jwks = manager.jwks().expect("a key set has a JWKS");
/// assert_eq!(jwks.keys.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KeySet {
    pub(crate) keys: Vec<SetKey>,
    jwks: JwkSet,
}

/// Why a key set could not be made: which key (its position, or its file) and what is wrong.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySetError {
    key: String,
    problem: String,
}

impl KeySetError {
    fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// Which key is wrong: `key 2` (counting from 1) or `file keys/b.pem`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

impl fmt::Display for KeySetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

impl fmt::Debug for KeySetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for KeySetError {}

impl KeySet {
    /// A key set from PEM private keys (PKCS#8 `PRIVATE KEY`, or PKCS#1 `RSA PRIVATE KEY`), the
    /// signing key first. The algorithm of each key follows from its type.
    pub fn from_pem<I, P>(pems: I) -> Result<Self, KeySetError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        let named = pems
            .into_iter()
            .enumerate()
            .map(|(i, pem)| (format!("key {}", i + 1), pem));
        Self::from_named(named)
    }

    /// A key set from PEM files, the signing key first. The error names the file.
    pub fn from_pem_files<I, P>(paths: I) -> Result<Self, KeySetError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        let mut named = Vec::new();
        for path in paths {
            let path = path.as_ref();
            let name = format!("file `{}`", path.display());
            let pem =
                std::fs::read(path).map_err(|e| KeySetError::new(&name, format!("cannot read it: {e}")))?;
            named.push((name, pem));
        }
        Self::from_named(named)
    }

    fn from_named<P: AsRef<[u8]>>(named: impl IntoIterator<Item = (String, P)>) -> Result<Self, KeySetError> {
        let mut keys = Vec::<SetKey>::new();
        let mut jwks = JwkSet { keys: Vec::new() };
        for (name, pem) in named {
            let (key, jwk) = read_key(pem.as_ref()).map_err(|p| KeySetError::new(&name, p))?;
            if keys.iter().any(|k| k.kid == key.kid) {
                return Err(KeySetError::new(&name, "is listed twice"));
            }
            keys.push(key);
            jwks.keys.push(jwk);
        }
        if keys.is_empty() {
            return Err(KeySetError::new(
                "key set",
                "is empty: give at least one private key",
            ));
        }
        Ok(Self { keys, jwks })
    }

    /// The public JWK of every key, in order: `kty`, the public parameters, `kid`, `alg`,
    /// `use: "sig"`, never a private parameter.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// The `kid` of every key, the signing key's first.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    pub(crate) fn signing(&self) -> &SetKey {
        &self.keys[0]
    }

    /// The key a token names: by its `kid`, and only when its `alg` is the key's.
    pub(crate) fn verifying(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<&SetKey, jsonwebtoken::errors::Error> {
        use jsonwebtoken::errors::ErrorKind;
        let kid = kid.ok_or(ErrorKind::InvalidToken)?;
        let key = (self.keys.iter())
            .find(|k| k.kid == kid)
            .ok_or(ErrorKind::InvalidToken)?;
        if key.algorithm != alg {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        Ok(key)
    }

    /// `validation` for `key`: the same claim checks, with the key's one algorithm (jsonwebtoken
    /// refuses a validation that lists algorithms of another family than the key's).
    pub(crate) fn validation_for<'v>(
        key: &SetKey,
        validation: &'v Validation,
        scratch: &'v mut Option<Validation>,
    ) -> &'v Validation {
        if validation.algorithms == [key.algorithm] {
            return validation;
        }
        let mut own = validation.clone();
        own.algorithms = vec![key.algorithm];
        scratch.insert(own)
    }
}

impl Clone for KeySet {
    fn clone(&self) -> Self {
        let keys = (self.keys.iter())
            .map(|k| SetKey {
                kid: k.kid.clone(),
                algorithm: k.algorithm,
                encoding: k.encoding.clone(),
                decoding: k.decoding.clone(),
            })
            .collect();
        Self {
            keys,
            jwks: self.jwks.clone(),
        }
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<_> = (self.keys.iter())
            .map(|k| (k.algorithm, k.kid.as_str()))
            .collect();
        f.debug_struct("KeySet").field("keys", &keys).finish()
    }
}

/// Reads one PEM private key: its algorithm from its type, its public JWK with `kid`, `alg` and
/// `use`, and a decoding key made from that public JWK alone.
fn read_key(pem: &[u8]) -> Result<(SetKey, Jwk), String> {
    let text = String::from_utf8_lossy(pem);
    if !text.contains("PRIVATE KEY-----") {
        return Err(
            "is not a PEM private key (`-----BEGIN PRIVATE KEY-----`): a key set holds \
                    private keys, the first signs"
                .to_owned(),
        );
    }
    let (algorithm, encoding) = if let Ok(key) = EncodingKey::from_ed_pem(pem) {
        (Algorithm::EdDSA, key)
    } else if let Ok(key) = EncodingKey::from_ec_pem(pem) {
        (Algorithm::ES256, key)
    } else if let Ok(key) = EncodingKey::from_rsa_pem(pem) {
        (Algorithm::RS256, key)
    } else if text.contains("-----BEGIN EC PRIVATE KEY-----") {
        return Err(
            "is a SEC1 `EC PRIVATE KEY`; convert it to PKCS#8 with `openssl pkcs8 -topk8 \
                    -nocrypt -in key.pem -out key.pkcs8.pem`"
                .to_owned(),
        );
    } else if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(
            "is encrypted; give the key unencrypted (`openssl pkey -in key.pem -out \
                    plain.pem`) and protect the file instead"
                .to_owned(),
        );
    } else {
        return Err("is not an Ed25519, P-256 or RSA private key in PEM".to_owned());
    };
    let mut jwk = Jwk::from_encoding_key(&encoding, algorithm).map_err(|e| match algorithm {
        Algorithm::ES256 => "is an elliptic-curve key, but not on P-256 (only P-256 / ES256 is \
                             supported)"
            .to_owned(),
        _ => format!("is not a usable {algorithm:?} key: {e}"),
    })?;
    if let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = &jwk.algorithm {
        let bits = rsa_bits(&rsa.n);
        if bits < MIN_RSA_BITS {
            return Err(format!(
                "is an RSA key of {bits} bits; at least {MIN_RSA_BITS} are required (make one with \
                 `openssl genpkey -algorithm ed25519`, or RSA with `-pkeyopt rsa_keygen_bits:3072`)"
            ));
        }
    }
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| format!("has no RFC 7638 thumbprint: {e}"))?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| format!("has no usable public key: {e}"))?;
    let key = SetKey {
        kid,
        algorithm,
        encoding,
        decoding,
    };
    Ok((key, jwk))
}

/// The size in bits of a base64url big-endian modulus.
fn rsa_bits(n: &str) -> usize {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(n)
        .unwrap_or_default();
    let bytes: Vec<u8> = bytes.into_iter().skip_while(|b| *b == 0).collect();
    match bytes.first() {
        Some(first) => bytes.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/../tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(path).unwrap()
    }

    #[test]
    fn each_key_type_gets_its_algorithm_and_a_thumbprint_kid() {
        for (file, alg, kty) in [
            ("ed25519_a.pem", Algorithm::EdDSA, "OKP"),
            ("p256.pem", Algorithm::ES256, "EC"),
            ("rsa2048.pem", Algorithm::RS256, "RSA"),
        ] {
            let set = KeySet::from_pem([fixture(file)]).unwrap();
            let key = set.signing();
            assert_eq!(key.algorithm, alg, "{file}");
            let jwk = serde_json::to_value(&set.jwks().keys[0]).unwrap();
            assert_eq!(jwk["kty"], kty, "{file}");
            assert_eq!(jwk["kid"], key.kid.as_str(), "{file}");
            assert_eq!(jwk["use"], "sig", "{file}");
            assert_eq!(key.kid.len(), 43, "SHA-256, base64url without padding: {file}");
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(jwk.get(private).is_none(), "{file} leaks `{private}`: {jwk}");
            }
        }
    }

    /// RFC 7638 §3 by hand for an OKP key: SHA-256 over `{"crv","kty","x"}` in that order.
    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        use base64::Engine;
        use sha2::Digest;
        let set = KeySet::from_pem([fixture("ed25519_a.pem")]).unwrap();
        let jwk = serde_json::to_value(&set.jwks().keys[0]).unwrap();
        let x = jwk["x"].as_str().unwrap();
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let expected =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical));
        assert_eq!(set.signing().kid, expected);
    }

    #[test]
    fn weak_or_unsupported_keys_are_refused_with_their_position() {
        let err = KeySet::from_pem([fixture("ed25519_a.pem"), fixture("rsa1024.pem")]).unwrap_err();
        assert_eq!(err.key(), "key 2");
        assert!(err.problem().contains("1024 bits"), "{err}");
        let err = KeySet::from_pem([fixture("p384.pem")]).unwrap_err();
        assert!(err.problem().contains("P-256"), "{err}");
        let err = KeySet::from_pem([fixture("ed25519_a.pub.pem")]).unwrap_err();
        assert!(err.problem().contains("private key"), "{err}");
        let err = KeySet::from_pem([b"not a key".as_slice()]).unwrap_err();
        assert!(err.problem().contains("PEM"), "{err}");
        let err = KeySet::from_pem([fixture("p256.pem"), fixture("p256.pem")]).unwrap_err();
        assert!(err.problem().contains("twice"), "{err}");
        assert!(KeySet::from_pem(Vec::<Vec<u8>>::new()).is_err());
        let err = KeySet::from_pem_files(["/surely/not/here.pem"]).unwrap_err();
        assert!(err.key().contains("/surely/not/here.pem"), "{err}");
    }

    #[test]
    fn pkcs1_rsa_is_read_and_sec1_ec_gets_a_conversion_hint() {
        let set = KeySet::from_pem([fixture("rsa2048_pkcs1.pem")]).unwrap();
        assert_eq!(set.signing().algorithm, Algorithm::RS256);
        let err = KeySet::from_pem([fixture("p256_sec1.pem")]).unwrap_err();
        assert!(err.problem().contains("openssl pkcs8 -topk8"), "{err}");
    }

    #[test]
    fn lookup_needs_the_kid_and_the_keys_own_algorithm() {
        let set = KeySet::from_pem([fixture("ed25519_a.pem"), fixture("p256.pem")]).unwrap();
        let kids: Vec<String> = set.kids().map(str::to_owned).collect();
        assert!(set.verifying(Some(&kids[1]), Algorithm::ES256).is_ok());
        assert!(set.verifying(Some(&kids[1]), Algorithm::EdDSA).is_err());
        assert!(set.verifying(Some(&kids[0]), Algorithm::HS256).is_err());
        assert!(set.verifying(None, Algorithm::EdDSA).is_err());
        assert!(set.verifying(Some("../../etc/passwd"), Algorithm::EdDSA).is_err());
    }

    fn manager(files: &[&str]) -> crate::LoginManager {
        let set = KeySet::from_pem(files.iter().map(|f| fixture(f))).unwrap();
        crate::LoginManager::builder().key_set(set).build().unwrap()
    }

    fn header(token: &str) -> Vec<u8> {
        use base64::Engine;
        let part = token.split('.').next().unwrap();
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap()
    }

    #[test]
    fn the_first_key_signs_with_its_kid_after_pyjwts_fields() {
        for (files, alg) in [
            (&["ed25519_a.pem", "p256.pem"][..], "EdDSA"),
            (&["p256.pem", "rsa2048.pem"][..], "ES256"),
            (&["rsa2048.pem", "ed25519_a.pem"][..], "RS256"),
        ] {
            let m = manager(files);
            let token = m.create_access_token("ann").unwrap();
            let kid = m.signing_kid().unwrap();
            let expected = format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"{kid}"}}"#);
            assert_eq!(String::from_utf8(header(&token)).unwrap(), expected);
            assert_eq!(m.decode(&token).unwrap().sub, "ann");
        }
    }

    #[test]
    fn rotation_old_key_verifies_while_listed_then_not() {
        let old = manager(&["ed25519_a.pem"]);
        let token = old.create_access_token("ann").unwrap();
        // Another family first: the old EdDSA token still verifies through its own key.
        let rotated = manager(&["p256.pem", "ed25519_a.pem"]);
        assert_eq!(rotated.decode(&token).unwrap().sub, "ann");
        assert!(
            header(&rotated.create_access_token("ann").unwrap())
                .ends_with(format!(r#""kid":"{}"}}"#, rotated.signing_kid().unwrap()).as_bytes())
        );
        let dropped = manager(&["p256.pem"]);
        assert!(dropped.decode(&token).is_err());
    }

    #[test]
    fn no_kid_unknown_kid_and_wrong_alg_are_refused() {
        use jsonwebtoken::{Header, encode};
        let m = manager(&["ed25519_a.pem", "p256.pem"]);
        let claims = serde_json::json!({"sub": "ann", "exp": crate::token::now() + 600});
        let ed = EncodingKey::from_ed_pem(&fixture("ed25519_a.pem")).unwrap();
        let kids: Vec<String> = m
            .jwks()
            .unwrap()
            .keys
            .iter()
            .map(|k| k.common.key_id.clone().unwrap())
            .collect();
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(kids[0].clone());
        assert!(
            m.decode(&encode(&h, &claims, &ed).unwrap()).is_ok(),
            "the control must pass"
        );
        h.kid = None;
        assert!(m.decode(&encode(&h, &claims, &ed).unwrap()).is_err(), "no kid");
        h.kid = Some("../keys/ed25519_a.pem".into());
        assert!(m.decode(&encode(&h, &claims, &ed).unwrap()).is_err(), "path kid");
        // The Ed25519 key's signature, sent as the P-256 key's.
        h.kid = Some(kids[1].clone());
        assert!(
            m.decode(&encode(&h, &claims, &ed).unwrap()).is_err(),
            "other key's kid"
        );
        // The RSA key's own signature, but with RS512 instead of its RS256.
        let m = manager(&["rsa2048.pem"]);
        let rsa = EncodingKey::from_rsa_pem(&fixture("rsa2048.pem")).unwrap();
        let mut h = Header::new(Algorithm::RS256);
        h.kid = m.signing_kid().map(str::to_owned);
        assert!(
            m.decode(&encode(&h, &claims, &rsa).unwrap()).is_ok(),
            "the control must pass"
        );
        for alg in [Algorithm::RS512, Algorithm::PS256] {
            h.alg = alg;
            assert!(m.decode(&encode(&h, &claims, &rsa).unwrap()).is_err(), "{alg:?}");
        }
    }

    #[test]
    fn other_audiences_verify_through_the_set_too() {
        let m = manager(&["p256.pem", "ed25519_a.pem"]);
        let old = manager(&["ed25519_a.pem"]);
        let exp = crate::token::now() + 600;
        let token = old
            .encode_claims(&serde_json::json!({"sub": "ann", "exp": exp, "aud": "other"}))
            .unwrap();
        let validation = {
            let mut v = m.validation().clone();
            v.set_audience(&["other"]);
            v
        };
        let claims: crate::Claims = m.decode_with(&token, &validation).unwrap();
        assert_eq!(claims.sub, "ann");
        assert!(m.decode(&token).is_err(), "an audience the manager does not take");
    }

    #[test]
    fn builder_reads_files_and_names_the_bad_one() {
        let dir = format!("{}/../tests/fixtures/keys", env!("CARGO_MANIFEST_DIR"));
        let m = crate::LoginManager::builder()
            .private_key_files([format!("{dir}/ed25519_b.pem"), format!("{dir}/ed25519_a.pem")])
            .build()
            .unwrap();
        assert_eq!(m.jwks().unwrap().keys.len(), 2);
        assert_eq!(m.algorithm(), Algorithm::EdDSA);
        let err = crate::LoginManager::builder()
            .private_key_files([format!("{dir}/ed25519_b.pem"), format!("{dir}/rsa1024.pem")])
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "private_keys");
        assert!(err.to_string().contains("rsa1024.pem"), "{err}");
        // An `algorithm` would be ignored: each key's type sets its own. Said, not ignored.
        let err = crate::LoginManager::builder()
            .algorithm(Algorithm::RS256)
            .private_key_files([format!("{dir}/ed25519_a.pem")])
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "algorithm");
        let hs = crate::LoginManager::builder().secret([7u8; 32]).build().unwrap();
        assert!(hs.jwks().is_none() && hs.signing_kid().is_none());
    }
}
