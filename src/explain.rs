//! `casegate explain`: the decision a security reviewer needs for one caller and one request —
//! token valid or why not, which grant applied (or why none did), allowed or denied, the column
//! rules, forbidden and pinned parameters, and the effective limits.

use serde_json::{Map, Value};

use crate::auth::{Identity, Verifier};
use crate::params::{parse, GetReportQuery};
use crate::Config;

/// Who is asking: a real token (verified as the gateway would), or claims taken as verified.
#[derive(Debug, Clone)]
pub enum Caller {
    Token(String),
    Claims(String),
}

/// The explanation and whether the request would be allowed.
#[derive(Debug)]
pub struct Explanation {
    pub text: String,
    pub allowed: bool,
}

/// Explains the gateway's decision for `caller` asking for `report` with `params` (`K=V`).
pub async fn explain(
    config: &Config,
    caller: &Caller,
    report: &str,
    params: &[String],
) -> Result<Explanation, String> {
    let mut text = String::new();
    let query = match build_query(config, report, params) {
        Ok(query) => query,
        Err(e) => {
            text.push_str(&format!(
                "request: INVALID: {e}\ndecision: DENIED (400, nothing is sent upstream)\n"
            ));
            return Ok(Explanation {
                text,
                allowed: false,
            });
        }
    };
    let identity = match caller {
        Caller::Token(token) => {
            let verifier = Verifier::new(&config.auth).await;
            match verifier.verify(token).await {
                Ok(identity) => {
                    text.push_str(&format!(
                        "token: valid (issuer {}, subject {})\n",
                        identity.issuer, identity.subject
                    ));
                    identity
                }
                Err(e) => {
                    text.push_str(&format!(
                        "token: INVALID: {} ({})\ndecision: DENIED (401, nothing is sent upstream)\n",
                        e.description(),
                        e.code()
                    ));
                    return Ok(Explanation {
                        text,
                        allowed: false,
                    });
                }
            }
        }
        Caller::Claims(json) => {
            text.push_str("token: not checked (--claims): the claims are taken as verified\n");
            std::sync::Arc::new(identity_from_claims(json)?)
        }
    };
    let policy = config.policy.current();
    let allowed = matches!(
        policy.decide(&identity, &query),
        crate::policy::Decision::Allow { .. }
    );
    text.push_str(&policy.explain(&identity, &query));
    Ok(Explanation { text, allowed })
}

fn build_query(config: &Config, report: &str, params: &[String]) -> Result<GetReportQuery, String> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("ReportId", report);
    for param in params {
        let (name, value) = param
            .split_once('=')
            .ok_or_else(|| format!("--param {param:?} must be NAME=VALUE"))?;
        query.append_pair(name, value);
    }
    parse(Some(&query.finish()), None, &config.server.limits).map_err(|e| e.to_string())
}

fn identity_from_claims(json: &str) -> Result<Identity, String> {
    let claims: Map<String, Value> = serde_json::from_str(json)
        .map_err(|e| format!("--claims must be a JSON object of claims: {e}"))?;
    Ok(Identity::from_claims(claims))
}
