//! A public key in a PEM file: `PUBLIC KEY` (SubjectPublicKeyInfo: RSA, EC P-256/P-384,
//! Ed25519) or `RSA PUBLIC KEY` (PKCS#1). Private keys and certificates are refused with a hint.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::DecodingKey;

use super::der;
use super::KeyKind;

/// The key's kind, its `DecodingKey`, and its DER (to fingerprint it).
pub(crate) fn parse_public_pem(text: &[u8]) -> Result<(KeyKind, DecodingKey, Vec<u8>), String> {
    let text = std::str::from_utf8(text).map_err(|_| "not a PEM file".to_owned())?;
    let (label, der) = single_block(text)?;
    let (kind, key) = match label {
        "PUBLIC KEY" => der::spki(&der)?,
        "RSA PUBLIC KEY" => {
            der::rsa_modulus_bits(&der)?;
            (KeyKind::Rsa, &der[..])
        }
        l if l.contains("PRIVATE KEY") => {
            return Err("a private key: give the public key (openssl pkey -pubout)".to_owned())
        }
        "CERTIFICATE" => {
            return Err(
                "a certificate: give its public key (openssl x509 -pubkey -noout)".to_owned(),
            )
        }
        _ => return Err("not a PUBLIC KEY or RSA PUBLIC KEY PEM block".to_owned()),
    };
    let decoding = match kind {
        KeyKind::Rsa => DecodingKey::from_rsa_der(key),
        KeyKind::EcP256 | KeyKind::EcP384 => DecodingKey::from_ec_der(key),
        KeyKind::Ed25519 => DecodingKey::from_ed_der(key),
        KeyKind::Hmac => unreachable!("a PEM never holds a secret"),
    };
    let material = key.to_vec();
    Ok((kind, decoding, material))
}

/// The label and decoded body of the file's one PEM block.
fn single_block(text: &str) -> Result<(&str, Vec<u8>), String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            body.push_str(line);
        }
        if !closed {
            return Err(format!("the {label} PEM block has no END line"));
        }
        blocks.push((label, body));
    }
    match blocks.len() {
        0 => Err("no PEM block (-----BEGIN ...-----)".to_owned()),
        1 => {
            let (label, body) = blocks.pop().unwrap_or_default();
            let der = STANDARD
                .decode(body)
                .map_err(|_| format!("the {label} PEM block is not valid base64"))?;
            Ok((label, der))
        }
        n => Err(format!(
            "{n} PEM blocks; give one public key per file, each with its own kid"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixture;
    use super::*;

    #[test]
    fn fixture_public_keys_parse_as_their_kind() {
        for (name, kind) in [
            ("rsa-public.pem", KeyKind::Rsa),
            ("rsa2-public.pem", KeyKind::Rsa),
            ("ec-public.pem", KeyKind::EcP256),
            ("ed-public.pem", KeyKind::Ed25519),
        ] {
            assert_eq!(parse_public_pem(&fixture(name)).unwrap().0, kind, "{name}");
        }
    }

    #[test]
    fn private_keys_certificates_and_junk_are_refused() {
        let err = |bytes: &[u8]| parse_public_pem(bytes).err().unwrap();
        assert!(err(&fixture("rsa-private.pem")).contains("private key"));
        assert!(err(&fixture("ed-private.pem")).contains("private key"));
        assert!(
            err(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .contains("certificate")
        );
        assert!(err(b"hello").contains("no PEM block"));
        assert!(err(b"-----BEGIN PUBLIC KEY-----\nAAAA\n").contains("no END"));
        assert!(
            err(b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n").contains("base64")
        );
        assert!(
            err(b"-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n").contains("DER")
        );
        let mut two = fixture("rsa-public.pem");
        two.extend(fixture("ec-public.pem"));
        assert!(err(&two).contains("2 PEM blocks"));
    }
}
