//! `create_access_token` then `decode`: a fuzzed subject, scopes, extra claims and lifetime must come
//! back as they went in; a reserved extra claim must be refused with `ReservedClaim`.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use jsonwebtoken::errors::ErrorKind;
use libfuzzer_sys::fuzz_target;
use login_fuzz::{AUDIENCE, ISSUER, plain, signed_by_us, strict};
use login_runtime::{AccessToken, MAX_TOKEN_LEN, TokenError};
use serde_json::Value;

/// The latest `exp` the crate writes or accepts: 9999-12-31T23:59:59Z.
const MAX_EXP: u64 = 253_402_300_799;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

const RESERVED: &[&str] = &["sub", "exp", "iat", "nbf", "scopes", "iss", "aud"];

#[derive(Arbitrary, Debug)]
enum Claim {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    List(Vec<String>),
}

impl Claim {
    fn value(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::from(*b),
            Self::Int(i) => Value::from(*i),
            Self::Uint(u) => Value::from(*u),
            // `From<f64>` makes NaN and the infinities `null`.
            Self::Float(f) => Value::from(*f),
            Self::Str(s) => Value::from(s.as_str()),
            Self::List(l) => Value::from(l.clone()),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    sub: String,
    scopes: Option<Vec<String>>,
    /// Names are picked from the reserved ones when `reserved` is `Some(index)`, else fuzzed.
    extra: Vec<(String, Option<u8>, Claim)>,
    /// Lifetime in seconds; `None` is the manager's default.
    expires_in: Option<u64>,
    strict: bool,
}

fuzz_target!(|input: Input| {
    let manager = if input.strict { strict() } else { plain() };
    let mut token = AccessToken::new(input.sub.clone());
    if let Some(secs) = input.expires_in {
        token = token.expires_in(Duration::from_secs(secs));
    }
    if let Some(scopes) = &input.scopes {
        token = token.scopes(scopes.iter().cloned());
    }
    let mut extra = serde_json::Map::new();
    for (name, reserved, claim) in &input.extra {
        let name = match reserved {
            Some(i) => RESERVED[usize::from(*i) % RESERVED.len()].to_owned(),
            None => name.clone(),
        };
        extra.insert(name.clone(), claim.value());
        token = token.claim(name, claim.value());
    }

    let before = now();
    let created = manager.create_access_token(token);
    let after = now();
    if let Some(reserved) = extra.keys().find(|k| RESERVED.contains(&k.as_str())) {
        match created {
            Err(TokenError::ReservedClaim(name)) => {
                assert!(
                    RESERVED.contains(&name.as_str()) && extra.contains_key(&name),
                    "{reserved}"
                );
            }
            other => panic!("reserved claim {reserved:?} not refused: {other:?}"),
        }
        return;
    }
    let lifetime = input.expires_in.unwrap_or(manager.expiry().as_secs());
    let token = match created {
        Ok(token) => {
            assert!(
                before.saturating_add(lifetime) <= MAX_EXP,
                "an exp beyond {MAX_EXP} was written"
            );
            token
        }
        // The expiry would lie beyond the year 9999.
        Err(_) if after.saturating_add(lifetime) > MAX_EXP => return,
        Err(e) => panic!("token not created: {e} ({e:?}) for {input:?}"),
    };
    assert!(signed_by_us(&token));

    let decoded = manager.decode(&token);
    if token.len() > MAX_TOKEN_LEN {
        // A subject or claims too big for the decoder's limit make a token it refuses unparsed.
        assert!(matches!(decoded, Err(TokenError::TooLong)), "{decoded:?}");
        return;
    }
    // A lifetime of a few seconds may lapse between creation and decoding (the default leeway is
    // 0), and between `decode` and `decode_claims`: only such a token may come back expired.
    let lapsed = |e: &TokenError| {
        lifetime <= 5 && matches!(e, TokenError::Jwt(e) if matches!(e.kind(), ErrorKind::ExpiredSignature))
    };
    let claims = match decoded {
        Ok(claims) => claims,
        Err(e) if lapsed(&e) => return,
        Err(e) => panic!("own token refused: {e} ({e:?}) for {input:?}"),
    };
    assert_eq!(claims.sub, input.sub);
    assert_eq!(claims.scopes, input.scopes.clone().unwrap_or_default());
    let iat = claims.iat.expect("iat is written");
    assert_eq!(claims.exp, iat.saturating_add(lifetime));

    let payload: Value = match manager.decode_claims(&token) {
        Ok(payload) => payload,
        Err(e) if lapsed(&e) => return,
        Err(e) => panic!("decode accepted what decode_claims refuses: {e} ({e:?})"),
    };
    for (name, value) in &extra {
        assert_eq!(&payload[name], value, "extra claim {name:?}");
    }
    if input.strict {
        assert_eq!(
            (&payload["iss"], &payload["aud"]),
            (&Value::from(ISSUER), &Value::from(AUDIENCE))
        );
    }
});
