//! `tokens-http.md`, "Key sets, `kid`, JWKS", against the built `users` example binary over real
//! sockets: `JWT_PRIVATE_KEYS` signs with the first key and verifies with all, tokens carry the
//! RFC 7638 `kid`, `/.well-known/jwks.json` serves the public keys (404 with HS256), unknown `kid`s
//! and foreign `alg`s are refused, rotation works across restarts, bad keys stop the start-up.
//!
//! The keys are test-only (`tests/fixtures/keys/README.md`).

mod support;
use support::binary;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use binary::{Running, users_binary};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use support::{Req, TempDir, Via};
use uuid::Uuid;

const SECRET: &str = "key-sets-test-secret-0123456789abcdefghij";
const PASSWORD: &str = "a long enough password";

fn key(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keys")
        .join(name)
}

fn keys(names: &[&str]) -> String {
    let paths: Vec<String> = names.iter().map(|n| key(n).display().to_string()).collect();
    paths.join(",")
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(key(name)).unwrap()
}

/// The example configured for the test: SQLite in `dir`, `JWT_PRIVATE_KEYS` when given, else
/// `SECRET`.
fn command(dir: &TempDir, private_keys: Option<&str>) -> Command {
    let mut cmd = Command::new(users_binary());
    cmd.current_dir(&dir.0)
        .env("DATABASE_URL", dir.db_url())
        .env("SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .env_remove("REDIS_URL")
        .env_remove("BEARER_STRATEGY")
        .env_remove("COOKIE_STRATEGY")
        .env_remove("JWT_REVOCATION")
        .env_remove("JWT_PRIVATE_KEYS")
        .stdin(Stdio::null());
    if let Some(keys) = private_keys {
        cmd.env("JWT_PRIVATE_KEYS", keys);
    }
    cmd
}

fn serve(dir: &TempDir, name: &str, private_keys: Option<&str>) -> Running {
    Running::spawn(command(dir, private_keys), dir.0.join(format!("{name}.err")))
}

fn email() -> String {
    format!("keys-{}@example.com", Uuid::new_v4().simple())
}

async fn register(http: &Via, email: &str) {
    let res = http
        .send(Req::post("/auth/register").json(&json!({"email": email, "password": PASSWORD})))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
}

async fn login(http: &Via, email: &str) -> String {
    let res = http
        .send(Req::post("/auth/jwt/login").form(&[("username", email), ("password", PASSWORD)]))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()["access_token"].as_str().unwrap().to_owned()
}

async fn me(http: &Via, token: &str) -> StatusCode {
    let res = http.send(Req::get("/users/me").bearer(token)).await;
    if res.status == StatusCode::UNAUTHORIZED {
        assert_eq!(res.json(), json!({"detail": "Unauthorized"}));
    }
    res.status
}

async fn jwks(http: &Via) -> Value {
    let res = http.send(Req::get("/.well-known/jwks.json")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()
}

fn kids(jwks: &Value) -> Vec<String> {
    let keys = jwks["keys"].as_array().unwrap();
    keys.iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The token's JOSE header, as sent.
fn header(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

fn payload(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

/// `header` and `claims` signed with `key` under `alg`, byte for byte.
fn sign(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_across_restarts_a_then_b_a_then_b() {
    let dir = TempDir::new();
    let email = email();

    // Started with A: tokens carry A's kid, the JWKS lists A alone.
    let server = serve(&dir, "a", Some(&keys(&["ed25519_a.pem"])));
    let http = server.via();
    register(&http, &email).await;
    let token_a = login(&http, &email).await;
    let kid_a = kids(&jwks(&http).await);
    assert_eq!(kid_a.len(), 1);
    assert_eq!(
        header(&token_a),
        json!({"alg": "EdDSA", "typ": "JWT", "kid": kid_a[0]})
    );
    assert_eq!(me(&http, &token_a).await, StatusCode::OK);
    drop(server);

    // Restarted with B,A: A's token still works, new tokens carry B's kid.
    let server = serve(&dir, "b-a", Some(&keys(&["p256.pem", "ed25519_a.pem"])));
    let http = server.via();
    assert_eq!(me(&http, &token_a).await, StatusCode::OK, "A's token after B,A");
    let kids_ba = kids(&jwks(&http).await);
    assert_eq!(kids_ba.len(), 2);
    assert_eq!(kids_ba[1], kid_a[0], "A is kept, second");
    let token_b = login(&http, &email).await;
    assert_eq!(
        header(&token_b),
        json!({"alg": "ES256", "typ": "JWT", "kid": kids_ba[0]})
    );
    assert_eq!(me(&http, &token_b).await, StatusCode::OK);
    drop(server);

    // Restarted with B alone: A's token is refused, B's works.
    let server = serve(&dir, "b", Some(&keys(&["p256.pem"])));
    let http = server.via();
    assert_eq!(kids(&jwks(&http).await), [kids_ba[0].clone()]);
    assert_eq!(me(&http, &token_a).await, StatusCode::UNAUTHORIZED, "A dropped");
    assert_eq!(me(&http, &token_b).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_has_every_public_key_and_no_private_parameter() {
    let dir = TempDir::new();
    let server = serve(
        &dir,
        "jwks",
        Some(&keys(&["rsa2048.pem", "ed25519_a.pem", "p256.pem"])),
    );
    let http = server.via();
    let res = http.send(Req::get("/.well-known/jwks.json")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let cache = res.header("cache-control").expect("Cache-Control");
    let max_age = cache
        .strip_prefix("public, max-age=")
        .and_then(|age| age.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("Cache-Control: {cache}"));
    assert!((60..=3600).contains(&max_age), "{cache}");
    assert!(
        res.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );

    let jwks = res.json();
    assert_eq!(jwks.as_object().unwrap().len(), 1, "only `keys`: {jwks}");
    let keys = jwks["keys"].as_array().unwrap();
    let expected = [
        ("RSA", "RS256", &["n", "e"][..]),
        ("OKP", "EdDSA", &["crv", "x"][..]),
        ("EC", "ES256", &["crv", "x", "y"][..]),
    ];
    assert_eq!(keys.len(), expected.len());
    for (jwk, (kty, alg, public)) in keys.iter().zip(expected) {
        assert_eq!(jwk["kty"], kty, "{jwk}");
        assert_eq!(jwk["alg"], alg, "{jwk}");
        assert_eq!(jwk["use"], "sig", "{jwk}");
        assert_eq!(
            jwk["kid"].as_str().unwrap().len(),
            43,
            "a SHA-256 thumbprint: {jwk}"
        );
        let mut names: Vec<&str> = jwk.as_object().unwrap().keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut allowed: Vec<&str> = ["kty", "alg", "use", "kid"]
            .into_iter()
            .chain(public.iter().copied())
            .collect();
        allowed.sort_unstable();
        assert_eq!(names, allowed, "only public parameters: {jwk}");
    }
    assert_eq!(keys[1]["crv"], "Ed25519");
    assert_eq!(keys[2]["crv"], "P-256");

    // The token of a login is signed by the first key and verifies with its JWK alone.
    let email = email();
    register(&http, &email).await;
    let token = login(&http, &email).await;
    assert_eq!(header(&token)["kid"], keys[0]["kid"]);
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(keys[0].clone()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
    validation.set_audience(&["fastapi-users:auth"]);
    let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    jsonwebtoken::decode::<Value>(&token, &decoding, &validation).expect("verifies with the JWK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_and_foreign_alg_are_refused() {
    let dir = TempDir::new();
    let server = serve(&dir, "refusals", Some(&keys(&["rsa2048.pem", "ed25519_a.pem"])));
    let http = server.via();
    let email = email();
    register(&http, &email).await;
    let token = login(&http, &email).await;
    let claims = payload(&token);
    let kid = kids(&jwks(&http).await);
    let rsa = EncodingKey::from_rsa_pem(&pem("rsa2048.pem")).unwrap();
    let ed_a = EncodingKey::from_ed_pem(&pem("ed25519_a.pem")).unwrap();
    let ed_b = EncodingKey::from_ed_pem(&pem("ed25519_b.pem")).unwrap();
    let kid_b = {
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&ed_b, Algorithm::EdDSA).unwrap();
        jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256).unwrap()
    };
    let h = |alg: &str, kid: &str| json!({"alg": alg, "typ": "JWT", "kid": kid});

    // Controls: the same claims re-signed by either key of the set, with its kid and alg, pass.
    assert_eq!(me(&http, &token).await, StatusCode::OK);
    let by_a = sign(&h("EdDSA", &kid[1]), &claims, &ed_a, Algorithm::EdDSA);
    assert_eq!(me(&http, &by_a).await, StatusCode::OK, "control: the second key");

    let public_pem = {
        let out = Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(key("rsa2048.pem"))
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    };
    let attacks = [
        (
            "a key outside the set, with its own kid",
            sign(&h("EdDSA", &kid_b), &claims, &ed_b, Algorithm::EdDSA),
        ),
        (
            "a key outside the set, with the kid of a key in it",
            sign(&h("EdDSA", &kid[1]), &claims, &ed_b, Algorithm::EdDSA),
        ),
        (
            "the Ed25519 key's signature under the RSA key's kid",
            sign(&h("EdDSA", &kid[0]), &claims, &ed_a, Algorithm::EdDSA),
        ),
        (
            "the RSA key with RS512 instead of its RS256",
            sign(&h("RS512", &kid[0]), &claims, &rsa, Algorithm::RS512),
        ),
        (
            "the RSA key with PS256 instead of its RS256",
            sign(&h("PS256", &kid[0]), &claims, &rsa, Algorithm::PS256),
        ),
        (
            "HS256 with the RSA public key as the secret, under its kid",
            sign(
                &h("HS256", &kid[0]),
                &claims,
                &EncodingKey::from_secret(&public_pem),
                Algorithm::HS256,
            ),
        ),
        (
            "HS256 with the example's SECRET, under a kid of the set",
            sign(
                &h("HS256", &kid[0]),
                &claims,
                &EncodingKey::from_secret(SECRET.as_bytes()),
                Algorithm::HS256,
            ),
        ),
        (
            "the signing key without a kid",
            sign(
                &json!({"alg": "RS256", "typ": "JWT"}),
                &claims,
                &rsa,
                Algorithm::RS256,
            ),
        ),
        (
            "a kid with path characters",
            sign(
                &h("RS256", "../../tests/fixtures/keys/rsa2048.pem"),
                &claims,
                &rsa,
                Algorithm::RS256,
            ),
        ),
        (
            "a kid that is a thumbprint with a suffix",
            sign(
                &h("RS256", &format!("{}x", kid[0])),
                &claims,
                &rsa,
                Algorithm::RS256,
            ),
        ),
        (
            "a kid that is not a string",
            sign(
                &json!({"alg": "RS256", "typ": "JWT", "kid": 1}),
                &claims,
                &rsa,
                Algorithm::RS256,
            ),
        ),
    ];
    for (attack, forged) in &attacks {
        assert_eq!(me(&http, forged).await, StatusCode::UNAUTHORIZED, "{attack}");
    }
    // The server is still up and lets the good in.
    assert_eq!(me(&http, &token).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_hs256_the_jwks_is_not_found_and_tokens_have_no_kid() {
    let dir = TempDir::new();
    let server = serve(&dir, "hs256", None);
    let http = server.via();
    let res = http.send(Req::get("/.well-known/jwks.json")).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text());
    assert_eq!(res.json(), json!({"detail": "Not Found"}));
    let email = email();
    register(&http, &email).await;
    let token = login(&http, &email).await;
    assert_eq!(header(&token), json!({"alg": "HS256", "typ": "JWT"}));
}

/// Runs the example with `JWT_PRIVATE_KEYS=value` and returns its stderr once it has exited.
fn failed_start(value: &str) -> String {
    let dir = TempDir::new();
    let mut cmd = command(&dir, Some(value));
    cmd.env("PORT", binary::free_port().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started with JWT_PRIVATE_KEYS={value}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "JWT_PRIVATE_KEYS={value}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    err
}

#[test]
fn a_bad_key_stops_the_start_naming_the_variable_and_the_file() {
    let missing = key("surely-missing.pem").display().to_string();
    for (value, file, problem) in [
        (missing.clone(), "surely-missing.pem", "cannot read"),
        (
            keys(&["ed25519_a.pem", "rsa1024.pem"]),
            "rsa1024.pem",
            "1024 bits",
        ),
        (keys(&["p384.pem"]), "p384.pem", "P-256"),
        (keys(&["ed25519_a.pub.pem"]), "ed25519_a.pub.pem", "private key"),
    ] {
        let err = failed_start(&value);
        for needle in ["JWT_PRIVATE_KEYS", file, problem] {
            assert!(
                err.contains(needle),
                "JWT_PRIVATE_KEYS={value}: no `{needle}` in:\n{err}"
            );
        }
    }
    let err = failed_start(",");
    assert!(err.contains("JWT_PRIVATE_KEYS") && err.contains("empty"), "{err}");
}

/// `#[login_config(private_keys = [..])]`: files the macro checked while compiling, compiled in.
#[login_runtime::login_config(private_keys = [
    "tests/fixtures/keys/ed25519_b.pem",
    "tests/fixtures/keys/ed25519_a.pem",
])]
struct KeySetAuth;

#[test]
fn login_config_key_set_signs_with_the_first_file_and_verifies_with_both() {
    let manager = KeySetAuth::manager().unwrap();
    let jwks = serde_json::to_value(manager.jwks().unwrap()).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let token = manager.create_access_token("ann").unwrap();
    assert_eq!(header(&token)["kid"], jwks["keys"][0]["kid"]);
    let old = login_runtime::LoginManager::builder()
        .private_key_files([key("ed25519_a.pem")])
        .build()
        .unwrap();
    let old_token = old.create_access_token("ann").unwrap();
    assert_eq!(manager.decode(&old_token).unwrap().sub, "ann");
}
