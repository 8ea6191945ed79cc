//! Arbitrary bytes as a token: `LoginManager::decode` must never panic, and may accept only a
//! token carrying this key's signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use login_fuzz::{AUDIENCE, ISSUER, plain, signed_by_us, strict};

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    for (manager, strict) in [(plain(), false), (strict(), true)] {
        let decoded = manager.decode(&token);
        let as_value = manager.decode_claims::<serde_json::Value>(&token);
        assert_eq!(
            decoded.is_ok(),
            as_value.is_ok(),
            "decode and decode_claims disagree"
        );
        let Ok(claims) = decoded else { continue };
        assert!(
            signed_by_us(&token),
            "accepted a token without our signature: {token:?}"
        );
        let payload = as_value.unwrap();
        assert_eq!(payload["sub"].as_str(), Some(claims.sub.as_str()));
        assert_eq!(payload["exp"].as_u64(), Some(claims.exp));
        if strict {
            assert_eq!(payload["iss"], ISSUER);
            assert!(
                payload["aud"] == AUDIENCE
                    || payload["aud"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|v| v == AUDIENCE)),
                "wrong audience accepted: {payload}"
            );
        } else {
            assert!(
                payload.get("aud").is_none(),
                "an audience accepted by a manager with none"
            );
        }
    }
});
