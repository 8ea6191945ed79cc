//! The HTTP layer: FastAPI Users' routes over the operations of [`Users`](crate::Users), their
//! input parsing, and the refresh and JWKS routes.

pub(crate) mod cookie;
pub(crate) mod input;
pub(crate) mod jwks;
pub(crate) mod refresh;
pub(crate) mod routes;
