use axum::Router;
use axum::routing::get;
use axum::Json;
use axum::extract::Path;
use axum::http::HeaderMap;
use login_runtime::{LoginManager, protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

#[protected]
async fn item(Path(_id): Path<u32>, _headers: HeaderMap, _user: User, Json(_body): Json<Vec<u8>>) {}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let app: Router = Router::new()
        .route("/item/{id}", get(item))
        .with_state(manager);
    let _service = app.into_make_service();
}
