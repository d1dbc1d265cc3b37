//! The bench caller and the gateway that trusts it: an RS256 token from an identity provider
//! whose public key (the test fixture) the gateway's configuration names, as in production.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use casegate::sandbox::{DEMO_ACCOUNT, DEMO_API_KEY, DEMO_SECRET_KEY};
use http::HeaderValue;

pub const CALLER_ISSUER: &str = "https://idp.bench.casegate";
pub const CALLER_SUB: &str = "bench-caller";
const CALLER_PUBLIC_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/keys/rsa-public.pem"
);
const CALLER_PRIVATE_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/keys/rsa-private.pem"
);

/// The bench caller's bearer token (RS256, valid for an hour).
pub fn caller_bearer() -> Result<HeaderValue, String> {
    caller_bearer_valid(0, 3600)
}

/// The bench caller's token issued `from` seconds from now (negative: in the past), valid
/// until `until` seconds from now: `caller_bearer_valid(-7200, -3600)` expired an hour ago.
pub fn caller_bearer_valid(from: i64, until: i64) -> Result<HeaderValue, String> {
    let pem =
        std::fs::read(CALLER_PRIVATE_KEY).map_err(|e| format!("{CALLER_PRIVATE_KEY}: {e}"))?;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs() as i64;
    let claims = serde_json::json!({
        "iss": CALLER_ISSUER, "aud": "casegate", "sub": CALLER_SUB,
        "iat": now + from, "exp": now + until,
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .map_err(|e| e.to_string())?;
    HeaderValue::try_from(format!("Bearer {token}")).map_err(|e| e.to_string())
}

/// A gateway configuration for a bench: what differs between benches, the rest is fixed.
pub struct GatewayConfig<'a> {
    pub listen: SocketAddr,
    pub sandbox: SocketAddr,
    /// `logging.level`.
    pub log: &'a str,
    /// More `[upstream]` lines.
    pub upstream_extra: &'a str,
    /// The policy file's text (grants for [`CALLER_SUB`]).
    pub policy: &'a str,
    /// More tables at the end (e.g. `[cache]`).
    pub extra: &'a str,
}

/// Writes `c` and the files it names (credentials, the caller's public key, the policy) into
/// `dir`; returns the configuration's path.
pub fn write_gateway_config(dir: &Path, c: &GatewayConfig<'_>) -> Result<PathBuf, String> {
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write("api-key", DEMO_API_KEY)?;
    write("secret-key", DEMO_SECRET_KEY)?;
    let public = std::fs::read_to_string(CALLER_PUBLIC_KEY)
        .map_err(|e| format!("{CALLER_PUBLIC_KEY}: {e}"))?;
    write("caller-public.pem", &public)?;
    write("policy.toml", c.policy)?;
    let config = format!(
        "policy = \"policy.toml\"\n[server]\nlisten = \"{}\"\n\n[upstream]\nenvironment = \"uat\"\naccount = \"{DEMO_ACCOUNT}\"\n\
         base_url = \"http://{}\"\n{}\n[upstream.credential]\napi_key = {{ file = \"api-key\" }}\n\
         secret_key = {{ file = \"secret-key\" }}\n\n[[auth.issuers]]\nissuer = \"{CALLER_ISSUER}\"\n\
         audiences = [\"casegate\"]\nalgorithms = [\"RS256\"]\npem_files = [{{ path = \"caller-public.pem\" }}]\n\n[logging]\nlevel = \"{}\"\n\n{}",
        c.listen, c.sandbox, c.upstream_extra, c.log, c.extra
    );
    write("casegate.toml", &config)?;
    Ok(dir.join("casegate.toml"))
}

/// `level` is a log level or a RUST_LOG-style filter (and safe inside a TOML string).
pub fn check_log_filter(level: &str) -> Result<(), String> {
    if level
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_,=:.".contains(&b))
    {
        Ok(())
    } else {
        Err(format!("{level:?}: a level or a RUST_LOG-style filter"))
    }
}
