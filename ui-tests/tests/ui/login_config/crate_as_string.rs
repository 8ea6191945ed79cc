use axum::Router;
use axum::routing::get;
use login_runtime::login_config;

#[login_config(secret = env("SECRET"), crate = "login_runtime")]
struct Auth;

fn main() {
    let manager = Auth::manager().expect("a valid configuration");
    let app: Router = Router::new()
        .route("/", get(|| async { "hello" }))
        .with_state(manager);
    let _service = app.into_make_service();
}
