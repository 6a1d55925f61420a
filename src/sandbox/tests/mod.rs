//! End-to-end tests of the sandbox over real HTTP with reqwest. Bodies are
//! checked with serde_json and the wire model, never with the client's
//! tolerant parser, so these tests pin what the sandbox *sends*.

mod answers;
mod auth;
mod customers;
mod faults;
mod signin;

use uuid::Uuid;

use super::{Answer, STATIC_TOKEN, Sandbox, SandboxConfig, ids_for};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a plain HTTP client builds")
}

async fn start(cfg: SandboxConfig) -> Sandbox {
    Sandbox::start(cfg).await.expect("sandbox starts")
}

fn qualifications_url(sb: &Sandbox, id: &str) -> String {
    format!("{}/v1/customers/{id}/qualifications", sb.base_url())
}

/// A request as the real client sends it, with the static token.
fn request(c: &reqwest::Client, sb: &Sandbox, id: &str) -> reqwest::RequestBuilder {
    c.get(qualifications_url(sb, id))
        .bearer_auth(STATIC_TOKEN)
        .header("Accept", "application/json")
}

/// Approved tenants (so a normal answer is a plain 200) matching `pred`.
fn approved_where(n: usize, pred: impl Fn(&Uuid) -> bool) -> Vec<Uuid> {
    let found: Vec<Uuid> = ids_for(Answer::Approved, 3000)
        .into_iter()
        .filter(|id| pred(id))
        .take(n)
        .collect();
    assert_eq!(found.len(), n, "not enough matching tenants");
    found
}

#[test]
fn public_futures_and_handles_are_send() {
    // The binary may spawn these; a non-Send future (e.g. a lock held across
    // an await) would only show up there, so check it here.
    use clap::Parser;
    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        a: super::SandboxArgs,
    }
    fn is_send<T: Send>(_: &T) {}
    fn is_send_sync<T: Send + Sync>() {}
    let args = Wrap::try_parse_from(["sandbox"]).unwrap().a;
    is_send(&super::command::serve_command(
        &args,
        std::future::pending(),
    ));
    is_send(&Sandbox::start(SandboxConfig::default()));
    is_send_sync::<Sandbox>();
}
