//! Cross-site request forgery protection for the cookie transport.
//!
//! A browser sends the login cookie with every request to the site, including a form another site
//! posts. So a state-changing request (any method but `GET`, `HEAD`, `OPTIONS`, `TRACE`) is
//! authenticated by its cookie only when it comes from the site itself, decided as the OWASP CSRF
//! cheat sheet's "Fetch Metadata" and "Verifying Origin with standard headers" defences do:
//!
//! 1. `Sec-Fetch-Site: same-origin` or `none` (typed by the user) passes; `same-site` and
//!    `cross-site` pass only when the `Origin` is a [trusted origin](crate::LoginManagerBuilder::csrf_trusted_origin).
//! 2. Without `Sec-Fetch-Site` (older browsers), an `Origin` must name this host (the `Host`
//!    header, or the URI's authority in HTTP/2) or a trusted origin; `Origin: null` never passes.
//! 3. A request with neither header is not from a browser that could be tricked (curl, a mobile
//!    app, a server), so it passes: such clients are as free to send the cookie as a bearer token.
//!
//! Requests authenticated by `Authorization: Bearer` are never checked: a browser does not add
//! that header on its own, so it cannot be forged cross-site. The check is on by default wherever
//! the cookie transport is; [`csrf_check(false)`](crate::LoginManagerBuilder::csrf_check) turns
//! it off (only for a cookie that other protection covers, such as a `SameSite=Strict` cookie on a
//! site with no subdomains you do not control).

use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, Method, request::Parts};

/// The CSRF settings of a manager, and the rule above.
#[derive(Debug, Clone)]
pub(crate) struct CsrfPolicy {
    enabled: bool,
    /// Lower-cased `scheme://host[:port]` origins allowed besides the request's own host.
    trusted: Vec<String>,
}

/// Methods that must not change state (RFC 9110 §9.2.1), so need no check.
fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

impl CsrfPolicy {
    /// The policy, on or off, trusting these origins besides the request's own host; the error
    /// says which origin is not `scheme://host[:port]`.
    pub(crate) fn new(enabled: bool, trusted: &[String]) -> Result<Self, String> {
        let trusted = (trusted.iter())
            .map(|o| parse_origin(o))
            .collect::<Result<_, _>>()?;
        Ok(Self { enabled, trusted })
    }

    /// Whether the request's cookie may authenticate it.
    pub(crate) fn allows(&self, parts: &Parts) -> bool {
        if !self.enabled || is_safe(&parts.method) {
            return true;
        }
        let headers = &parts.headers;
        let origin = header_str(headers, ORIGIN.as_str());
        match header_str(headers, "sec-fetch-site") {
            Some(site) if site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none") => {
                true
            }
            Some(_) => origin.is_some_and(|o| self.is_trusted(o)),
            None => match origin {
                None => true,
                Some(origin) => self.is_trusted(origin) || same_host(origin, parts),
            },
        }
    }

    fn is_trusted(&self, origin: &str) -> bool {
        self.trusted.iter().any(|t| t.eq_ignore_ascii_case(origin))
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request was sent to.
fn same_host(origin: &str, parts: &Parts) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false; // `null`, or garbage
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return false;
    }
    let host = parts
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| header_str(&parts.headers, HOST.as_str()));
    let Some(host) = host else { return false };
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        ":443"
    } else {
        ":80"
    };
    let strip = |a: &str| {
        a.strip_suffix(default_port)
            .map(str::to_owned)
            .unwrap_or_else(|| a.to_owned())
    };
    !authority.is_empty() && strip(authority).eq_ignore_ascii_case(&strip(host))
}

/// Checks and normalises a trusted origin: `scheme://host[:port]`, no path.
fn parse_origin(origin: &str) -> Result<String, String> {
    let problem =
        || format!("`{origin}` is not an origin like `https://app.example.com` or `http://localhost:3000`");
    let (scheme, authority) = origin.split_once("://").ok_or_else(problem)?;
    if !(scheme == "http" || scheme == "https")
        || authority.is_empty()
        || authority.contains(['/', '?', '#', '@', ' '])
    {
        return Err(problem());
    }
    Ok(origin.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(method: &str, headers: &[(&str, &str)]) -> Parts {
        let mut req = Request::builder().method(method).uri("/users/me");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    fn policy() -> CsrfPolicy {
        CsrfPolicy {
            enabled: true,
            trusted: vec!["https://app.example.com".into()],
        }
    }

    #[test]
    fn safe_methods_always_pass() {
        for m in ["GET", "HEAD", "OPTIONS"] {
            assert!(
                policy().allows(&parts(m, &[("sec-fetch-site", "cross-site")])),
                "{m}"
            );
        }
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        let p = policy();
        assert!(p.allows(&parts("POST", &[("sec-fetch-site", "same-origin")])));
        assert!(p.allows(&parts("POST", &[("sec-fetch-site", "none")])));
        assert!(!p.allows(&parts(
            "POST",
            &[("sec-fetch-site", "cross-site"), ("host", "api.example.com")]
        )));
        assert!(!p.allows(&parts("PATCH", &[("sec-fetch-site", "same-site")])));
        // A cross-site request from a trusted origin passes.
        let trusted = [
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://app.example.com"),
        ];
        assert!(p.allows(&parts("POST", &trusted)));
        // Even when Origin equals Host, a cross-site fetch (a forged Host is not the point) fails.
        let forged = [
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
            ("host", "evil.example"),
        ];
        assert!(!p.allows(&parts("DELETE", &forged)));
    }

    #[test]
    fn origin_must_match_host_without_fetch_metadata() {
        let p = policy();
        let ok = [("origin", "http://localhost:8000"), ("host", "localhost:8000")];
        assert!(p.allows(&parts("POST", &ok)));
        let default_port = [
            ("origin", "https://api.example.com"),
            ("host", "api.example.com:443"),
        ];
        assert!(p.allows(&parts("POST", &default_port)));
        let other = [("origin", "https://evil.example"), ("host", "localhost:8000")];
        assert!(!p.allows(&parts("POST", &other)));
        let other_port = [("origin", "http://localhost:9000"), ("host", "localhost:8000")];
        assert!(!p.allows(&parts("POST", &other_port)));
        assert!(!p.allows(&parts("POST", &[("origin", "null"), ("host", "localhost:8000")])));
        assert!(!p.allows(&parts("POST", &[("origin", "http://localhost:8000")])));
        assert!(p.allows(&parts("POST", &[("origin", "https://app.example.com")])));
    }

    #[test]
    fn non_browser_requests_pass_and_the_check_can_be_off() {
        assert!(policy().allows(&parts("POST", &[])));
        let off = CsrfPolicy {
            enabled: false,
            trusted: vec![],
        };
        assert!(off.allows(&parts("POST", &[("sec-fetch-site", "cross-site")])));
    }

    #[test]
    fn trusted_origins_are_checked() {
        assert_eq!(
            parse_origin("https://App.example.com").unwrap(),
            "https://app.example.com"
        );
        assert!(parse_origin("http://localhost:3000").is_ok());
        for bad in [
            "app.example.com",
            "https://",
            "https://a.com/path",
            "ftp://a.com",
            "null",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
