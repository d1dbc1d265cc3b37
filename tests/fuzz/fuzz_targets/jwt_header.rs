//! JWT verification (`casegate::auth::Verifier::verify`) on any token: it never panics, and it
//! accepts a token only if an independent check agrees that it is an HS256 token of the HMAC
//! issuer, signed with that issuer's secret, for an accepted audience, not expired. The RSA, EC
//! and Ed25519 issuer exists so that algorithm confusion (HS256 "signed" with a public key, a
//! public-key algorithm against the HMAC issuer) is within reach: no token of it is ever valid.
//!
//! Input: a first byte with its low bit 0, then the token as text; or a first byte with its low
//! bit 1, then the header's JSON, a newline, the payload's JSON, a newline and the signature:
//! the target base64url-encodes the two JSON parts, and a signature of exactly `HS` is replaced
//! by the real HS256 signature, so the fuzzer reaches the claim checks behind the signature.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use casegate::auth::{AuthConfig, Verifier};
use libfuzzer_sys::fuzz_target;
use ring::hmac;
use serde_json::{Map, Value};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/keys");
const HMAC_ISS: &str = "https://hmac.example.org/";
const AUDIENCE: &str = "casegate";
const LEEWAY_SECS: f64 = 60.0;

struct Setup {
    runtime: tokio::runtime::Runtime,
    verifier: Verifier,
    key: hmac::Key,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let config = format!(
            r#"[auth]
leeway = "{LEEWAY_SECS}s"
[[auth.issuers]]
issuer = "https://login.example.org/"
audiences = ["{AUDIENCE}"]
algorithms = ["RS256", "PS256", "ES256", "EdDSA"]
pem_files = [
    {{ path = "rsa-public.pem", kid = "rsa" }},
    {{ path = "ec-public.pem", kid = "ec" }},
    {{ path = "ed-public.pem" }},
]
[[auth.issuers]]
issuer = "{HMAC_ISS}"
audiences = ["{AUDIENCE}", "other"]
algorithms = ["HS256"]
hmac_secret = {{ file = "hmac-secret" }}
"#
        );
        let config = AuthConfig::parse(&Path::new(KEYS).join("casegate.toml"), &config)
            .unwrap_or_else(|problems| panic!("the fuzz target's [auth]: {problems:?}"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let verifier = runtime.block_on(Verifier::new(&config));
        let secret = std::fs::read(Path::new(KEYS).join("hmac-secret")).unwrap();
        // A secret file loses one trailing newline, as casegate reads it.
        let secret = secret.strip_suffix(b"\n").unwrap_or(&secret);
        Setup {
            runtime,
            verifier,
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    })
}

/// Decodes base64url as leniently as any decoder might: padding or not, any trailing bits.
fn lenient(part: &str) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(part).ok()
}

fn json_object(part: &str) -> Map<String, Value> {
    let bytes = lenient(part).expect("an accepted token's parts are base64url");
    // serde_json skips the members a struct ignores without checking their UTF-8, so an
    // accepted header may hold invalid UTF-8 there; what is checked here is always valid.
    let text = String::from_utf8_lossy(&bytes);
    serde_json::from_str(&text).expect("an accepted token's parts are JSON objects")
}

/// What must hold of any token the verifier accepts, checked without casegate's code.
fn check_accepted(setup: &Setup, token: &str) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "an accepted token has three parts");
    let signing_input = &token[..parts[0].len() + 1 + parts[1].len()];
    let signature = lenient(parts[2]).expect("an accepted signature is base64url");
    assert!(
        hmac::verify(&setup.key, signing_input.as_bytes(), &signature).is_ok(),
        "a token was accepted without a valid HS256 signature"
    );
    let header = json_object(parts[0]);
    assert_eq!(header.get("alg"), Some(&Value::from("HS256")));
    let claims = json_object(parts[1]);
    assert_eq!(claims.get("iss"), Some(&Value::from(HMAC_ISS)));
    let aud_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == AUDIENCE || aud == "other",
        Some(Value::Array(auds)) => auds.iter().any(|a| a == AUDIENCE || a == "other"),
        _ => false,
    };
    assert!(aud_ok, "a token was accepted for another audience");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let exp = claims.get("exp").and_then(Value::as_f64);
    assert!(
        exp.is_some_and(|exp| now < exp + LEEWAY_SECS + 1.0),
        "a token was accepted without a current exp"
    );
}

/// The token a structured input stands for (see the module documentation).
fn assemble(setup: &Setup, input: &[u8]) -> String {
    let mut parts = input.splitn(3, |&b| b == b'\n');
    let header = parts.next().unwrap_or_default();
    let payload = parts.next().unwrap_or_default();
    let signature = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = if signature == "HS" {
        URL_SAFE_NO_PAD.encode(hmac::sign(&setup.key, signing_input.as_bytes()))
    } else {
        signature.into_owned()
    };
    format!("{signing_input}.{signature}")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let setup = setup();
    let token = if mode & 1 == 0 {
        String::from_utf8_lossy(input).into_owned()
    } else {
        assemble(setup, input)
    };
    let verified = setup.runtime.block_on(setup.verifier.verify(&token));
    if let Ok(identity) = verified {
        assert_eq!(
            identity.issuer, HMAC_ISS,
            "only the HMAC issuer's tokens can be valid"
        );
        check_accepted(setup, &token);
    }
});
