//! Just enough DER to read a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) and an RSAPublicKey
//! (RFC 8017 §A.1.1): which algorithm and curve, and the key bytes ring verifies with.

use super::KeyKind;

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;

const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A cursor over DER bytes.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// The contents of the next element, which must carry `tag`.
    fn read(&mut self, tag: u8) -> Result<&'a [u8], String> {
        let bad = || "not valid DER".to_owned();
        let (&t, rest) = self.0.split_first().ok_or_else(bad)?;
        if t != tag {
            return Err(bad());
        }
        let (&first, rest) = rest.split_first().ok_or_else(bad)?;
        let (len, rest) = match first {
            0..=0x7f => (usize::from(first), rest),
            0x81 | 0x82 => {
                let n = usize::from(first & 0x7f);
                if rest.len() < n {
                    return Err(bad());
                }
                let len = rest[..n]
                    .iter()
                    .fold(0, |acc, &b| (acc << 8) | usize::from(b));
                (len, &rest[n..])
            }
            _ => return Err(bad()),
        };
        if rest.len() < len {
            return Err(bad());
        }
        let (contents, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(contents)
    }
}

/// The kind of key an SPKI holds and the bytes `DecodingKey::from_*_der` expects: an
/// RSAPublicKey for RSA, the uncompressed point for EC, the 32 raw bytes for Ed25519.
pub(super) fn spki(der: &[u8]) -> Result<(KeyKind, &[u8]), String> {
    let mut outer = Der(der);
    let mut spki = Der(outer.read(SEQUENCE)?);
    let mut alg = Der(spki.read(SEQUENCE)?);
    let oid = alg.read(OID)?;
    let param = if alg.peek() == Some(OID) {
        Some(alg.read(OID)?)
    } else {
        None
    };
    let bits = spki.read(BIT_STRING)?;
    let key = match bits.split_first() {
        Some((0, key)) => key,
        _ => return Err("not valid DER".to_owned()),
    };
    let kind = match (oid, param) {
        (RSA_ENCRYPTION, _) => {
            rsa_modulus_bits(key)?;
            KeyKind::Rsa
        }
        (EC_PUBLIC_KEY, Some(P256)) => KeyKind::EcP256,
        (EC_PUBLIC_KEY, Some(P384)) => KeyKind::EcP384,
        (EC_PUBLIC_KEY, _) => return Err("an EC key on a curve other than P-256 or P-384".into()),
        (ED25519, _) => KeyKind::Ed25519,
        _ => return Err("not an RSA, EC (P-256, P-384) or Ed25519 public key".into()),
    };
    let expected = match kind {
        KeyKind::EcP256 => Some(65),
        KeyKind::EcP384 => Some(97),
        KeyKind::Ed25519 => Some(32),
        _ => None,
    };
    if let Some(len) = expected {
        let uncompressed = kind == KeyKind::Ed25519 || key.first() == Some(&4);
        if key.len() != len || !uncompressed {
            return Err(format!("{} of the wrong length or form", kind.name()));
        }
    }
    Ok((kind, key))
}

/// The size of an RSAPublicKey's modulus, refused outside what ring verifies (2048–8192 bits).
pub(super) fn rsa_modulus_bits(rsa_public_key: &[u8]) -> Result<usize, String> {
    let mut outer = Der(rsa_public_key);
    let mut seq = Der(outer.read(SEQUENCE)?);
    let n = seq.read(INTEGER)?;
    seq.read(INTEGER)?;
    rsa_bits(n)
}

/// Bits of a big-endian modulus (leading zero bytes ignored), checked against ring's limits.
pub(super) fn rsa_bits(n: &[u8]) -> Result<usize, String> {
    let n = &n[n.iter().take_while(|&&b| b == 0).count()..];
    let bits = n
        .first()
        .map_or(0, |&b| n.len() * 8 - b.leading_zeros() as usize);
    if (2048..=8192).contains(&bits) {
        Ok(bits)
    } else {
        Err(format!(
            "an RSA key of {bits} bits; 2048 to 8192 bits are accepted"
        ))
    }
}

/// The modulus and exponent of an RSAPublicKey (tests publish fixture keys as JWKs).
#[cfg(test)]
pub(super) fn rsa_components(rsa_public_key: &[u8]) -> (&[u8], &[u8]) {
    let mut outer = Der(rsa_public_key);
    let mut seq = Der(outer.read(SEQUENCE).unwrap());
    let n = seq.read(INTEGER).unwrap();
    let e = seq.read(INTEGER).unwrap();
    (&n[n.iter().take_while(|&&b| b == 0).count()..], e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_short_and_long_form() {
        let mut d = Der(&[0x04, 0x01, 0xaa, 0x04, 0x81, 0x01, 0xbb]);
        assert_eq!(d.read(0x04).unwrap(), &[0xaa]);
        assert_eq!(d.read(0x04).unwrap(), &[0xbb]);
        assert!(Der(&[0x04, 0x05, 0x00]).read(0x04).is_err());
        assert!(Der(&[0x04, 0x84, 0, 0, 0, 1, 0]).read(0x04).is_err());
        assert!(Der(&[0x02, 0x01, 0x00]).read(0x04).is_err());
    }

    #[test]
    fn small_rsa_keys_are_refused() {
        let mut n = vec![0u8];
        n.extend([0xff; 128]);
        assert!(rsa_bits(&n).unwrap_err().contains("1024 bits"));
        n.extend([0xff; 128]);
        assert_eq!(rsa_bits(&n), Ok(2048));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &[][..],
            &[0x30],
            &[0x30, 0x02, 0x30, 0x00],
            &[0x30, 0x82, 0xff],
        ] {
            assert!(spki(bytes).is_err());
        }
    }
}
