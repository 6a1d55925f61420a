//! What qualrecon accepts from the network, in one place: which URLs it will
//! send credentials to, that it never follows a redirect, how much of an
//! answer it reads, and how a failed exchange is put in words. `config.rs`
//! applies the URL and token rules before any request; `api.rs` and
//! `auth.rs` read every body through [`read_body`] and describe transport
//! failures with [`describe_transport`].

use std::time::{Duration, SystemTime};

use futures::{Stream, StreamExt};
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{StatusCode, Url};

/// Most bytes of one API answer read (any status). Real qualification
/// answers are a few hundred bytes; this leaves three orders of magnitude.
pub(crate) const MAX_API_BODY: usize = 4 * 1024 * 1024;

/// Most bytes of one token-endpoint answer read. An AAD token response is a
/// few kilobytes.
pub(crate) const MAX_TOKEN_BODY: usize = 1024 * 1024;

/// Whether `url` names this machine: `localhost`, 127.0.0.0/8 or `::1`.
/// Only there may credentials travel over plain `http`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    // An IPv6 host comes in brackets.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The rules for `--base-url` and `--authority`, the two URLs that receive
/// credentials: a parsable `https` URL with a host, `http` only on loopback,
/// and no user info (reqwest would send it as Basic auth, and it would land
/// in `summary.json`). The error names `option` and shows the URL with any
/// user info replaced, never the password.
pub(crate) fn check_endpoint_url(raw: &str, option: &str) -> Result<(), String> {
    let shown = without_userinfo(raw);
    let url = Url::parse(raw).map_err(|e| format!("{option} is not a URL ({e}): `{shown}`"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{option} must not carry a user name or password (`{shown}`): remove the part up to `@` (qualrecon signs in with a bearer token; user info would go out as Basic auth and into summary.json)"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{option} must not carry a query or fragment (`?…`, `#…`): `{shown}`; give the root URL only"
        ));
    }
    match url.scheme() {
        "https" if url.has_host() => Ok(()),
        "http" if url.has_host() && is_loopback(&url) => Ok(()),
        "http" if url.has_host() => Err(format!(
            "{option} must use https: `{shown}` would send credentials in clear text (plain http is allowed only for loopback hosts: localhost, 127.0.0.0/8, ::1)"
        )),
        _ => Err(format!(
            "{option} must be an https URL with a host, got `{shown}`"
        )),
    }
}

/// `raw` for an error message, with whatever stands between `scheme://` and
/// the last `@` of the authority replaced by `***`. Works on text that is
/// not a valid URL too, so not even a mistyped URL prints its password.
fn without_userinfo(raw: &str) -> String {
    let start = raw.find("://").map_or(0, |i| i + 3);
    let rest = &raw[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &raw[..start], &rest[at..]),
        None => raw.to_string(),
    }
}

/// A static bearer token must be sendable as an `Authorization` header value:
/// printable ASCII only (`HeaderValue::from_str` would also pass a tab, which
/// no real token holds). The error says where and what, never the token.
pub(crate) fn check_header_token(token: &str, name: &str) -> Result<(), String> {
    let Some((i, c)) = token
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii() || c.is_ascii_control())
    else {
        return Ok(());
    };
    let what = match c {
        '\n' | '\r' => "a line break".to_string(),
        c if c.is_ascii() => format!("the control character U+{:04X}", c as u32),
        _ => "a non-ASCII character".to_string(),
    };
    Err(format!(
        "{name} cannot be sent as an HTTP header: character {} of {} is {what}; set it to the bare token (one line of printable ASCII)",
        i + 1,
        token.chars().count()
    ))
}

/// `HTTP 302 Found`.
pub(crate) fn status_line(status: StatusCode) -> String {
    format!(
        "HTTP {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .trim_end()
    .to_string()
}

/// A 3xx answer in words: the status and the host it pointed to (never the
/// whole Location, whose query may carry anything). `url` is the request's,
/// against which a relative Location resolves.
pub(crate) fn refused_redirect(status: StatusCode, headers: &HeaderMap, url: &Url) -> String {
    let location = headers.get(LOCATION);
    let host = location
        .and_then(|v| v.to_str().ok())
        .and_then(|l| url.join(l.trim()).ok())
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        });
    let what = match (location, host) {
        (_, Some(host)) => format!("redirect to {host} refused"),
        (Some(_), None) => "redirect to an unreadable Location refused".to_string(),
        (None, None) => "redirect (without a Location) refused".to_string(),
    };
    format!(
        "{}: {what} (qualrecon never follows redirects)",
        status_line(status)
    )
}

/// A reqwest error in words an operator can act on, with its causes.
pub(crate) fn describe_transport(e: &reqwest::Error) -> String {
    let what = if e.is_connect() {
        "could not connect"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "response body cut short"
    } else if e.is_request() {
        "connection failed"
    } else {
        "transport error"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = s.source();
    }
    // The URL is on the row already; keep the message about the fault.
    if causes.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {}", causes.join(": "))
    }
}

/// A body over its cap. Deterministic: the same request would get the same
/// answer, so it is not worth a retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TooLarge {
    /// `Content-Length` said so; nothing was read.
    #[error("response body larger than the {} limit (Content-Length {length}); not read", size(*.cap))]
    Declared { cap: usize, length: u64 },
    /// No (or a smaller) length announced, but the bytes kept coming.
    #[error("response body larger than the {} limit; reading stopped there", size(*.cap))]
    Streamed { cap: usize },
}

/// `4 MiB`, or plain bytes for caps that are no whole number of MiB.
fn size(cap: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if cap >= MIB && cap.is_multiple_of(MIB) {
        format!("{} MiB", cap / MIB)
    } else {
        format!("{cap} bytes")
    }
}

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum ReadError<E> {
    TooLarge(TooLarge),
    /// The chunk source failed (connection reset, timeout, …).
    Source(E),
}

/// Read a body of at most `cap` bytes from a stream of chunks. A declared
/// `content_length` over the cap is refused before the first chunk is
/// pulled; otherwise chunks are appended until the stream ends, and the
/// first chunk that would take the total past the cap ends the read (it is
/// not appended, and no further chunk is pulled). So at most `cap` bytes
/// plus the chunk in hand are ever held, whatever the server sends.
pub(crate) async fn read_capped<S, B, E>(
    content_length: Option<u64>,
    cap: usize,
    chunks: S,
) -> Result<Vec<u8>, ReadError<E>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    if let Some(length) = content_length
        && length > cap as u64
    {
        return Err(ReadError::TooLarge(TooLarge::Declared { cap, length }));
    }
    // Trust a declared length only for the first allocation, and only
    // because it is within the cap.
    let mut body = Vec::with_capacity(content_length.map_or(0, |l| l as usize));
    let mut chunks = std::pin::pin!(chunks);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(ReadError::Source)?;
        let chunk = chunk.as_ref();
        if chunk.len() > cap - body.len() {
            return Err(ReadError::TooLarge(TooLarge::Streamed { cap }));
        }
        body.extend_from_slice(chunk);
    }
    Ok(body)
}

/// [`read_capped`] over a reqwest response. Dropping the response after a
/// refusal closes its connection, so the rest is never read.
pub(crate) async fn read_body(
    response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, ReadError<reqwest::Error>> {
    let length = response.content_length();
    let chunks = futures::stream::unfold(response, |mut response| async move {
        match response.chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), response)),
            Ok(None) => None,
            Err(e) => Some((Err(e), response)),
        }
    });
    read_capped(length, cap, chunks).await
}

/// Longest Retry-After we represent; a longer one (or a date further out)
/// is read as this long. Any Retry-After beyond `--max-wait` (at most 366
/// days) stops the run, so the cap only keeps timer arithmetic finite: an
/// hour-long Retry-After is a real answer (maintenance, a daily quota), not
/// nonsense to back off from on our own schedule.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(400 * 86_400);

/// Retry-After as delta-seconds or an HTTP date, capped at
/// [`MAX_RETRY_AFTER`]; `None` for anything else, in which case the caller
/// backs off itself.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = value.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64()))
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cell::Cell;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn loopback_hosts() {
        for yes in [
            "http://127.0.0.1:8080",
            "http://127.5.6.7/",
            "http://localhost:1/x",
            "http://LocalHost/",
            "http://[::1]:1",
        ] {
            assert!(is_loopback(&url(yes)), "{yes}");
        }
        for no in [
            "https://api.partnercenter.microsoft.com",
            "http://128.0.0.1/",
            "http://localhost.example.com/",
            "http://[::2]/",
            "http://10.0.0.1/",
        ] {
            assert!(!is_loopback(&url(no)), "{no}");
        }
    }

    #[test]
    fn endpoint_urls_need_https_off_loopback() {
        for ok in [
            "https://api.partnercenter.microsoft.com",
            "https://login.microsoftonline.com/",
            "http://127.0.0.1:4000",
            "http://127.0.0.2:4000/x",
            "http://localhost:9",
            "http://[::1]:9",
        ] {
            assert_eq!(check_endpoint_url(ok, "--base-url"), Ok(()), "{ok}");
        }
        let e = check_endpoint_url("http://example.invalid", "--base-url").unwrap_err();
        assert!(e.contains("--base-url must use https"), "{e}");
        for bad in ["ftp://x", "file:///etc/passwd", "not a url", "", "https://"] {
            let e = check_endpoint_url(bad, "--authority").unwrap_err();
            assert!(e.starts_with("--authority"), "{bad}: {e}");
        }
    }

    #[test]
    fn user_info_is_refused_without_printing_the_password() {
        for raw in [
            "https://alice:hunter2@api.example.com/",
            "https://alice@api.example.com/",
            "http://alice:hunter2@127.0.0.1:9/",
            "https://alice:hunter2@exa mple.com/",
            "https://a@b:hunter2@api.example.com/x@y",
        ] {
            let e = check_endpoint_url(raw, "--base-url").unwrap_err();
            assert!(!e.contains("hunter2"), "{e}");
            assert!(!e.contains("alice"), "{e}");
        }
        assert_eq!(
            without_userinfo("https://u:p@host:1/path@x?q=a@b"),
            "https://***@host:1/path@x?q=a@b"
        );
        assert_eq!(without_userinfo("https://host/"), "https://host/");
    }

    #[test]
    fn static_tokens_must_be_printable_ascii() {
        assert_eq!(check_header_token("eyJ0eXAi.abc-_~+/=", "T"), Ok(()));
        for (bad, what) in [
            ("abc\ndef", "a line break"),
            ("abc\rdef", "a line break"),
            ("abc\tdef", "U+0009"),
            ("abc\u{7f}", "U+007F"),
            ("abcé", "non-ASCII"),
        ] {
            let e = check_header_token(bad, "PARTNER_CENTER_TOKEN").unwrap_err();
            assert!(e.contains(what), "{e}");
            assert!(!e.contains("abc"), "{e}");
        }
    }

    #[test]
    fn redirects_name_the_status_and_only_the_host() {
        let base = url("https://api.example.com/v1/customers/x/qualifications");
        let mut h = HeaderMap::new();
        h.insert(
            LOCATION,
            "https://u:p@other.example:8443/steal?token=abc"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            refused_redirect(StatusCode::FOUND, &h, &base),
            "HTTP 302 Found: redirect to other.example:8443 refused (qualrecon never follows redirects)"
        );
        h.insert(LOCATION, "/elsewhere".parse().unwrap());
        assert!(
            refused_redirect(StatusCode::TEMPORARY_REDIRECT, &h, &base)
                .starts_with("HTTP 307 Temporary Redirect: redirect to api.example.com refused")
        );
        let none = refused_redirect(StatusCode::MULTIPLE_CHOICES, &HeaderMap::new(), &base);
        assert!(none.contains("without a Location"), "{none}");
    }

    #[test]
    fn caps_are_named_in_mib() {
        assert_eq!(
            TooLarge::Declared {
                cap: MAX_API_BODY,
                length: 314_572_800
            }
            .to_string(),
            "response body larger than the 4 MiB limit (Content-Length 314572800); not read"
        );
        assert_eq!(
            TooLarge::Streamed {
                cap: MAX_TOKEN_BODY
            }
            .to_string(),
            "response body larger than the 1 MiB limit; reading stopped there"
        );
        assert!(
            TooLarge::Streamed { cap: 10 }
                .to_string()
                .contains("10 bytes")
        );
    }

    /// Feed `chunks` to [`read_capped`], counting the bytes it pulled.
    fn read(
        chunks: &[Vec<u8>],
        length: Option<u64>,
        cap: usize,
    ) -> (Result<Vec<u8>, ReadError<()>>, usize, usize) {
        let pulled = Cell::new(0usize);
        let biggest = Cell::new(0usize);
        let stream = futures::stream::iter(chunks.iter().map(|c| {
            pulled.set(pulled.get() + c.len());
            biggest.set(biggest.get().max(c.len()));
            Ok::<_, ()>(c.clone())
        }));
        let result = futures::executor::block_on(read_capped(length, cap, stream));
        (result, pulled.get(), biggest.get())
    }

    #[test]
    fn a_declared_length_over_the_cap_reads_nothing() {
        let (r, pulled, _) = read(&[vec![1; 10]], Some(11), 10);
        assert!(matches!(
            r,
            Err(ReadError::TooLarge(TooLarge::Declared {
                cap: 10,
                length: 11
            }))
        ));
        assert_eq!(pulled, 0);
        let (r, _, _) = read(&[vec![1; 10]], Some(10), 10);
        assert_eq!(r.unwrap(), vec![1; 10]);
    }

    #[test]
    fn source_errors_pass_through() {
        let stream = futures::stream::iter([Ok(vec![1u8]), Err("reset")]);
        let r = futures::executor::block_on(read_capped(None, 10, stream));
        assert!(matches!(r, Err(ReadError::Source("reset"))));
    }

    proptest! {
        #[test]
        fn capped_reads_under_any_chunking(
            chunks in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..64), 0..40),
            cap in 0usize..600,
            declare in any::<bool>(),
        ) {
            let all: Vec<u8> = chunks.concat();
            let length = declare.then_some(all.len() as u64);
            let (result, pulled, biggest) = read(&chunks, length, cap);
            // Never more than the cap plus the one chunk in hand.
            prop_assert!(pulled <= cap + biggest, "pulled {pulled}, cap {cap}");
            match result {
                Ok(body) => {
                    prop_assert!(all.len() <= cap);
                    prop_assert_eq!(body, all);
                }
                Err(ReadError::TooLarge(TooLarge::Declared { length, .. })) => {
                    prop_assert!(declare && all.len() > cap);
                    prop_assert_eq!(length, all.len() as u64);
                    prop_assert_eq!(pulled, 0);
                }
                Err(ReadError::TooLarge(TooLarge::Streamed { .. })) => {
                    prop_assert!(!declare && all.len() > cap);
                }
                Err(ReadError::Source(())) => prop_assert!(false, "no source error"),
            }
        }
    }
}
