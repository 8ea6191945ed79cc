//! What the macros wire up, beyond the login example: loaders with state, loader failures, the
//! order of extractors, custom responses, the attach middleware, several managers.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{FromRef, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router, middleware};
use login_runtime::{
    AccessToken, LoginManager, ReadFuture, TokenRead, TokenReader, Transport, attach_user, protected,
    user_loader,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::{Req, Via};

const SECRET: &str = "extractor-tests-secret-32-bytes-long";

#[derive(Clone, Debug, Serialize)]
struct Member {
    id: u64,
    name: String,
}

/// A pretend database that can be switched off.
#[derive(Clone, Default)]
struct Db {
    down: Arc<AtomicBool>,
}

#[derive(Debug)]
struct DbDown;

impl std::fmt::Display for DbDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("database is down")
    }
}

impl std::error::Error for DbDown {}

#[derive(Clone, FromRef)]
struct AppState {
    manager: LoginManager,
    db: Db,
}

/// Numeric ids: a subject that is not a number loads nobody.
#[user_loader]
async fn load_member(id: u64, db: &Db) -> Result<Option<Member>, DbDown> {
    if db.down.load(Ordering::SeqCst) {
        return Err(DbDown);
    }
    Ok((id < 100).then(|| Member {
        id,
        name: format!("member {id}"),
    }))
}

#[derive(Deserialize)]
struct Item {
    #[allow(dead_code)]
    name: String,
}

#[protected]
async fn create_item(member: Member, Json(_item): Json<Item>) -> StatusCode {
    assert!(member.id < 100);
    StatusCode::CREATED
}

#[protected]
async fn show_item(Path(id): Path<u32>, #[user] member: Member) -> Json<Value> {
    Json(json!({"item": id, "member": member.id}))
}

#[protected(optional)]
async fn maybe(member: Option<Member>) -> Json<Value> {
    Json(json!({ "member": member }))
}

fn teapot() -> Response {
    (StatusCode::IM_A_TEAPOT, "log in first").into_response()
}

#[protected(reject = teapot)]
async fn custom(member: Member) -> String {
    member.name
}

#[protected(scopes("items:write", "items:read"))]
async fn two_scopes(member: Member) -> String {
    member.name
}

async fn attached(Extension(member): Extension<Option<Member>>) -> Json<Value> {
    Json(json!({ "member": member }))
}

fn state() -> AppState {
    AppState {
        manager: LoginManager::builder().secret(SECRET).build().unwrap(),
        db: Db::default(),
    }
}

fn app(state: AppState) -> Router {
    Router::new()
        .route("/items", post(create_item))
        .route("/items/{id}", get(show_item))
        .route("/maybe", get(maybe))
        .route("/custom", get(custom))
        .route("/two-scopes", get(two_scopes))
        .route("/attached", get(attached))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            attach_user::<Member, AppState>,
        ))
        .with_state(state)
}

fn token(state: &AppState, sub: &str) -> String {
    state.manager.create_access_token(sub).unwrap()
}

#[tokio::test]
async fn authentication_runs_before_the_body_and_path_extractors() {
    let state = state();
    let good = token(&state, "7");
    for via in Via::both(app(state)).await {
        let res = via
            .send(Req::post("/items").raw_body("application/json", "{not json"))
            .await;
        res.assert_unauthenticated(&format!("{}: anonymous with a bad body", via.name()));
        let res = via.send(Req::get("/items/not-a-number")).await;
        res.assert_unauthenticated(&format!("{}: anonymous with a bad path", via.name()));

        let res = via
            .send(
                Req::post("/items")
                    .bearer(&good)
                    .raw_body("application/json", "{not json"),
            )
            .await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "logged in, bad JSON: axum's own rejection"
        );
        let res = via
            .send(Req::post("/items").bearer(&good).json(&json!({"name": "x"})))
            .await;
        assert_eq!(res.status, StatusCode::CREATED);
        let res = via.send(Req::get("/items/5").bearer(&good)).await;
        assert_eq!(res.json(), json!({"item": 5, "member": 7}));
    }
}

#[tokio::test]
async fn loader_ids_parse_from_the_subject() {
    let state = state();
    let (member, stranger, not_a_number) = (token(&state, "42"), token(&state, "4200"), token(&state, "abc"));
    for via in Via::both(app(state.clone())).await {
        assert_eq!(
            via.send(Req::get("/maybe").bearer(&member)).await.json()["member"]["id"],
            42
        );
        assert_eq!(
            via.send(Req::get("/custom").bearer(&member)).await.text(),
            "member 42"
        );
        for t in [&stranger, &not_a_number] {
            assert_eq!(
                via.send(Req::get("/maybe").bearer(t)).await.json(),
                json!({"member": null})
            );
            via.send(Req::get("/items/1").bearer(t))
                .await
                .assert_unauthenticated("no such member");
        }
    }
}

#[tokio::test]
async fn a_failing_loader_is_a_500_even_on_optional_routes() {
    let state = state();
    let good = token(&state, "7");
    state.db.down.store(true, Ordering::SeqCst);
    // The attach middleware would answer 500 first; test the extractors without it.
    let bare = Router::new()
        .route("/maybe", get(maybe))
        .route("/items/{id}", get(show_item))
        .with_state(state.clone());
    for via in Via::both(bare).await {
        let res = via.send(Req::get("/maybe").bearer(&good)).await;
        assert_eq!(
            res.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}: optional must not swallow it",
            via.name()
        );
        assert_eq!(res.json(), json!({"detail": "Internal Server Error"}));
        assert!(
            !res.text().contains("database"),
            "the error's text stays in the log"
        );
        let res = via.send(Req::get("/items/1").bearer(&good)).await;
        assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
        // Anonymous requests never reach the loader, so they are unaffected.
        let res = via.send(Req::get("/maybe")).await;
        assert_eq!(
            (res.status, res.json()),
            (StatusCode::OK, json!({"member": null}))
        );
    }
    for via in Via::both(app(state.clone())).await {
        let res = via.send(Req::get("/attached").bearer(&good)).await;
        assert_eq!(
            res.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}: attach middleware",
            via.name()
        );
    }
}

#[tokio::test]
async fn route_and_manager_responses_replace_the_401() {
    let state = state();
    for via in Via::both(app(state.clone())).await {
        let res = via.send(Req::get("/custom")).await;
        assert_eq!(
            (res.status, res.text().as_str()),
            (StatusCode::IM_A_TEAPOT, "log in first")
        );
    }
    let redirecting = AppState {
        manager: LoginManager::builder()
            .secret(SECRET)
            .on_unauthenticated(|| Redirect::to("/login").into_response())
            .build()
            .unwrap(),
        db: Db::default(),
    };
    for via in Via::both(app(redirecting)).await {
        let res = via.send(Req::get("/items/1")).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", via.name());
        assert_eq!(res.header("location"), Some("/login"));
        let res = via.send(Req::get("/custom")).await;
        assert_eq!(
            res.status,
            StatusCode::IM_A_TEAPOT,
            "the route's own response wins over the manager's"
        );
    }
}

#[tokio::test]
async fn every_listed_scope_is_required() {
    let state = state();
    let both = state
        .manager
        .create_access_token(AccessToken::new("1").scopes(["items:read", "items:write"]));
    let one = state
        .manager
        .create_access_token(AccessToken::new("1").scopes(["items:read"]));
    for via in Via::both(app(state.clone())).await {
        let res = via
            .send(Req::get("/two-scopes").bearer(both.as_ref().unwrap()))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", via.name());
        let res = via
            .send(Req::get("/two-scopes").bearer(one.as_ref().unwrap()))
            .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        assert_eq!(res.json(), json!({"detail": "Not enough permissions"}));
    }
}

#[tokio::test]
async fn attach_middleware_puts_the_optional_user_in_extensions() {
    let state = state();
    let good = token(&state, "3");
    for via in Via::both(app(state.clone())).await {
        assert_eq!(
            via.send(Req::get("/attached")).await.json(),
            json!({"member": null})
        );
        assert_eq!(
            via.send(Req::get("/attached").bearer("bad")).await.json(),
            json!({"member": null})
        );
        let res = via.send(Req::get("/attached").bearer(&good)).await;
        assert_eq!(res.json()["member"]["id"], 3, "{}", via.name());
    }
}

#[tokio::test]
async fn managers_with_different_keys_do_not_accept_each_others_tokens() {
    let (first, second) = (
        state(),
        AppState {
            manager: LoginManager::builder()
                .secret("a-different-secret-also-32-bytes-long")
                .build()
                .unwrap(),
            db: Db::default(),
        },
    );
    let from_first = token(&first, "9");
    for via in Via::both(app(second)).await {
        via.send(Req::get("/items/1").bearer(&from_first))
            .await
            .assert_unauthenticated("foreign token");
    }
    for via in Via::both(app(first)).await {
        assert_eq!(
            via.send(Req::get("/items/1").bearer(&from_first)).await.status,
            StatusCode::OK
        );
    }
}

/// A token reader that loads the member itself, as a revocation check joined with the user row
/// does: the extractor then skips the loader (here: a database that is down).
struct LoadingReader;

impl TokenReader for LoadingReader {
    fn read<'a>(&'a self, manager: &'a LoginManager, token: &'a str, _from: Transport) -> ReadFuture<'a> {
        let claims = manager.decode(token).ok();
        Box::pin(async move {
            Ok(claims.map(|claims| {
                let member = Member {
                    id: 7,
                    name: format!("loaded by the reader for {}", claims.sub),
                };
                TokenRead::from(claims).with_user(member)
            }))
        })
    }
}

#[tokio::test]
async fn a_user_the_token_reader_loaded_skips_the_loader() {
    let state = AppState {
        manager: LoginManager::builder()
            .secret(SECRET)
            .token_reader(Arc::new(LoadingReader))
            .build()
            .unwrap(),
        db: Db::default(),
    };
    state.db.down.store(true, Ordering::SeqCst);
    let token = token(&state, "7");
    for via in Via::both(app(state)).await {
        let res = via.send(Req::get("/custom").bearer(&token)).await;
        assert_eq!(res.status, StatusCode::OK, "{}: {}", via.name(), res.text());
        assert_eq!(res.text(), "loaded by the reader for 7", "{}", via.name());
        let anonymous = via.send(Req::get("/custom")).await;
        assert_eq!(anonymous.status, StatusCode::IM_A_TEAPOT, "{}", via.name());
    }
}
