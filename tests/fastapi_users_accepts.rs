//! FastAPI Users itself accepts the tokens this crate issues (`docs/contract/tokens-http.md`: the
//! extra claims `iat`, `jti`, `gen` and a reset token's `email` are ignored by FastAPI Users and
//! PyJWT): access tokens of both backends, stateless and revocable, go through FastAPI Users 15's
//! own `JWTStrategy.read_token`, a reset token through `BaseUserManager.reset_password` and a
//! verify token through `BaseUserManager.verify`
//! (`tests/fixtures/fastapi_users/accepts_ours.py`).
//!
//! Needs a Python with `fastapi-users==15.0.5` installed, named by `FASTAPI_USERS_PYTHON`;
//! `.ci/run` makes one. The test is `#[ignore = "needs FASTAPI_USERS_PYTHON"]`: run it with
//! `-- --include-ignored` (without the variable it fails, naming it).

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use login_users::{MemoryRevocations, MemoryStore, User, UserHooks, UserStore, Users};
use serde_json::json;
use support::{Req, Via};

const SECRET: &str = "fastapi-users-accepts-ours-0123456789abcdef";
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/fastapi_users/accepts_ours.py"
);

#[derive(Clone, Default)]
struct Mailbox(Arc<Mutex<Vec<(&'static str, String)>>>);

impl UserHooks for Mailbox {
    async fn on_after_forgot_password(&self, _user: &User, token: &str) {
        self.0.lock().unwrap().push(("reset", token.to_owned()));
    }
    async fn on_after_request_verify(&self, _user: &User, token: &str) {
        self.0.lock().unwrap().push(("verify", token.to_owned()));
    }
}

impl Mailbox {
    fn last(&self, kind: &str) -> String {
        let mails = self.0.lock().unwrap();
        mails.iter().rev().find(|(k, _)| *k == kind).unwrap().1.clone()
    }
}

#[tokio::test]
#[ignore = "needs FASTAPI_USERS_PYTHON"]
async fn fastapi_users_reads_our_access_reset_and_verify_tokens() {
    let python = support::needs("FASTAPI_USERS_PYTHON");
    for revocable in [false, true] {
        let store = Arc::new(MemoryStore::default());
        let mail = Mailbox::default();
        let mut builder = Users::builder(store.clone()).hooks(mail.clone()).secret(SECRET);
        if revocable {
            builder = builder.revocation(Arc::new(MemoryRevocations::default()));
        }
        let users = builder.build().unwrap();
        let http = Via::http(users_example::app(users)).await;
        let email = "king.arthur@camelot.bt";
        let res = http
            .send(Req::post("/auth/register").json(&json!({"email": email, "password": "guinevere"})))
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        let form = [("username", email), ("password", "guinevere")];
        let bearer = http.send(Req::post("/auth/jwt/login").form(&form)).await;
        let bearer = bearer.json()["access_token"].as_str().unwrap().to_owned();
        let cookie = http.send(Req::post("/auth/cookie/login").form(&form)).await;
        let cookie = cookie.header("set-cookie").unwrap();
        let cookie = cookie
            .strip_prefix("fastapiusersauth=")
            .and_then(|c| c.split(';').next())
            .unwrap()
            .to_owned();
        for route in ["/auth/request-verify-token", "/auth/forgot-password"] {
            let res = http.send(Req::post(route).json(&json!({"email": email}))).await;
            assert_eq!(res.status, StatusCode::ACCEPTED);
        }
        let user = store.get_by_email(email).await.unwrap().unwrap();
        let given = json!({
            "secret": SECRET,
            "user": {
                "id": user.id.to_string(),
                "email": user.email,
                "hashed_password": user.hashed_password,
                "is_active": user.is_active,
                "is_superuser": user.is_superuser,
                "is_verified": user.is_verified,
            },
            "access": [bearer, cookie],
            "reset": mail.last("reset"),
            "verify": mail.last("verify"),
        });
        let mut child = Command::new(&python)
            .arg(SCRIPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("FASTAPI_USERS_PYTHON={python}: {e}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(given.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            out.status.success(),
            "revocable {revocable}: FastAPI Users refused our tokens:\n{stdout}\n{stderr}"
        );
        assert_eq!(stdout.matches("accepted").count(), 4, "{stdout}");
    }
}
