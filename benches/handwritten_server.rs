//! The floor of `benches/load.sh`: the `login` example's `/auth/token` and `/protected` written by
//! hand with axum and jsonwebtoken, as one would without this crate (same users, same bodies, same
//! HS256 secret from `SECRET`, same port variable `PORT`). `cargo bench` runs every bench target,
//! so this one serves only when asked: `handwritten_server --serve`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

static USERS: LazyLock<HashMap<&'static str, (&'static str, Vec<String>)>> = LazyLock::new(|| {
    HashMap::from([
        ("johndoe@e.mail", ("hunter2", vec![])),
        ("admin@e.mail", ("admin-pass", vec!["admin".to_owned()])),
    ])
});

#[derive(Clone)]
struct Keys {
    encoding: Arc<EncodingKey>,
    decoding: Arc<DecodingKey>,
    validation: Arc<Validation>,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Serialize)]
struct User {
    email: String,
    scopes: Vec<String>,
}

impl FromRequestParts<Keys> for User {
    type Rejection = (StatusCode, Json<Value>);

    async fn from_request_parts(parts: &mut Parts, keys: &Keys) -> Result<Self, Self::Rejection> {
        let unauthorized = || {
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"detail": "Invalid credentials"})),
            )
        };
        let token = parts
            .headers
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(unauthorized)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &keys.decoding, &keys.validation)
            .map_err(|_| unauthorized())?
            .claims;
        let (_, scopes) = USERS.get(claims.sub.as_str()).ok_or_else(unauthorized)?;
        Ok(User {
            email: claims.sub,
            scopes: scopes.clone(),
        })
    }
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn login(State(keys): State<Keys>, Form(form): Form<LoginForm>) -> Result<Json<Value>, StatusCode> {
    let (password, scopes) = USERS
        .get(form.username.as_str())
        .ok_or(StatusCode::UNAUTHORIZED)?;
    if *password != form.password {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .as_secs()
        + 900;
    let claims = Claims {
        sub: form.username,
        exp,
        scopes: scopes.clone(),
    };
    let token = jsonwebtoken::encode(&Header::default(), &claims, &keys.encoding)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(json!({"access_token": token, "token_type": "bearer"})))
}

async fn protected(user: User) -> Json<Value> {
    Json(json!({ "user": user }))
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--serve") {
        println!("handwritten_server: the floor of benches/load.sh; run with --serve");
        return;
    }
    let secret = std::env::var("SECRET").expect("SECRET");
    let mut validation = Validation::default();
    validation.set_required_spec_claims(&["exp", "sub"]);
    let keys = Keys {
        encoding: Arc::new(EncodingKey::from_secret(secret.as_bytes())),
        decoding: Arc::new(DecodingKey::from_secret(secret.as_bytes())),
        validation: Arc::new(validation),
    };
    let app = Router::new()
        .route("/auth/token", post(login))
        .route("/protected", get(protected))
        .with_state(keys);
    let port = std::env::var("PORT").unwrap_or_else(|_| "8001".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
