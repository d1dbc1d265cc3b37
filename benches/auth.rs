//! Per-request cost of `Verifier::verify` for RS256, ES256, EdDSA and HS256: first sight (the
//! memo turned off with `remember = 0`, so every iteration parses, checks the signature and the
//! claims of the same token) and remembered (the memo on, the token verified once beforehand).
//!
//! Keys are the test fixtures; keys are local, so `verify` never waits and is polled once.
//!
//! `cargo bench --bench auth -- --warm-up-time 1 --measurement-time 3`

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use casegate::auth::{AuthConfig, Verifier};
use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const ISS: &str = "https://login.example.org/";
const HMAC_ISS: &str = "https://hmac.example.org/";

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys"))
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap()
}

fn verifier(remember: u64) -> Verifier {
    let text = format!(
        r#"[auth]
remember = {remember}
[[auth.issuers]]
issuer = "{ISS}"
audiences = ["casegate"]
algorithms = ["RS256", "ES256", "EdDSA"]
pem_files = [
    {{ path = "rsa-public.pem", kid = "rsa" }},
    {{ path = "ec-public.pem", kid = "ec" }},
    {{ path = "ed-public.pem", kid = "ed" }},
]
[[auth.issuers]]
issuer = "{HMAC_ISS}"
audiences = ["casegate"]
algorithms = ["HS256"]
hmac_secret = {{ file = "hmac-secret" }}
"#
    );
    let config = AuthConfig::parse(&fixtures().join("casegate.toml"), &text).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(Verifier::new(&config))
}

/// A token of a typical size (about 700 bytes for RS256), valid for an hour.
fn token(alg: Algorithm) -> String {
    let (kid, key, iss) = match alg {
        Algorithm::RS256 => (
            "rsa",
            EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).unwrap(),
            ISS,
        ),
        Algorithm::ES256 => (
            "ec",
            EncodingKey::from_ec_pem(&fixture("ec-private.pem")).unwrap(),
            ISS,
        ),
        Algorithm::EdDSA => (
            "ed",
            EncodingKey::from_ed_pem(&fixture("ed-private.pem")).unwrap(),
            ISS,
        ),
        _ => {
            let secret = String::from_utf8(fixture("hmac-secret")).unwrap();
            (
                "hs",
                EncodingKey::from_secret(secret.trim_end().as_bytes()),
                HMAC_ISS,
            )
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": iss, "sub": "svc-reports", "aud": "casegate", "iat": now, "exp": now + 3600,
        "org": "example-org", "azp": "reports-dashboard", "scope": "reports.read",
        "roles": ["reports.read", "reports.csv"], "email": "svc-reports@example.org",
    });
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn verify(c: &mut Criterion) {
    let first_sight = verifier(0);
    let remembered = verifier(10_000);
    for alg in [
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::HS256,
    ] {
        let token = token(alg);
        let check = |v: &Verifier| {
            v.verify(&token)
                .now_or_never()
                .expect("local keys never wait")
                .expect("the token verifies")
        };
        let mut group = c.benchmark_group(format!("verify/{alg:?}"));
        group.bench_function("first_sight", |b| b.iter(|| check(&first_sight)));
        check(&remembered);
        group.bench_function("remembered", |b| b.iter(|| check(&remembered)));
        group.finish();
    }
}

criterion_group!(benches, verify);
criterion_main!(benches);
