use axum::Router;
use axum::routing::get;
use login_runtime::login_config;

#[login_config(secret = env("SECRET"))]
fn auth() {}

fn main() {
    auth();
    let app: Router = Router::new().route("/", get(|| async { "hello" }));
    let _service = app.into_make_service();
}
