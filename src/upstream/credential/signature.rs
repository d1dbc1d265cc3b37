//! The older scheme: `Key={api key}&Signature=md5hex({value}{date}{secret})`.
//!
//! Which parameter's value is signed and the time zone of the date are not documented publicly,
//! so both are configurable (ReportId and UTC by default).

use chrono::Utc;
use md5::{Digest, Md5};
use secrecy::{ExposeSecret, SecretString};

use crate::config::KeySignatureConfig;
use crate::params::{CanonicalParams, Param};

pub struct KeySigner {
    api_key: SecretString,
    secret_key: SecretString,
    signed_parameter: Param,
    time_zone: chrono_tz::Tz,
}

impl std::fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySigner")
            .field("signed_parameter", &self.signed_parameter)
            .field("time_zone", &self.time_zone)
            .finish_non_exhaustive()
    }
}

impl KeySigner {
    pub fn new(config: &KeySignatureConfig) -> Self {
        Self {
            api_key: config.api_key.clone(),
            secret_key: config.secret_key.clone(),
            signed_parameter: config.signed_parameter,
            time_zone: config.time_zone,
        }
    }

    /// The `Key` and `Signature` values for a request with `params`, signed for today.
    pub fn sign(&self, params: &CanonicalParams) -> (String, String) {
        let date = Utc::now().with_timezone(&self.time_zone).date_naive();
        self.sign_on(params, &date.format("%Y-%m-%d").to_string())
    }

    fn sign_on(&self, params: &CanonicalParams, date: &str) -> (String, String) {
        let value = params.get(self.signed_parameter).unwrap_or("");
        let mut md5 = Md5::new();
        md5.update(value.as_bytes());
        md5.update(date.as_bytes());
        md5.update(self.secret_key.expose_secret().as_bytes());
        let signature = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
        (self.api_key.expose_secret().to_owned(), signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{parse, Limits};

    #[test]
    fn signature_is_md5_of_value_date_secret() {
        let signer = KeySigner {
            api_key: SecretString::from("key"),
            secret_key: SecretString::from("secret"),
            signed_parameter: Param::ReportId,
            time_zone: chrono_tz::UTC,
        };
        let q = parse(Some("ReportId=10800"), None, &Limits::default()).unwrap();
        let (key, sig) = signer.sign_on(&q.canonical, "2024-01-31");
        assert_eq!(key, "key");
        // md5("108002024-01-31secret"), computed independently with Python's hashlib.
        assert_eq!(sig, "5b676da04f8aa2fc5f797775eaf77278");
        assert!(!format!("{signer:?}").contains("secret\""));
    }
}
