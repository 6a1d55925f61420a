//! The built-in fake Partner Center (stub: being written).
pub const TENANT: &str = "sandbox.onmicrosoft.com";
pub const CLIENT_ID: &str = "x";
pub const CLIENT_SECRET: &str = "y";
#[derive(Default)]
pub struct SandboxConfig {
    pub static_token: Option<String>,
}
pub struct Sandbox;
impl Sandbox {
    pub async fn start(_c: SandboxConfig) -> std::io::Result<Sandbox> {
        todo!()
    }
    pub fn base_url(&self) -> String {
        todo!()
    }
    pub async fn shutdown(self) {}
}
pub async fn serve_command(_a: &crate::cli::SandboxArgs) -> anyhow::Result<()> {
    todo!()
}
