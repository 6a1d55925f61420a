//! Who the fake partner is: its AAD tenant, its one registered app and that
//! app's secret, and the bearer token accepted without OAuth. Fake values,
//! printed freely by `qualrecon sandbox`.

/// The partner's AAD tenant, by domain; [`TENANT_ID`] is accepted too.
pub const TENANT: &str = "sandbox.onmicrosoft.com";
/// The same tenant by id.
pub const TENANT_ID: &str = "7b1c5e0a-3f2d-4e8b-9a61-5d0c2b7e4f19";
/// The one registered app.
pub const CLIENT_ID: &str = "0a5b1f3e-8c2d-4d7a-b6e9-3f4a2c1d5e60";
/// The app's secret. Fake, so it is fine to print.
pub const CLIENT_SECRET: &str = "sandbox-secret-value";
/// A bearer token accepted without OAuth (unless the config removes it).
pub const STATIC_TOKEN: &str = "sandbox-token";
