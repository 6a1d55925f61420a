//! A hostile Partner Center for black-box tests: a small axum server on a
//! loopback port 0 that answers the token endpoint and the API the way a
//! broken or malicious world might (redirects elsewhere, huge and endless
//! bodies), and journals every request it got (method, path, headers, body)
//! so tests can assert what the client sent where.
//!
//! Second hosts live on 127.0.0.2 ([`second_loopback`]): Linux routes all of
//! 127.0.0.0/8 to `lo`, so it binds without setup. Where it does not (some
//! BSDs, macOS without an alias), the second server falls back to 127.0.0.1
//! on another port: still another origin, and the assertions (nothing
//! reaches it) hold the same.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures::stream::{self, StreamExt};
use tokio::sync::oneshot;

/// The bearer token the [`Answer::Open`] token endpoint issues.
pub(crate) const ISSUED_TOKEN: &str = "hostile-issued-token";

/// What one request got, as received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Every header, lower-case name → value (lossy UTF-8).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this was a token-endpoint request.
    pub(crate) fn is_token(&self) -> bool {
        self.path
            .split('?')
            .next()
            .unwrap_or("")
            .ends_with("/token")
    }

    /// Whether `needle` appears anywhere in the request (path, headers, body).
    pub(crate) fn contains(&self, needle: &str) -> bool {
        self.path.contains(needle)
            || self
                .headers
                .iter()
                .any(|(k, v)| k.contains(needle) || v.contains(needle))
            || String::from_utf8_lossy(&self.body).contains(needle)
    }
}

/// How the server answers one kind of request (token or API).
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// Token endpoint: a token for anyone. API: `{"qualifications":[]}`
    /// for anyone, no authentication asked.
    Open,
    /// `status` with `Location: {to}{path}?token=leak`.
    Redirect { status: u16, to: String },
    /// `status` with `Content-Length: length` and that many bytes, streamed
    /// (never held in memory).
    Huge { status: u16, length: u64 },
    /// `status`, chunked with no `Content-Length`: `length` bytes, or
    /// without end when `None`.
    Chunked { status: u16, length: Option<u64> },
    /// 200 with this JSON body, whatever was asked.
    Json(String),
    /// Quotes the request back, as servers that echo what they refused do.
    /// Token endpoint: `status` with AAD's error shape, its description
    /// the form it got (after an escape code and a bell). API: `status`
    /// with an ApiFault quoting the `Authorization` header, or for 200 a
    /// qualification whose reason and status quote it.
    Echo { status: u16 },
    /// 429 with this `Retry-After` and AAD's error shape.
    Throttled { retry_after: &'static str },
    /// API: the first request gets a 429 with `Retry-After: {retry_after}`
    /// whose headers go out at once and whose body follows `body_delay`
    /// later (a server writing them apart, a slow proxy); every later
    /// request is answered as [`Answer::Open`].
    ThrottleOnceSlowly {
        retry_after: u64,
        body_delay: Duration,
    },
}

#[derive(Clone)]
struct Behaviour {
    token: Answer,
    api: Answer,
    journal: Arc<Mutex<Vec<Seen>>>,
    /// API requests answered so far.
    api_answered: Arc<std::sync::atomic::AtomicUsize>,
}

/// A running hostile server, on its own runtime so the test thread can
/// block on the binary.
pub(crate) struct Hostile {
    rt: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
    journal: Arc<Mutex<Vec<Seen>>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Hostile {
    /// Serve on 127.0.0.1, port 0.
    pub(crate) fn start(token: Answer, api: Answer) -> Hostile {
        Hostile::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), token, api)
    }

    /// Serve on `ip`, port 0.
    pub(crate) fn start_on(ip: IpAddr, token: Answer, api: Answer) -> Hostile {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let journal = Arc::new(Mutex::new(Vec::new()));
        let state = Behaviour {
            token,
            api,
            journal: journal.clone(),
            api_answered: Arc::default(),
        };
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(SocketAddr::new(ip, 0)))
            .expect("bind the hostile server");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Router::new().fallback(handle).with_state(state);
        rt.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .expect("hostile server");
        });
        Hostile {
            rt: Some(rt),
            addr,
            journal,
            stop: Some(stop),
        }
    }

    /// A second server on another loopback address (see the module docs).
    pub(crate) fn start_second(token: Answer, api: Answer) -> Hostile {
        Hostile::start_on(second_loopback(), token, api)
    }

    /// `http://ip:port`: the API root and the authority alike.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ip:port`, as an error message names the host.
    pub(crate) fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Every request so far, in arrival order.
    pub(crate) fn journal(&self) -> Vec<Seen> {
        self.journal.lock().expect("journal").clone()
    }

    /// API (non-token) requests so far.
    pub(crate) fn api_requests(&self) -> Vec<Seen> {
        self.journal()
            .into_iter()
            .filter(|s| !s.is_token())
            .collect()
    }

    /// Token-endpoint requests so far.
    pub(crate) fn token_requests(&self) -> Vec<Seen> {
        self.journal().into_iter().filter(Seen::is_token).collect()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Endless bodies to a vanished client must not hold the test up.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// 127.0.0.2 when it can be bound here, else 127.0.0.1.
pub(crate) fn second_loopback() -> IpAddr {
    let second = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    if std::net::TcpListener::bind(SocketAddr::new(second, 0)).is_ok() {
        second
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
}

async fn handle(State(b): State<Behaviour>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_string(), ToString::to_string);
    let seen = Seen {
        method: parts.method.to_string(),
        path: path.clone(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        at: Instant::now(),
    };
    let is_token = seen.is_token();
    b.journal.lock().expect("journal").push(seen);
    let answer = if is_token { &b.token } else { &b.api };
    if let Answer::ThrottleOnceSlowly {
        retry_after,
        body_delay,
    } = answer
    {
        let nth = b
            .api_answered
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if is_token || nth > 0 {
            return respond(&Answer::Open, is_token, parts.uri.path());
        }
        let delay = *body_delay;
        let body = stream::once(async move {
            tokio::time::sleep(delay).await;
            Ok::<_, std::io::Error>(Bytes::from_static(
                br#"{"statusCode":429,"message":"Rate limit is exceeded."}"#,
            ))
        });
        return Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header(header::RETRY_AFTER, retry_after.to_string())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(body.boxed()))
            .expect("response");
    }
    if let Answer::Echo { status } = answer {
        return echo(
            *status,
            is_token,
            &b.journal
                .lock()
                .expect("journal")
                .last()
                .expect("just pushed")
                .clone(),
        );
    }
    respond(answer, is_token, parts.uri.path())
}

/// [`Answer::Echo`].
fn echo(status: u16, is_token: bool, seen: &Seen) -> Response {
    let auth = seen.header("authorization").unwrap_or_default();
    let body = if is_token {
        serde_json::json!({
            "error": "invalid_client\u{1b}[2J",
            "error_description": format!("AADSTS7000215: \u{1b}[31mbad request\u{7} {}", String::from_utf8_lossy(&seen.body)),
        })
    } else if status == 200 {
        serde_json::json!([{
            "qualification": "Education",
            "vettingStatus": format!("Quoted {auth}"),
            "vettingReason": format!("Authorization was {auth}"),
        }])
    } else {
        serde_json::json!({"code": 1002, "description": format!("Authorization Failed for {auth}")})
    };
    Response::builder()
        .status(StatusCode::from_u16(status).expect("status"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("response")
}

fn respond(answer: &Answer, is_token: bool, path: &str) -> Response {
    let status = |code: &u16| StatusCode::from_u16(*code).expect("status");
    match answer {
        Answer::Open => {
            let body = if is_token {
                format!(
                    r#"{{"token_type":"Bearer","expires_in":3600,"access_token":"{ISSUED_TOKEN}"}}"#
                )
            } else {
                r#"{"qualifications":[]}"#.to_string()
            };
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .expect("response")
        }
        Answer::Redirect { status: code, to } => Response::builder()
            .status(status(code))
            .header(header::LOCATION, format!("{to}{path}?token=leak"))
            .body(Body::empty())
            .expect("response"),
        Answer::Huge {
            status: code,
            length,
        } => streamed(status(code), Some(*length), true),
        Answer::Chunked {
            status: code,
            length,
        } => streamed(status(code), *length, false),
        Answer::Json(body) => Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.clone()))
            .expect("response"),
        Answer::Echo { .. } | Answer::ThrottleOnceSlowly { .. } => {
            unreachable!("answered in handle()")
        }
        Answer::Throttled { retry_after } => Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header(header::RETRY_AFTER, *retry_after)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"error":"temporarily_unavailable"}"#))
            .expect("response"),
    }
}

/// [`spaces`] under `status`, with a `Content-Length` when `declared`.
fn streamed(status: StatusCode, length: Option<u64>, declared: bool) -> Response {
    let mut r = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json");
    if let (Some(length), true) = (length, declared) {
        r = r.header(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    r.body(spaces(length)).expect("response")
}

/// A body of `length` spaces (valid JSON whitespace, so only the size is
/// wrong), or spaces without end; generated chunk by chunk, never held.
fn spaces(length: Option<u64>) -> Body {
    const CHUNK: usize = 64 * 1024;
    static SPACES: [u8; CHUNK] = [b' '; CHUNK];
    let chunks = stream::unfold(length, |left| async move {
        let n = match left {
            Some(0) => return None,
            Some(left) => left.min(CHUNK as u64) as usize,
            None => CHUNK,
        };
        let chunk = Bytes::from_static(&SPACES[..n]);
        Some((Ok::<_, std::io::Error>(chunk), left.map(|l| l - n as u64)))
    });
    Body::from_stream(chunks.boxed())
}

/// How a measured child ended.
pub(crate) struct Measured {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Peak resident set size of the child, in bytes (`ru_maxrss`).
    pub peak_rss: u64,
    pub stdout: String,
    pub stderr: String,
}

/// Run `cmd` (the environment already cleaned by the caller) to its end
/// within `limit`, with stdout and stderr in files under `dir`, and read its
/// own peak RSS from `wait4` (this child's rusage only, not other children
/// the test process may have).
pub(crate) fn run_measured(
    mut cmd: std::process::Command,
    dir: &Path,
    limit: Duration,
) -> Measured {
    let out_path = dir.join("child.stdout");
    let err_path = dir.join("child.stderr");
    cmd.stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"));
    // Reaped by wait4 below, which std's `wait` cannot replace: it drops the rusage.
    #[allow(clippy::zombie_processes, reason = "reaped by wait4 below, not by std")]
    let child = cmd.spawn().expect("spawn qualrecon");
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value; wait4 fills it in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own unreaped child; the pointers are to locals.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(r >= 0, "wait4 failed");
        if r == pid {
            break (status, usage);
        }
        if start.elapsed() > limit {
            // SAFETY: pid is our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("qualrecon still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Measured {
        code,
        // Linux reports kilobytes.
        peak_rss: usage.ru_maxrss as u64 * 1024,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// `qualrecon run` over `customers` random ids into `env.out()`, as a
/// plain child process with a clean environment.
pub(crate) fn run_command(
    env: &super::Env,
    customers: usize,
    args: &[&str],
) -> std::process::Command {
    let input = env.write("in.csv", super::id_csv(&ids(customers)));
    let mut cmd = env.std_run(&input);
    cmd.args(args);
    cmd
}

/// The client secret the runs against a hostile server send.
pub(crate) const SECRET: &str = "hostile-client-secret-9f2c";
/// The static token the runs against a hostile server send.
pub(crate) const STATIC: &str = "hostile-static-token-41d7";
pub(crate) const MIB: u64 = 1024 * 1024;
/// The bound on a run's peak RSS against 300 MB answers.
pub(crate) const RSS_LIMIT: u64 = 64 * MIB;

/// `n` random customer ids (a hostile server answers every id alike).
pub(crate) fn ids(n: usize) -> Vec<uuid::Uuid> {
    (0..n).map(|_| uuid::Uuid::new_v4()).collect()
}

/// `qualrecon run` over `n` customers with OAuth2 client credentials (the
/// secret in the environment) at `--concurrency 2`.
pub(crate) fn oauth_run(
    env: &super::Env,
    authority: &str,
    base_url: &str,
    n: usize,
) -> assert_cmd::Command {
    let input = env.write("in.csv", super::id_csv(&ids(n)));
    let mut c = env.run(&input);
    c.env("PARTNER_CENTER_CLIENT_SECRET", SECRET)
        .args(["--base-url", base_url, "--authority", authority])
        .args(["--tenant", "contoso.onmicrosoft.com", "--client-id", "app"])
        .args(["--rate", "100", "--concurrency", "2"]);
    c
}
