use axum::Router;
use axum::routing::get;
use login_runtime::{LoginManager, protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

#[derive(Clone)]
struct AppState {
    name: String,
}

#[protected(state = AppState)]
async fn me(_user: User) {}

fn main() {
    let _ = LoginManager::builder();
    let app: Router = Router::new()
        .route("/me", get(me))
        .with_state(AppState { name: "app".to_owned() });
    let _service = app.into_make_service();
}
