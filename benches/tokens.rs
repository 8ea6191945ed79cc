//! `cargo bench --bench tokens`: the crate's token work against the hand-written floor, in one
//! process — token verification and creation against raw `jsonwebtoken` with the same key and
//! checks (HS256 and EdDSA, and EdDSA and ES256 through a key set: `kid` lookup included), the whole extractor path against a hand-written `FromRequestParts`
//! doing the same work, and password hashing at our argon2id parameters. Criterion prints the
//! times; the last lines print each pair's ratio (crate ÷ floor), measured alternately.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::{Request, request::Parts};
use criterion::{Criterion, criterion_group};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use login_runtime::{Authenticated, Claims, LoginManager, user_loader};

const SECRET: &[u8] = b"bench-secret-bench-secret-0123456789";
const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";
const ED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n";

/// Test-only keys (tests/fixtures/keys/README.md).
const SET_ED: &str = include_str!("../tests/fixtures/keys/ed25519_a.pem");
const SET_ED_PUB: &str = include_str!("../tests/fixtures/keys/ed25519_a.pub.pem");
const SET_ED_B: &str = include_str!("../tests/fixtures/keys/ed25519_b.pem");
const SET_EC: &str = include_str!("../tests/fixtures/keys/p256.pem");
const SET_EC_PUB: &str = include_str!("../tests/fixtures/keys/p256.pub.pem");

#[derive(Clone, Debug)]
struct User {
    email: String,
}

static USERS: LazyLock<HashMap<String, User>> = LazyLock::new(|| {
    HashMap::from([(
        "johndoe@e.mail".to_owned(),
        User {
            email: "johndoe@e.mail".to_owned(),
        },
    )])
});

#[user_loader]
async fn load_user(email: &str) -> Option<User> {
    USERS.get(email).cloned()
}

/// The floor: what one would write by hand with axum and jsonwebtoken.
struct HandWritten(User);

#[derive(Clone)]
struct FloorState {
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
}

impl FromRequestParts<FloorState> for HandWritten {
    type Rejection = axum::http::StatusCode;

    async fn from_request_parts(parts: &mut Parts, state: &FloorState) -> Result<Self, Self::Rejection> {
        let unauthorized = axum::http::StatusCode::UNAUTHORIZED;
        let header = parts.headers.get("authorization").ok_or(unauthorized)?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(unauthorized)?;
        let data =
            jsonwebtoken::decode::<Claims>(token, &state.key, &state.validation).map_err(|_| unauthorized)?;
        USERS
            .get(&data.claims.sub)
            .cloned()
            .map(HandWritten)
            .ok_or(unauthorized)
    }
}

fn raw_validation(alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation
}

struct Setup {
    hs: LoginManager,
    ed: LoginManager,
    hs_token: String,
    ed_token: String,
    hs_key: DecodingKey,
    ed_key: DecodingKey,
    hs_validation: Validation,
    ed_validation: Validation,
    floor: FloorState,
    runtime: tokio::runtime::Runtime,
    sets: KeySetBench,
}

/// Managers with key sets and their tokens, against raw jsonwebtoken with the same public keys.
struct KeySetBench {
    /// `[Ed25519 A, Ed25519 B]`: the token is A's, the first key.
    ed: LoginManager,
    ed_token: String,
    /// `[P-256, Ed25519 A]`: the ES256 token is the first key's; the EdDSA token, made by the
    /// `[Ed25519 A]` manager, verifies through the second key (a rotation in progress).
    ec: LoginManager,
    ec_token: String,
    ed_key: DecodingKey,
    ec_key: DecodingKey,
    ed_validation: Validation,
    ec_validation: Validation,
}

fn key_sets() -> KeySetBench {
    use login_runtime::KeySet;
    let ed = LoginManager::builder()
        .key_set(KeySet::from_pem([SET_ED, SET_ED_B]).unwrap())
        .build()
        .unwrap();
    let ec = LoginManager::builder()
        .key_set(KeySet::from_pem([SET_EC, SET_ED]).unwrap())
        .build()
        .unwrap();
    KeySetBench {
        ed_token: ed.create_access_token("johndoe@e.mail").unwrap(),
        ec_token: ec.create_access_token("johndoe@e.mail").unwrap(),
        ed,
        ec,
        ed_key: DecodingKey::from_ed_pem(SET_ED_PUB.as_bytes()).unwrap(),
        ec_key: DecodingKey::from_ec_pem(SET_EC_PUB.as_bytes()).unwrap(),
        ed_validation: raw_validation(Algorithm::EdDSA),
        ec_validation: raw_validation(Algorithm::ES256),
    }
}

fn setup() -> Setup {
    let hs = LoginManager::builder().secret(SECRET).build().unwrap();
    let ed = LoginManager::builder()
        .algorithm(Algorithm::EdDSA)
        .pem_keys(ED_PRIVATE, ED_PUBLIC)
        .build()
        .unwrap();
    let hs_token = hs.create_access_token("johndoe@e.mail").unwrap();
    let ed_token = ed.create_access_token("johndoe@e.mail").unwrap();
    Setup {
        hs_key: DecodingKey::from_secret(SECRET),
        ed_key: DecodingKey::from_ed_pem(ED_PUBLIC.as_bytes()).unwrap(),
        hs_validation: raw_validation(Algorithm::HS256),
        ed_validation: raw_validation(Algorithm::EdDSA),
        floor: FloorState {
            key: Arc::new(DecodingKey::from_secret(SECRET)),
            validation: Arc::new(raw_validation(Algorithm::HS256)),
        },
        runtime: tokio::runtime::Builder::new_current_thread().build().unwrap(),
        sets: key_sets(),
        hs,
        ed,
        hs_token,
        ed_token,
    }
}

fn parts(token: &str) -> Parts {
    Request::get("/protected")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn benches(c: &mut Criterion) {
    let s = setup();
    let mut verify = c.benchmark_group("verify");
    verify.bench_function("crate HS256", |b| {
        b.iter(|| s.hs.decode(black_box(&s.hs_token)).unwrap())
    });
    verify.bench_function("raw jsonwebtoken HS256", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<Claims>(black_box(&s.hs_token), &s.hs_key, &s.hs_validation).unwrap()
        })
    });
    verify.bench_function("crate EdDSA", |b| {
        b.iter(|| s.ed.decode(black_box(&s.ed_token)).unwrap())
    });
    verify.bench_function("raw jsonwebtoken EdDSA", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<Claims>(black_box(&s.ed_token), &s.ed_key, &s.ed_validation).unwrap()
        })
    });
    let k = &s.sets;
    verify.bench_function("crate key set EdDSA", |b| {
        b.iter(|| k.ed.decode(black_box(&k.ed_token)).unwrap())
    });
    verify.bench_function("crate key set ES256", |b| {
        b.iter(|| k.ec.decode(black_box(&k.ec_token)).unwrap())
    });
    verify.bench_function("crate key set EdDSA, second key", |b| {
        b.iter(|| k.ec.decode(black_box(&k.ed_token)).unwrap())
    });
    verify.bench_function("raw jsonwebtoken ES256", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<Claims>(black_box(&k.ec_token), &k.ec_key, &k.ec_validation).unwrap()
        })
    });
    verify.finish();

    let mut create = c.benchmark_group("create");
    let key = EncodingKey::from_secret(SECRET);
    create.bench_function("crate HS256", |b| {
        b.iter(|| s.hs.create_access_token(black_box("johndoe@e.mail")).unwrap())
    });
    create.bench_function("raw jsonwebtoken HS256", |b| {
        b.iter(|| {
            let now = now();
            let claims =
                serde_json::json!({"sub": black_box("johndoe@e.mail"), "exp": now + 900, "iat": now});
            jsonwebtoken::encode(&Header::default(), &claims, &key).unwrap()
        })
    });
    create.finish();

    let mut extract = c.benchmark_group("extractor");
    let token_parts = parts(&s.hs_token);
    extract.bench_function("crate Authenticated<User>", |b| {
        b.iter(|| {
            let mut p = token_parts.clone();
            let auth = s
                .runtime
                .block_on(Authenticated::<User>::from_request_parts(&mut p, &s.hs));
            auth.unwrap().user.email.len()
        })
    });
    extract.bench_function("hand-written FromRequestParts", |b| {
        b.iter(|| {
            let mut p = token_parts.clone();
            let user = s
                .runtime
                .block_on(HandWritten::from_request_parts(&mut p, &s.floor));
            user.unwrap().0.email.len()
        })
    });
    extract.finish();

    let mut password = c.benchmark_group("argon2id m=19456 t=2 p=1");
    password.sample_size(10).measurement_time(Duration::from_secs(5));
    let hash = login_users::password::hash("bench-password").unwrap();
    password.bench_function("hash", |b| {
        b.iter(|| login_users::password::hash(black_box("bench-password")))
    });
    password.bench_function("verify", |b| {
        b.iter(|| login_users::password::verify(black_box("bench-password"), &hash))
    });
    password.finish();

    print_ratios(&s);
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Runs `a` and `b` in alternating rounds for about `budget` and returns (ns per `a`, ns per `b`).
fn alternate(budget: Duration, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let (mut ta, mut tb, mut n) = (Duration::ZERO, Duration::ZERO, 0u32);
    let round = 2_000;
    let start = Instant::now();
    while start.elapsed() < budget {
        let t = Instant::now();
        for _ in 0..round {
            a();
        }
        ta += t.elapsed();
        let t = Instant::now();
        for _ in 0..round {
            b();
        }
        tb += t.elapsed();
        n += round;
    }
    let per = |t: Duration| t.as_nanos() as f64 / f64::from(n);
    (per(ta), per(tb))
}

fn print_ratios(s: &Setup) {
    let budget = Duration::from_secs(3);
    let token_parts = parts(&s.hs_token);
    let rows = [
        (
            "verify HS256",
            alternate(
                budget,
                || drop(black_box(s.hs.decode(black_box(&s.hs_token)))),
                || {
                    drop(black_box(jsonwebtoken::decode::<Claims>(
                        black_box(&s.hs_token),
                        &s.hs_key,
                        &s.hs_validation,
                    )))
                },
            ),
        ),
        (
            "verify EdDSA",
            alternate(
                budget,
                || drop(black_box(s.ed.decode(black_box(&s.ed_token)))),
                || {
                    drop(black_box(jsonwebtoken::decode::<Claims>(
                        black_box(&s.ed_token),
                        &s.ed_key,
                        &s.ed_validation,
                    )))
                },
            ),
        ),
        (
            "verify EdDSA, key set (kid lookup)",
            alternate(
                budget,
                || drop(black_box(s.sets.ed.decode(black_box(&s.sets.ed_token)))),
                || {
                    drop(black_box(jsonwebtoken::decode::<Claims>(
                        black_box(&s.sets.ed_token),
                        &s.sets.ed_key,
                        &s.sets.ed_validation,
                    )))
                },
            ),
        ),
        (
            "verify ES256, key set (kid lookup)",
            alternate(
                budget,
                || drop(black_box(s.sets.ec.decode(black_box(&s.sets.ec_token)))),
                || {
                    drop(black_box(jsonwebtoken::decode::<Claims>(
                        black_box(&s.sets.ec_token),
                        &s.sets.ec_key,
                        &s.sets.ec_validation,
                    )))
                },
            ),
        ),
        (
            "verify EdDSA, key set's second key (rotation)",
            alternate(
                budget,
                || drop(black_box(s.sets.ec.decode(black_box(&s.sets.ed_token)))),
                || {
                    drop(black_box(jsonwebtoken::decode::<Claims>(
                        black_box(&s.sets.ed_token),
                        &s.sets.ed_key,
                        &s.sets.ed_validation,
                    )))
                },
            ),
        ),
        (
            "extractor (header, verify, in-memory loader)",
            alternate(
                budget,
                || {
                    let mut p = token_parts.clone();
                    drop(black_box(s.runtime.block_on(
                        Authenticated::<User>::from_request_parts(&mut p, &s.hs),
                    )));
                },
                || {
                    let mut p = token_parts.clone();
                    drop(black_box(
                        s.runtime
                            .block_on(HandWritten::from_request_parts(&mut p, &s.floor)),
                    ));
                },
            ),
        ),
    ];
    println!("\nratios, crate ÷ hand-written floor (alternating rounds, {budget:?} each):");
    for (name, (ours, floor)) in rows {
        println!(
            "  {name:<48} {ours:>9.0} ns  vs {floor:>9.0} ns   ratio {:.3}",
            ours / floor
        );
    }
}

criterion_group!(all, benches);

fn main() {
    all();
    Criterion::default().configure_from_args().final_summary();
}
