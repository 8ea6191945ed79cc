//! The minimal floor of `benches/load.sh`: the `login` example's `/protected` written with the
//! least work a careful engineer would do by hand with axum and jsonwebtoken — the bearer header
//! only (no cookie), `jsonwebtoken::decode` with leeway 0, one `HashMap` lookup, one clone, and the
//! example's JSON body. It issues no tokens: the script gives it the `login` example's (same
//! `SECRET`). `PORT` sets the port. `cargo bench` runs every bench target, so this one serves only
//! when asked: `minimal_server --serve`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The example's users and their scopes.
static USERS: LazyLock<HashMap<&'static str, Vec<String>>> = LazyLock::new(|| {
    HashMap::from([
        ("johndoe@e.mail", vec![]),
        ("admin@e.mail", vec!["admin".to_owned()]),
    ])
});

#[derive(Clone)]
struct Keys {
    decoding: Arc<DecodingKey>,
    validation: Arc<Validation>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

#[derive(Serialize)]
struct User {
    email: String,
    scopes: Vec<String>,
}

impl FromRequestParts<Keys> for User {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, keys: &Keys) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(StatusCode::UNAUTHORIZED)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &keys.decoding, &keys.validation)
            .map_err(|_| StatusCode::UNAUTHORIZED)?
            .claims;
        let scopes = USERS.get(claims.sub.as_str()).ok_or(StatusCode::UNAUTHORIZED)?;
        Ok(User {
            email: claims.sub,
            scopes: scopes.clone(),
        })
    }
}

async fn protected(user: User) -> Json<Value> {
    Json(json!({ "user": user }))
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--serve") {
        println!("minimal_server: the minimal floor of benches/load.sh; run with --serve");
        return;
    }
    let secret = std::env::var("SECRET").expect("SECRET");
    // HS256 only; `exp` required and checked with no leeway.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    let keys = Keys {
        decoding: Arc::new(DecodingKey::from_secret(secret.as_bytes())),
        validation: Arc::new(validation),
    };
    let app = Router::new().route("/protected", get(protected)).with_state(keys);
    let port = std::env::var("PORT").unwrap_or_else(|_| "8001".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
