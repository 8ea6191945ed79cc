//! Email syntax checks and normalisation, as FastAPI Users' `EmailStr` (pydantic with
//! email-validator, deliverability not checked) does them: the domain is lower-cased, the local
//! part kept as written.

/// Domains email-validator refuses (RFC 6761 special-use names).
const SPECIAL_USE: &[&str] = &["arpa", "invalid", "local", "localhost", "onion", "test"];

/// The longest address accepted (RFC 3696 errata; FastAPI Users' column is `VARCHAR(320)`).
pub const MAX_EMAIL_LEN: usize = 320;

/// The address with its domain in lower case, or why it is not one (email-validator's words).
///
/// ```
/// use login_runtime::users::normalize_email;
///
/// assert_eq!(normalize_email("King.Arthur@Camelot.BT").unwrap(), "King.Arthur@camelot.bt");
/// assert_eq!(normalize_email("arthur").unwrap_err(), "An email address must have an @-sign.");
/// ```
pub fn normalize_email(email: &str) -> Result<String, String> {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err("An email address must have an @-sign.".into());
    };
    if local.is_empty() {
        return Err("There must be something before the @-sign.".into());
    }
    if domain.is_empty() {
        return Err("There must be something after the @-sign.".into());
    }
    if email.len() > MAX_EMAIL_LEN {
        return Err(format!(
            "The email address is too long ({} characters too many).",
            email.len() - MAX_EMAIL_LEN
        ));
    }
    check_local(local)?;
    let domain = domain.to_lowercase();
    check_domain(&domain)?;
    Ok(format!("{local}@{domain}"))
}

fn check_local(local: &str) -> Result<(), String> {
    if local.len() > 64 {
        return Err(format!(
            "The email address is too long before the @-sign ({} characters too many).",
            local.len() - 64
        ));
    }
    let bad: Vec<char> = local
        .chars()
        .filter(|c| !(c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(*c)))
        .collect();
    if !bad.is_empty() {
        let list: Vec<String> = bad.iter().map(|c| format!("{c:?}").replace('"', "'")).collect();
        return Err(format!(
            "The email address contains invalid characters before the @-sign: {}.",
            list.join(", ")
        ));
    }
    if local.starts_with('.') {
        return Err("An email address cannot start with a period.".into());
    }
    if local.ends_with('.') {
        return Err("An email address cannot have a period immediately before the @-sign.".into());
    }
    if local.contains("..") {
        return Err("An email address cannot have two periods in a row.".into());
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), String> {
    let bad: Vec<char> = domain
        .chars()
        .filter(|c| !(c.is_alphanumeric() || *c == '-' || *c == '.'))
        .collect();
    if !bad.is_empty() {
        let list: Vec<String> = bad.iter().map(|c| format!("'{c}'")).collect();
        return Err(format!(
            "The part after the @-sign contains invalid characters: {}.",
            list.join(", ")
        ));
    }
    if domain.starts_with('.') {
        return Err("An email address cannot have a period immediately after the @-sign.".into());
    }
    if domain.ends_with('.') {
        return Err("An email address cannot end with a period.".into());
    }
    if domain.contains("..") {
        return Err("An email address cannot have two periods in a row.".into());
    }
    for label in domain.split('.') {
        if label.starts_with('-') || label.ends_with('-') {
            return Err("An email address cannot have a hyphen immediately before or after a period.".into());
        }
        if label.len() > 63 {
            return Err("The email address is too long after the @-sign.".into());
        }
    }
    let tld = domain.rsplit('.').next().unwrap_or(domain);
    if !domain.contains('.') {
        return Err("The part after the @-sign is not valid. It should have a period.".into());
    }
    if tld.chars().all(|c| c.is_ascii_digit()) {
        return Err("The part after the @-sign is not valid IDNA or a valid domain name.".into());
    }
    if SPECIAL_USE
        .iter()
        .any(|s| domain == *s || domain.ends_with(&format!(".{s}")))
    {
        return Err(
            "The part after the @-sign is a special-use or reserved name that cannot be used with email."
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::normalize_email;

    #[test]
    fn accepts_and_normalises() {
        for (input, out) in [
            ("king.arthur@camelot.bt", "king.arthur@camelot.bt"),
            ("Mixed.Case@Example.COM", "Mixed.Case@example.com"),
            ("a+tag@sub.example.org", "a+tag@sub.example.org"),
            ("o'brien@example.ie", "o'brien@example.ie"),
        ] {
            assert_eq!(normalize_email(input).as_deref(), Ok(out), "{input}");
        }
    }

    #[test]
    fn refuses() {
        for input in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a b@example.com",
            "a@exa mple.com",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a@example",
            "a@-example.com",
            "a@example..com",
            "a@example.123",
            "a@localhost",
            "a@mail.test",
            "a\"b@example.com",
        ] {
            assert!(normalize_email(input).is_err(), "{input:?} was accepted");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(normalize_email(&long).is_err());
    }
}
