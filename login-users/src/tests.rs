//! The operations of [`Users`] on the in-memory store (HTTP is tested in `tests/`).

use std::sync::{Arc, Mutex};

use crate::*;

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn push(&self, event: String) {
        self.0.lock().unwrap().push(event);
    }
    fn token(&self, kind: &str) -> String {
        let prefix = format!("{kind} ");
        self.events()
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix(&prefix).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {kind} token in {:?}", self.events()))
    }
}

impl UserHooks for Recorder {
    async fn on_after_register(&self, user: &User) {
        self.push(format!("register {}", user.email));
    }
    async fn on_after_update(&self, user: &User, fields: &[&'static str]) {
        self.push(format!("update {} {fields:?}", user.email));
    }
    async fn on_after_forgot_password(&self, _user: &User, token: &str) {
        self.push(format!("reset {token}"));
    }
    async fn on_after_reset_password(&self, user: &User) {
        self.push(format!("after-reset {}", user.email));
    }
    async fn on_after_request_verify(&self, _user: &User, token: &str) {
        self.push(format!("verify {token}"));
    }
    async fn on_after_verify(&self, user: &User) {
        self.push(format!("after-verify {}", user.email));
    }
}

fn users(recorder: &Recorder) -> Users {
    Users::builder(Arc::new(MemoryStore::default()))
        .secret("unit-test-secret-unit-test-secret-0123")
        .hooks(recorder.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn bcrypt_hash_verifies_and_is_upgraded_on_login() {
    let users = users(&Recorder::default());
    let legacy = User::new("old@example.com", bcrypt::hash("old-password", 4).unwrap());
    users.store().create(legacy).await.unwrap();
    let user = users
        .authenticate("OLD@example.com", "old-password")
        .await
        .unwrap()
        .unwrap();
    assert!(
        user.hashed_password
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );
    let stored = users.store().get(user.id).await.unwrap().unwrap();
    assert_eq!(stored.hashed_password, user.hashed_password);
    assert!(
        users
            .authenticate("old@example.com", "wrong-password")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        users
            .authenticate("nobody@example.com", "old-password")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn reset_tokens_work_once_and_only_as_reset_tokens() {
    let recorder = Recorder::default();
    let users = users(&recorder);
    let user = users
        .create(CreateUser::new("ann@example.com", "first-password"))
        .await
        .unwrap();
    users.forgot_password("ann@example.com").await.unwrap();
    let reset = recorder.token("reset");
    users.request_verify("ann@example.com").await.unwrap();
    let verify = recorder.token("verify");
    let access = users.access_token(&user).await.unwrap();

    for wrong in [&verify, &access, &"garbage".to_owned()] {
        assert!(matches!(
            users.reset_password(wrong, "second-password").await,
            Err(UserError::BadToken)
        ));
    }
    assert!(matches!(
        users.reset_password(&reset, "short").await,
        Err(UserError::InvalidPassword(_))
    ));
    users.reset_password(&reset, "second-password").await.unwrap();
    assert!(matches!(
        users.reset_password(&reset, "third-password").await,
        Err(UserError::BadToken)
    ));
    assert!(
        users
            .authenticate("ann@example.com", "second-password")
            .await
            .unwrap()
            .is_some()
    );
    // FastAPI Users' `_update`: a reset calls its own hook, not `on_after_update`.
    let events = recorder.events();
    assert!(
        events.iter().any(|e| e == "after-reset ann@example.com"),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e.starts_with("update")), "{events:?}");

    for wrong in [&reset, &access] {
        assert!(matches!(users.verify(wrong).await, Err(UserError::BadToken)));
    }
    assert!(users.verify(&verify).await.unwrap().is_verified);
    assert!(matches!(
        users.verify(&verify).await,
        Err(UserError::AlreadyVerified)
    ));
}

#[tokio::test]
async fn updates_check_email_and_password_and_respect_safe() {
    let recorder = Recorder::default();
    let users = users(&recorder);
    let ann = users
        .create(CreateUser::new("ann@example.com", "ann-password"))
        .await
        .unwrap();
    users
        .create(CreateUser::new("bob@example.com", "bob-password"))
        .await
        .unwrap();
    let taken = UpdateUser {
        email: Some("BOB@example.com".into()),
        ..UpdateUser::default()
    };
    assert!(matches!(
        users.update(&ann, taken, true).await,
        Err(UserError::AlreadyExists)
    ));
    let flags = UpdateUser {
        is_superuser: Some(true),
        email: Some("Ann@Example.com".into()),
        ..UpdateUser::default()
    };
    let ann = users.update(&ann, flags.clone(), true).await.unwrap();
    assert_eq!((ann.email.as_str(), ann.is_superuser), ("Ann@example.com", false));
    let ann = users.update(&ann, flags, false).await.unwrap();
    assert!(ann.is_superuser);
    assert!(
        recorder
            .events()
            .contains(&r#"update Ann@example.com ["email"]"#.to_owned())
    );
}

#[tokio::test]
async fn an_inactive_users_hash_is_not_upgraded_so_timing_does_not_tell_the_password_was_right() {
    let users = users(&Recorder::default());
    let mut legacy = User::new("gone@example.com", bcrypt::hash("old-password", 4).unwrap());
    legacy.is_active = false;
    let stored = users.store().create(legacy).await.unwrap();
    let user = users
        .authenticate("gone@example.com", "old-password")
        .await
        .unwrap()
        .unwrap();
    assert!(!user.is_active);
    assert_eq!(
        users.store().get(user.id).await.unwrap().unwrap().hashed_password,
        stored.hashed_password
    );
}
