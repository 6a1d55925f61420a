//! Secrets kept out of text a server sends back.
//!
//! A token endpoint or an API that quotes the request it refused (the form
//! with `client_secret=…`, the `Authorization: Bearer …` header) would
//! otherwise carry a credential into an error message, the closing screen,
//! the journal and every report file. Every credential this process holds
//! is created through [`secret`], which remembers its value; the places
//! where a server's text becomes ours pass it through [`scrub`].

use std::borrow::Cow;
use std::sync::RwLock;

use secrecy::SecretString;

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "***";

/// Values shorter than this are not scrubbed: no real credential is that
/// short, and replacing every occurrence of a few common letters would
/// garble the message instead of protecting anything.
const SHORTEST: usize = 8;

/// Every credential value seen, and its form-encoded spelling where that
/// differs (a token endpoint echoing its form quotes it encoded).
static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Wrap `value` as a secret, and remember it so [`scrub`] can find it.
pub(crate) fn secret(value: impl Into<String>) -> SecretString {
    let value = value.into();
    remember(&value);
    SecretString::from(value)
}

/// Remember `value` as a secret without wrapping it.
pub(crate) fn remember(value: &str) {
    if value.len() < SHORTEST {
        return;
    }
    let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    for v in [value.to_string(), encoded] {
        if !known.contains(&v) {
            known.push(v);
        }
    }
    // Longest first: a secret that contains another is replaced whole.
    known.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

/// `text` with every remembered secret replaced by [`REDACTED`].
pub(crate) fn scrub(text: &str) -> Cow<'_, str> {
    let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    scrub_with(text, &known)
}

fn scrub_with<'a>(text: &'a str, known: &[String]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for secret in known {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_raw_and_form_encoded_and_short_values_are_left() {
        let known = |values: &[&str]| {
            let mut v: Vec<String> = Vec::new();
            for value in values {
                v.push(value.to_string());
                v.push(form_urlencoded::byte_serialize(value.as_bytes()).collect());
            }
            v.sort_by_key(|s| std::cmp::Reverse(s.len()));
            v
        };
        let secrets = known(&["Ab8Q~x/y+z=secret", "eyJ0eXAiOiJKV1Qi.payload.sig"]);
        let echoed = "bad request grant_type=client_credentials&client_secret=Ab8Q%7Ex%2Fy%2Bz%3Dsecret&scope=x; \
                      Authorization Failed for Bearer eyJ0eXAiOiJKV1Qi.payload.sig; raw Ab8Q~x/y+z=secret";
        let clean = scrub_with(echoed, &secrets);
        assert_eq!(
            clean,
            "bad request grant_type=client_credentials&client_secret=***&scope=x; \
             Authorization Failed for Bearer ***; raw ***"
        );
        assert!(matches!(
            scrub_with("nothing here", &secrets),
            Cow::Borrowed(_)
        ));
        // Through the registry: a short value is never a secret to scrub.
        remember("abc");
        remember("a-real-looking-secret-value");
        assert_eq!(scrub("abc a-real-looking-secret-value"), "abc ***");
    }
}
