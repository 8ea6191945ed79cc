//! One email folding everywhere (issue 11, item 2), over a real socket on SQLite and PostgreSQL:
//! the spellings of one mailbox (ASCII case, the Kelvin sign, a fullwidth or `xn--` domain) are
//! one account, one login throttle and one mail quota; spellings that are other addresses (the
//! dotted capital I, a non-ASCII capital in the local part) are other accounts on both stores;
//! control characters in a login name are a counted failure, never a 5xx; and a database written
//! by an older version (emails not in canonical form) is rewritten at start-up, or refused naming
//! `DATABASE_URL` when two rows are one mailbox.

mod support;
use support::users_db;

use std::str::FromStr;

use axum::http::StatusCode;
use login_users::{PostgresStore, SqliteStore, UserStore, Users};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use support::{Req, Res, TempDir, Via};
use users_db::{PgSchema, StoreKind, TestDb, on_both_stores};
use uuid::Uuid;

const SECRET: &str = "email-folding-secret-0123456789abcdef!";
const PASSWORD: &str = "guinevere-1";

/// The `users` example's app on a fresh database of `kind`, served on a loopback socket, with the
/// default throttle (5 free failures per email and client, 3 mails per email and route).
async fn serve(kind: &StoreKind) -> (Via, TestDb) {
    let db = TestDb::empty(kind).await;
    let users = Users::builder(db.store.clone()).secret(SECRET).build().unwrap();
    (Via::http(users_example::app(users)).await, db)
}

/// A fresh local part of ASCII letters `k` and `i` around a random tag, so that parallel runs
/// (and other engineers' tests on the same PostgreSQL) never meet.
fn fresh(prefix: &str) -> String {
    format!("{prefix}-{}", &Uuid::new_v4().simple().to_string()[..12])
}

async fn register(via: &Via, email: &str) -> Res {
    via.send(Req::post("/auth/register").json(&json!({ "email": email, "password": PASSWORD })))
        .await
}

async fn login(via: &Via, username: &str, password: &str) -> Res {
    via.send(Req::post("/auth/jwt/login").form(&[("username", username), ("password", password)]))
        .await
}

fn assert_status(res: &Res, status: StatusCode, context: &str) {
    assert_eq!(res.status, status, "{context}: {}", res.text());
}

fn assert_detail(res: &Res, status: StatusCode, detail: &str, context: &str) {
    assert_status(res, status, context);
    assert_eq!(res.json(), json!({ "detail": detail }), "{context}");
}

/// The Kelvin sign (U+212A) is canonically `K`; fullwidth letters and dots in a domain, and its
/// ASCII case, map to ASCII: every such spelling logs into the one account, and every one of them
/// counts against the one login throttle (the issue: each spelling had 5 free guesses of its own).
async fn spellings_of_one_mailbox_share_the_login_throttle(kind: StoreKind) {
    let (via, _db) = serve(&kind).await;
    let local = fresh("kiki");
    let email = format!("{local}@example.com");
    assert_status(&register(&via, &email).await, StatusCode::CREATED, "register");
    let kelvin = format!("\u{212A}{}@example.com", &local[1..]);
    let spellings = [
        format!("{}@EXAMPLE.COM", local.to_ascii_uppercase()),
        kelvin.clone(),
        format!("{local}@\u{FF45}xample.com"),
        format!("{local}@example\u{FF0E}com"),
        format!("{local}@Example\u{3002}Com"),
    ];
    for spelling in &spellings {
        let res = login(&via, spelling, PASSWORD).await;
        assert_status(&res, StatusCode::OK, &format!("right password as {spelling:?}"));
    }
    // Six failures (the five free ones and the one that starts the backoff), in every spelling.
    for spelling in spellings.iter().chain([&email]) {
        let res = login(&via, spelling, "wrong-password").await;
        assert_detail(
            &res,
            StatusCode::BAD_REQUEST,
            "LOGIN_BAD_CREDENTIALS",
            &format!("wrong password as {spelling:?}"),
        );
    }
    // Six failures of one mailbox, whatever the spelling: the next attempt is refused, in
    // every spelling, before its password is looked at.
    for spelling in spellings.iter().chain([&email, &kelvin]) {
        let res = login(&via, spelling, PASSWORD).await;
        assert_detail(
            &res,
            StatusCode::TOO_MANY_REQUESTS,
            "LOGIN_TOO_MANY_ATTEMPTS",
            &format!("sixth attempt as {spelling:?}"),
        );
    }
}

/// `İ` (U+0130) and `Ä` are not canonically `i` and `ä`: a local part that differs from a user's
/// only by them is another address on both stores (RFC 5321: the local part is the mailbox's to
/// interpret). PostgreSQL's `lower()` folded them, so `kİki@…` logged into `kiki@…`.
async fn non_ascii_case_in_the_local_part_is_another_address(kind: StoreKind) {
    let (via, _db) = serve(&kind).await;
    let local = fresh("kiki");
    let email = format!("{local}@example.com");
    assert_status(&register(&via, &email).await, StatusCode::CREATED, "register");
    let dotted = format!("k\u{130}{}@example.com", &local[2..]);
    let res = login(&via, &dotted, PASSWORD).await;
    assert_detail(
        &res,
        StatusCode::BAD_REQUEST,
        "LOGIN_BAD_CREDENTIALS",
        "login as kİki",
    );
    let res = register(&via, &dotted).await;
    assert_status(&res, StatusCode::CREATED, "kİki is an address of its own");
    assert_eq!(res.json()["email"], json!(dotted));

    let upper = format!("\u{C4}rger-{local}@example.com");
    let lower = format!("\u{E4}rger-{local}@example.com");
    assert_status(&register(&via, &upper).await, StatusCode::CREATED, "Ärger");
    assert_status(&register(&via, &lower).await, StatusCode::CREATED, "ärger");
    let res = login(&via, &lower, PASSWORD).await;
    assert_status(&res, StatusCode::OK, "ärger logs in as itself");
}

/// A domain's spellings are one mailbox: its `xn--` A-label, its fullwidth and upper-case forms.
/// The stored (and answered) email is email-validator's `normalized`: the domain's U-labels in
/// lower case, the local part in NFC.
async fn domain_spellings_do_not_register_a_second_account(kind: StoreKind) {
    let (via, _db) = serve(&kind).await;
    let local = fresh("kiki");
    let idn = format!("{local}@b\u{FC}cher.example");
    let res = register(&via, &idn).await;
    assert_status(&res, StatusCode::CREATED, "register the IDN");
    assert_eq!(res.json()["email"], json!(idn));
    for spelling in [
        format!("{local}@xn--bcher-kva.example"),
        format!("{local}@XN--BCHER-KVA.EXAMPLE"),
        format!("{local}@B\u{DC}CHER.example"),
        format!("{local}@bu\u{308}cher.example"),
    ] {
        let res = register(&via, &spelling).await;
        assert_detail(
            &res,
            StatusCode::BAD_REQUEST,
            "REGISTER_USER_ALREADY_EXISTS",
            &format!("register {spelling:?}"),
        );
        let res = login(&via, &spelling, PASSWORD).await;
        assert_status(&res, StatusCode::OK, &format!("login as {spelling:?}"));
    }

    let fullwidth = format!("{local}@\u{FF45}xample.com");
    let res = register(&via, &fullwidth).await;
    assert_status(&res, StatusCode::CREATED, "register the fullwidth domain");
    assert_eq!(res.json()["email"], json!(format!("{local}@example.com")));
    let res = register(&via, &format!("{local}@example.com")).await;
    assert_detail(
        &res,
        StatusCode::BAD_REQUEST,
        "REGISTER_USER_ALREADY_EXISTS",
        "ASCII twin",
    );

    let kelvin = format!("\u{212A}en-{local}@example.com");
    let res = register(&via, &kelvin).await;
    assert_status(&res, StatusCode::CREATED, "register with the Kelvin sign");
    assert_eq!(res.json()["email"], json!(format!("Ken-{local}@example.com")));
    let res = register(&via, &format!("ken-{local}@example.com")).await;
    assert_detail(
        &res,
        StatusCode::BAD_REQUEST,
        "REGISTER_USER_ALREADY_EXISTS",
        "Kelvin twin",
    );

    // PATCH /users/me to another spelling of a taken mailbox is refused too.
    let token = login(&via, &format!("ken-{local}@example.com"), PASSWORD)
        .await
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = via
        .send(
            Req::patch("/users/me")
                .bearer(&token)
                .json(&json!({ "email": format!("{local}@xn--bcher-kva.example") })),
        )
        .await;
    assert_detail(
        &res,
        StatusCode::BAD_REQUEST,
        "UPDATE_USER_EMAIL_ALREADY_EXISTS",
        "PATCH",
    );
}

/// NUL and other control characters in the login name: 400 `LOGIN_BAD_CREDENTIALS` (no user can
/// have such an address), counted by the throttle like any failure; never a 5xx (PostgreSQL
/// refuses NUL in text, which was answered 500 and left uncounted).
async fn control_characters_in_the_login_name_are_counted_failures(kind: StoreKind) {
    let (via, _db) = serve(&kind).await;
    let local = fresh("kiki");
    let email = format!("{local}@example.com");
    assert_status(&register(&via, &email).await, StatusCode::CREATED, "register");
    let names = [
        format!("{local}\0@example.com"),
        format!("{local}@example.com\0"),
        format!("{local}\u{1}@example.com"),
        format!("{local}@exa\tmple.com"),
        format!("{local}\u{7F}@example.com"),
    ];
    // Each name once, then the NUL name until it has failed six times.
    for name in names.iter().chain([&names[0]; 5]) {
        let res = login(&via, name, PASSWORD).await;
        assert_detail(
            &res,
            StatusCode::BAD_REQUEST,
            "LOGIN_BAD_CREDENTIALS",
            &format!("login as {name:?}"),
        );
    }
    let res = login(&via, &names[0], PASSWORD).await;
    assert_detail(
        &res,
        StatusCode::TOO_MANY_REQUESTS,
        "LOGIN_TOO_MANY_ATTEMPTS",
        "the seventh NUL name is throttled",
    );
    // The account itself is untouched by those names: they are other (impossible) addresses.
    assert_status(
        &login(&via, &email, PASSWORD).await,
        StatusCode::OK,
        "the real login",
    );

    for (path, body) in [
        (
            "/auth/register",
            json!({ "email": format!("{local}\0@example.com"), "password": PASSWORD }),
        ),
        (
            "/auth/forgot-password",
            json!({ "email": format!("{local}\0@example.com") }),
        ),
        (
            "/auth/request-verify-token",
            json!({ "email": format!("{local}@exam\0ple.com") }),
        ),
    ] {
        let res = via.send(Req::post(path).json(&body)).await;
        assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY, path);
        assert_eq!(res.json()["detail"][0]["type"], json!("value_error"), "{path}");
    }
}

/// The per-email mail quota of `forgot-password` counts the mailbox, not the spelling.
async fn spellings_share_the_mail_quota(kind: StoreKind) {
    let (via, _db) = serve(&kind).await;
    let local = fresh("kiki");
    assert_status(
        &register(&via, &format!("{local}@example.com")).await,
        StatusCode::CREATED,
        "register",
    );
    let spellings = [
        format!("{local}@example.com"),
        format!("\u{212A}{}@example.com", &local[1..]),
        format!("{local}@\u{FF45}xample.com"),
    ];
    for spelling in &spellings {
        let res = via
            .send(Req::post("/auth/forgot-password").json(&json!({ "email": spelling })))
            .await;
        assert_status(&res, StatusCode::ACCEPTED, spelling);
    }
    let res = via
        .send(
            Req::post("/auth/forgot-password")
                .json(&json!({ "email": format!("{local}@Example\u{3002}com") })),
        )
        .await;
    assert_detail(
        &res,
        StatusCode::TOO_MANY_REQUESTS,
        "TOO_MANY_REQUESTS",
        "fourth mail",
    );
}

/// A database of a store opened twice: once to make the tables (and to write rows bypassing the
/// store's canonicalisation), once more to see what start-up makes of them.
enum Raw {
    Sqlite(TempDir),
    Postgres(PgSchema),
}

impl Raw {
    async fn new(kind: &StoreKind) -> Self {
        let raw = match kind {
            StoreKind::Sqlite => Self::Sqlite(TempDir::new()),
            StoreKind::Postgres { url } => Self::Postgres(PgSchema::create(url).await),
        };
        raw.open().await.unwrap();
        raw
    }

    /// The store, freshly connected (and so migrated), or the start-up error's text.
    async fn open(&self) -> Result<Box<dyn UserStore>, String> {
        match self {
            Self::Sqlite(dir) => SqliteStore::connect(&dir.db_url())
                .await
                .map(|s| Box::new(s) as Box<dyn UserStore>)
                .map_err(|e| e.to_string()),
            Self::Postgres(schema) => {
                let url = support::postgres_url();
                let options = PgConnectOptions::from_str(&url)
                    .unwrap()
                    .options([("search_path", schema.name())]);
                PostgresStore::connect_with(options, &url)
                    .await
                    .map(|s| Box::new(s) as Box<dyn UserStore>)
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Inserts a row as an older version of this crate (or FastAPI Users) wrote it: the email as
    /// given, no canonicalisation.
    async fn insert(&self, email: &str) -> Uuid {
        let id = Uuid::new_v4();
        let sql_sqlite = "INSERT INTO user (id, email, hashed_password, is_active, is_superuser, is_verified) VALUES (?, ?, 'x', 1, 0, 0)";
        let sql_pg = "INSERT INTO \"user\" (id, email, hashed_password, is_active, is_superuser, is_verified) VALUES ($1, $2, 'x', true, false, false)";
        match self {
            Self::Sqlite(dir) => {
                let pool = sqlx::SqlitePool::connect(&dir.db_url()).await.unwrap();
                sqlx::query(sql_sqlite)
                    .bind(id.to_string())
                    .bind(email)
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
            Self::Postgres(schema) => {
                let url = support::postgres_url();
                let options = PgConnectOptions::from_str(&url)
                    .unwrap()
                    .options([("search_path", schema.name())]);
                let pool = sqlx::PgPool::connect_with(options).await.unwrap();
                sqlx::query(sql_pg)
                    .bind(id)
                    .bind(email)
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
        }
        id
    }
}

/// Rows an older version stored with an `xn--` domain, a Kelvin sign or an upper-case fullwidth
/// domain are rewritten to the canonical form at start-up, so that they stay reachable.
async fn start_up_rewrites_rows_to_the_canonical_form(kind: StoreKind) {
    let raw = Raw::new(&kind).await;
    let idn = raw.insert("ann@xn--bcher-kva.example").await;
    let kelvin = raw.insert("\u{212A}en@example.com").await;
    let wide = raw.insert("wide@\u{FF25}XAMPLE.com").await;
    let plain = raw.insert("Plain.Case@example.com").await;
    let upper = raw.insert("Upper@EXAMPLE.ORG").await;
    let store = raw.open().await.unwrap();
    for (id, canonical, spelling) in [
        (idn, "ann@b\u{FC}cher.example", "ann@XN--BCHER-KVA.example"),
        (kelvin, "Ken@example.com", "ken@EXAMPLE.com"),
        (wide, "wide@example.com", "WIDE@\u{FF45}xample.com"),
        (plain, "Plain.Case@example.com", "plain.case@example.com"),
        (upper, "Upper@example.org", "upper@example.org"),
    ] {
        let user = store.get(id).await.unwrap().unwrap();
        assert_eq!(user.email, canonical, "row {id} rewritten");
        let found = store.get_by_email(spelling).await.unwrap();
        assert_eq!(found.map(|u| u.id), Some(id), "{spelling:?} finds the row");
    }
    // Start-up again: nothing left to rewrite, nothing breaks.
    let store = raw.open().await.unwrap();
    assert_eq!(
        store.get(idn).await.unwrap().unwrap().email,
        "ann@b\u{FC}cher.example"
    );
}

/// Two rows that are one mailbox under the canonical form: start-up refuses, naming
/// `DATABASE_URL` and both rows, and changes nothing.
async fn start_up_refuses_two_rows_of_one_mailbox(kind: StoreKind) {
    for (first, second) in [
        ("ann@b\u{FC}cher.example", "ann@xn--bcher-kva.example"),
        ("ken@example.com", "\u{212A}en@example.com"),
        ("wide@example.com", "wide@\u{FF45}xample.com"),
    ] {
        let raw = Raw::new(&kind).await;
        let a = raw.insert(first).await;
        let b = raw.insert(second).await;
        let error = match raw.open().await {
            Ok(_) => panic!("{first:?} and {second:?}: start-up went through"),
            Err(error) => error,
        };
        assert!(error.contains("DATABASE_URL"), "{error}");
        for id in [a, b] {
            assert!(error.contains(&id.to_string()), "{error} names {id}");
        }
    }
}

/// Both stores answer the same for every spelling: the table of [`EXPECTED`] is what
/// email-validator 2.4 (FastAPI Users' `EmailStr`) makes of them, checked through registration.
async fn registration_answers_the_canonical_email(kind: StoreKind) {
    let (via, _db) = serve(&kind).await;
    let tag = fresh("t");
    for (input, expected) in [
        ("Mixed.Case@Example.COM", "Mixed.Case@example.com"),
        ("a\u{308}rger@example.com", "\u{E4}rger@example.com"),
        ("kiki@\u{130}stanbul.example", "kiki@i\u{307}stanbul.example"),
        ("kiki@\u{FF21}\u{FF22}\u{FF23}.example", "kiki@abc.example"),
        ("kiki@xn--zca.example", "kiki@\u{DF}.example"),
        ("kiki@exam\u{FE0F}ple.com", "kiki@example.com"),
    ] {
        let (local, domain) = input.rsplit_once('@').unwrap();
        let input = format!("{local}-{tag}@{domain}");
        let (local, domain) = expected.rsplit_once('@').unwrap();
        let expected = format!("{local}-{tag}@{domain}");
        let res = register(&via, &input).await;
        assert_status(&res, StatusCode::CREATED, &input);
        assert_eq!(res.json()["email"], Value::String(expected), "{input:?}");
    }
}

/// A PostgreSQL database of an earlier version has the unique index on `lower(email)`, which folds
/// Unicode by the server's locale: start-up replaces it by the ASCII-only key index, so that
/// `ärger@…` can join `Ärger@…` (as on SQLite) while ASCII case stays unique.
#[tokio::test]
#[ignore = "needs DATABASE_URL"]
async fn postgres_start_up_replaces_the_lower_email_index() {
    let kind = StoreKind::postgres();
    let raw = Raw::new(&kind).await;
    let Raw::Postgres(schema) = &raw else {
        unreachable!()
    };
    let url = support::postgres_url();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.name())]);
    let pool = sqlx::PgPool::connect_with(options).await.unwrap();
    sqlx::query("DROP INDEX IF EXISTS ix_user_email_key")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("CREATE UNIQUE INDEX ix_user_email_lower ON \"user\" (lower(email))")
        .execute(&pool)
        .await
        .unwrap();
    raw.insert("\u{C4}rger@example.com").await;
    let store = raw.open().await.unwrap();
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'user'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!indexes.iter().any(|i| i == "ix_user_email_lower"), "{indexes:?}");
    assert!(indexes.iter().any(|i| i == "ix_user_email_key"), "{indexes:?}");
    store
        .create(login_users::User::new("\u{E4}rger@example.com", "$argon2id$x"))
        .await
        .unwrap();
    let twin = store
        .create(login_users::User::new("\u{E4}RGER@example.com", "$argon2id$x"))
        .await;
    assert!(twin.is_err(), "ASCII case stays unique: {twin:?}");
    pool.close().await;
}

on_both_stores![
    spellings_of_one_mailbox_share_the_login_throttle,
    non_ascii_case_in_the_local_part_is_another_address,
    domain_spellings_do_not_register_a_second_account,
    control_characters_in_the_login_name_are_counted_failures,
    spellings_share_the_mail_quota,
    start_up_rewrites_rows_to_the_canonical_form,
    start_up_refuses_two_rows_of_one_mailbox,
    registration_answers_the_canonical_email,
];
