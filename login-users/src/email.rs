//! Email syntax checks and canonicalisation, as FastAPI Users' `EmailStr` (pydantic with
//! email-validator 2, deliverability not checked) does them: the local part in Unicode NFC, the
//! domain through UTS-46 (non-transitional) and given in its Unicode form, in lower case. So
//! `\u{212A}en@example.com` (the Kelvin sign) is `Ken@example.com`, and `ann@xn--bcher-kva.example`,
//! `ann@B\u{DC}CHER.example` and `ann@b\u{FC}cher\u{FF0E}example` are all `ann@b\u{FC}cher.example`.
//!
//! Emails are compared under [`email_key`]: the canonical form with its ASCII letters in lower
//! case. Non-ASCII letters of the local part keep their case (`\u{C4}rger@…` and `\u{E4}rger@…`
//! are two mailboxes, as RFC 5321 lets the receiving host decide and as FastAPI Users on SQLite
//! has them), and the same key is computed by SQL on both stores: SQLite's `lower()` and an
//! ASCII-only `translate()` on PostgreSQL, whose `lower()` folds Unicode by the server's locale.

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Domains email-validator refuses (RFC 6761 special-use names).
const SPECIAL_USE: &[&str] = &["arpa", "invalid", "local", "localhost", "onion", "test"];

/// The longest address accepted (RFC 3696 errata; FastAPI Users' column is `VARCHAR(320)`).
pub const MAX_EMAIL_LEN: usize = 320;

/// The characters UTS-46 reads as a label separator besides `.`: the ideographic, fullwidth and
/// halfwidth ideographic full stops.
const OTHER_FULL_STOPS: [char; 3] = ['\u{3002}', '\u{FF0E}', '\u{FF61}'];

/// The address in its canonical form, or why it is not one (email-validator's words): the local
/// part in NFC, the domain mapped by UTS-46 (so in lower case, fullwidth forms and `xn--` A-labels
/// turned into the plain Unicode label), as email-validator's `normalized`, which FastAPI Users
/// stores.
///
/// ```
/// use login_users::normalize_email;
///
/// assert_eq!(normalize_email("King.Arthur@Camelot.BT").unwrap(), "King.Arthur@camelot.bt");
/// assert_eq!(normalize_email("\u{212A}ay@xn--bcher-kva.example").unwrap(), "Kay@b\u{FC}cher.example");
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
        return Err(too_long(email.len()));
    }
    let local: String = local.nfc().collect();
    check_local(&local)?;
    let domain = canonical_domain(domain)?;
    let email = format!("{local}@{domain}");
    if email.len() > MAX_EMAIL_LEN {
        return Err(too_long(email.len()));
    }
    Ok(email)
}

/// The key emails are compared and counted under (store lookups and unique indexes, the login
/// throttle, the mail limits): the [canonical form](normalize_email) with ASCII letters in lower
/// case. A string that is no valid address keeps its own ASCII-lower-cased self as key; the
/// stores match no user for it.
///
/// ```
/// use login_users::email_key;
///
/// assert_eq!(email_key("\u{212A}ay@EXAMPLE\u{FF0E}com"), "kay@example.com");
/// assert_ne!(email_key("\u{C4}rger@example.com"), email_key("\u{E4}rger@example.com"));
/// ```
pub fn email_key(email: &str) -> String {
    lookup_key(email).unwrap_or_else(|| email.to_ascii_lowercase())
}

/// The key of a valid address; `None` for a string that is none (and so can be no user's).
pub(crate) fn lookup_key(email: &str) -> Option<String> {
    normalize_email(email).ok().map(|e| e.to_ascii_lowercase())
}

fn too_long(len: usize) -> String {
    format!(
        "The email address is too long ({} characters too many).",
        len - MAX_EMAIL_LEN
    )
}

/// How a refused character is named: printable ones quoted, the others by code point (as
/// email-validator names `U+0000`).
fn shown(c: char) -> String {
    if c.is_control() || c.is_whitespace() || (!c.is_ascii() && !c.is_alphanumeric()) {
        format!("U+{:04X}", u32::from(c))
    } else {
        format!("'{c}'")
    }
}

/// The domain through UTS-46: checked, mapped (case, width, `xn--`), in its Unicode form.
fn canonical_domain(domain: &str) -> Result<String, String> {
    let bad: Vec<String> = domain
        .chars()
        .filter(|c| {
            !(c.is_ascii_alphanumeric()
                || *c == '-'
                || *c == '.'
                || (!c.is_ascii() && (c.is_alphanumeric() || is_combining_mark(*c)))
                || OTHER_FULL_STOPS.contains(c))
        })
        .map(shown)
        .collect();
    if !bad.is_empty() {
        return Err(format!(
            "The part after the @-sign contains invalid characters: {}.",
            bad.join(", ")
        ));
    }
    let uts46 = Uts46::new();
    let invalid = || "The part after the @-sign is not valid IDNA or a valid domain name.".to_owned();
    let ascii = if domain.is_ascii() && !domain.to_ascii_lowercase().contains("xn--") {
        domain.to_ascii_lowercase()
    } else {
        uts46
            .to_ascii(
                domain.as_bytes(),
                AsciiDenyList::STD3,
                Hyphens::Allow,
                DnsLength::Ignore,
            )
            .map_err(|_| invalid())?
            .into_owned()
    };
    check_domain(&ascii)?;
    let (unicode, checked) = uts46.to_unicode(ascii.as_bytes(), AsciiDenyList::STD3, Hyphens::Allow);
    checked.map_err(|_| invalid())?;
    // Letters, digits and marks only (IDNA2008 refuses symbols such as emoji, which UTS-46 lets
    // through).
    if !unicode
        .chars()
        .all(|c| c.is_alphanumeric() || is_combining_mark(c) || c == '-' || c == '.')
    {
        return Err(invalid());
    }
    Ok(unicode.into_owned())
}

fn check_local(local: &str) -> Result<(), String> {
    if local.len() > 64 {
        return Err(format!(
            "The email address is too long before the @-sign ({} characters too many).",
            local.len() - 64
        ));
    }
    let bad: Vec<String> = local
        .chars()
        .enumerate()
        .filter(|(i, c)| {
            !(c.is_ascii_alphanumeric()
                || "!#$%&'*+-/=?^_`{|}~.".contains(*c)
                || (!c.is_ascii() && (c.is_alphanumeric() || (*i > 0 && is_combining_mark(*c)))))
        })
        .map(|(_, c)| shown(c))
        .collect();
    if !bad.is_empty() {
        return Err(format!(
            "The email address contains invalid characters before the @-sign: {}.",
            bad.join(", ")
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

/// A stored row whose email is not in canonical form (an older version of this crate lower-cased
/// the domain only): its id, and the email it is rewritten to at start-up.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[derive(Debug)]
pub(crate) struct Rewrite {
    pub id: String,
    pub canonical: String,
}

/// The rewrites `rows` (id, stored email) need; rows that are no valid address stay as they are
/// (no lookup can reach them, and nothing is lost). Two rewrites to one key are a conflict: the
/// ids of each such pair.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn plan_rewrites(
    rows: impl IntoIterator<Item = (String, String)>,
) -> (Vec<Rewrite>, Vec<(String, String)>) {
    let mut rewrites = Vec::new();
    let mut seen = std::collections::HashMap::<String, String>::new();
    let mut conflicts = Vec::new();
    for (id, stored) in rows {
        let Ok(canonical) = normalize_email(&stored) else {
            continue;
        };
        if canonical == stored {
            continue;
        }
        match seen.entry(canonical.to_ascii_lowercase()) {
            std::collections::hash_map::Entry::Occupied(other) => {
                conflicts.push((other.get().clone(), id));
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(id.clone());
                rewrites.push(Rewrite { id, canonical });
            }
        }
    }
    (rewrites, conflicts)
}

/// The start-up error for rows that are one mailbox under the canonical form.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn conflict_message(table: &str, pairs: &[(String, String)]) -> String {
    let shown: Vec<String> = pairs
        .iter()
        .take(10)
        .map(|(a, b)| format!("{a} and {b}"))
        .collect();
    let more = if pairs.len() > 10 {
        format!(" and {} more pairs", pairs.len() - 10)
    } else {
        String::new()
    };
    format!(
        "the {table} table holds emails that are one mailbox (the same address once the domain \
         goes through IDNA/UTS-46, the local part through NFC, and ASCII case is ignored): rows \
         {}{more}; merge or rename them, then start again",
        shown.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::{email_key, normalize_email};

    /// What email-validator 2.4.0 (FastAPI Users' `EmailStr`, deliverability off) makes of tricky
    /// addresses: its `normalized` form, or `None` where it refuses. Made by
    /// `tests/fixtures/email_validator/probe.py` from `cases.json` beside it.
    const EMAIL_VALIDATOR_TABLE: &[(&str, Option<&str>)] = &[
        ("king.arthur@camelot.bt", Some("king.arthur@camelot.bt")),
        ("Mixed.Case@Example.COM", Some("Mixed.Case@example.com")),
        ("kiki@example.com", Some("kiki@example.com")),
        ("KIKI@EXAMPLE.COM", Some("KIKI@example.com")),
        ("k\u{130}ki@example.com", Some("k\u{130}ki@example.com")),
        ("\u{212A}iki@example.com", Some("Kiki@example.com")),
        ("kiki@\u{FF45}xample.com", Some("kiki@example.com")),
        ("kiki@example\u{FF0E}com", Some("kiki@example.com")),
        ("kiki@EXAMPLE\u{3002}com", Some("kiki@example.com")),
        ("kiki@xn--bcher-kva.example", Some("kiki@b\u{FC}cher.example")),
        ("kiki@B\u{DC}cher.example", Some("kiki@b\u{FC}cher.example")),
        ("kiki@b\u{FC}cher.example", Some("kiki@b\u{FC}cher.example")),
        ("kiki@bu\u{308}cher.example", Some("kiki@b\u{FC}cher.example")),
        ("\u{C4}rger@example.com", Some("\u{C4}rger@example.com")),
        ("\u{E4}rger@example.com", Some("\u{E4}rger@example.com")),
        ("a\u{308}rger@example.com", Some("\u{E4}rger@example.com")),
        ("stra\u{DF}e@example.com", Some("stra\u{DF}e@example.com")),
        ("kiki@stra\u{DF}e.de", Some("kiki@stra\u{DF}e.de")),
        ("kiki@xn--strae-oqa.de", Some("kiki@stra\u{DF}e.de")),
        ("kiki@fa\u{DF}.de", Some("kiki@fa\u{DF}.de")),
        (
            "kiki@\u{130}stanbul.example",
            Some("kiki@i\u{307}stanbul.example"),
        ),
        ("kiki@\u{212A}elvin.example", Some("kiki@kelvin.example")),
        ("a\u{0}b@example.com", None),
        ("kiki\u{0}@example.com", None),
        ("a\u{9}b@example.com", None),
        ("a\u{200B}b@example.com", None),
        ("kiki@exa\u{200B}mple.com", None),
        ("kiki@xn--ls8h.la", None),
        ("kiki@\u{1F4A9}.la", None),
        ("\u{661}\u{662}@example.com", Some("\u{661}\u{662}@example.com")),
        ("kiki@xn--.com", None),
        ("kiki@xn--a.com", None),
        ("kiki@XN--BCHER-KVA.example", Some("kiki@b\u{FC}cher.example")),
        (
            "\u{FF4B}\u{FF49}\u{FF4B}\u{FF49}@example.com",
            Some("\u{FF4B}\u{FF49}\u{FF4B}\u{FF49}@example.com"),
        ),
        ("kiki@example.com.", None),
        ("kiki@localhost", None),
        ("kiki@example.123", None),
        ("a..b@example.com", None),
        ("kiki@example..com", None),
        ("\u{E9}@example.com", Some("\u{E9}@example.com")),
        ("e\u{301}@example.com", Some("\u{E9}@example.com")),
        ("kiki@\u{E9}xample.com", Some("kiki@\u{E9}xample.com")),
        ("kiki@e\u{301}xample.com", Some("kiki@\u{E9}xample.com")),
        ("kiki@-example.com", None),
        ("kiki@ex_ample.com", None),
        ("\u{2126}@example.com", Some("\u{3A9}@example.com")),
        ("kiki@\u{2126}.example", Some("kiki@\u{3C9}.example")),
        ("user+tag@example.com", Some("user+tag@example.com")),
        ("o'brien@example.ie", Some("o'brien@example.ie")),
        ("kiki@a.b.c.d.example", Some("kiki@a.b.c.d.example")),
        ("kiki@xn--zca.example", Some("kiki@\u{DF}.example")),
        ("kiki@\u{391}\u{392}.example", Some("kiki@\u{3B1}\u{3B2}.example")),
        ("\u{391}\u{392}@example.com", Some("\u{391}\u{392}@example.com")),
        ("kiki@\u{FF21}\u{FF22}\u{FF23}.example", Some("kiki@abc.example")),
        ("\u{A0}@example.com", None),
        ("a\u{AD}b@example.com", None),
        ("kiki@ex\u{AD}ample.com", None),
        ("kiki@exam\u{FE0F}ple.com", Some("kiki@example.com")),
        ("a\u{301}@example.com", Some("\u{E1}@example.com")),
        ("\u{301}a@example.com", None),
        ("kiki@\u{301}a.example", None),
        ("kiki@exa mple.com", None),
        ("a\u{22}b@example.com", None),
        (
            "kiki@\u{130}STANBUL.example",
            Some("kiki@i\u{307}stanbul.example"),
        ),
        ("\u{212A}@example.com", Some("K@example.com")),
        ("kiki@example.c\u{F6}m", Some("kiki@example.c\u{F6}m")),
        ("ki\u{0}ki@example.com", None),
        ("kiki@example.com\u{0}", None),
        ("kiki@ex\u{0}ample.com", None),
        ("kiki\u{1F}@example.com", None),
        ("kiki\u{7F}@example.com", None),
        ("kiki\u{85}@example.com", None),
        ("kiki@xn--ls8h.example", None),
        ("\u{2163}@example.com", Some("\u{2163}@example.com")),
    ];

    #[test]
    fn agrees_with_email_validator() {
        let mut wrong = Vec::new();
        for (input, expected) in EMAIL_VALIDATOR_TABLE {
            let ours = normalize_email(input).ok();
            if ours.as_deref() != *expected {
                wrong.push(format!("{input:?}: email-validator {expected:?}, ours {ours:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn keys_fold_ascii_case_of_the_canonical_form_only() {
        for (a, b) in [
            ("KIKI@EXAMPLE.COM", "kiki@example.com"),
            ("\u{212A}iki@example.com", "kiki@example.com"),
            ("kiki@\u{FF45}xample\u{3002}com", "kiki@example.com"),
            ("kiki@xn--bcher-kva.example", "kiki@B\u{DC}CHER.example"),
            ("a\u{308}rger@example.com", "\u{E4}rger@example.com"),
        ] {
            assert_eq!(email_key(a), email_key(b), "{a:?} and {b:?}");
        }
        for (a, b) in [
            ("k\u{130}ki@example.com", "kiki@example.com"),
            ("\u{C4}rger@example.com", "\u{E4}rger@example.com"),
            ("stra\u{DF}e@example.com", "strasse@example.com"),
        ] {
            assert_ne!(email_key(a), email_key(b), "{a:?} and {b:?}");
        }
        // No address: the string itself, ASCII-folded (the stores match no user for it).
        assert_eq!(email_key("Not An\0Address"), "not an\0address");
    }

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
