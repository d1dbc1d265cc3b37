//! A grant's `who`: matchers on the caller's verified claims.
//!
//! Every matcher of a grant must hold. A missing claim (or a JSON `null`) never matches. Values
//! compare by JSON type: the string `"5"` does not equal the number `5`, and `equals`/`one_of`
//! never match an array claim (`contains` is for arrays). `iss` and `sub` are read from the
//! verified [`Identity`]'s issuer and subject (an empty subject is a missing `sub`).

use std::fmt;

use serde_json::Value;

use crate::auth::Identity;

/// A value written in the policy: what a claim is compared with.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum ClaimValue {
    String(String),
    Integer(i64),
    Bool(bool),
}

impl ClaimValue {
    /// Whether the JSON value `v` is this value (same type, same value; `5` equals `5.0`).
    pub fn equals(&self, v: &Value) -> bool {
        match (self, v) {
            (ClaimValue::String(s), Value::String(t)) => s == t,
            (ClaimValue::Integer(n), Value::Number(m)) => {
                m.as_i64() == Some(*n) || (m.is_f64() && m.as_f64() == Some(*n as f64))
            }
            (ClaimValue::Bool(b), Value::Bool(c)) => b == c,
            _ => false,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            ClaimValue::String(_) => "a string",
            ClaimValue::Integer(_) => "a number",
            ClaimValue::Bool(_) => "a boolean",
        }
    }
}

impl fmt::Display for ClaimValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimValue::String(s) => write!(f, "{s:?}"),
            ClaimValue::Integer(n) => write!(f, "{n}"),
            ClaimValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// How one claim is tested.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Matcher {
    /// The claim is this value.
    Equals(ClaimValue),
    /// The claim is one of these values (sorted, distinct, at least two: one is `Equals`).
    OneOf(Vec<ClaimValue>),
    /// The claim is an array holding this value.
    Contains(ClaimValue),
}

impl Matcher {
    /// `one_of` in its normal form: sorted, without repeats, a single value as `Equals`.
    pub(crate) fn one_of(mut values: Vec<ClaimValue>) -> Matcher {
        values.sort();
        values.dedup();
        match <[ClaimValue; 1]>::try_from(values) {
            Ok([one]) => Matcher::Equals(one),
            Err(values) => Matcher::OneOf(values),
        }
    }

    /// Every claim value that satisfies `other` satisfies `self`.
    pub(crate) fn implied_by(&self, other: &Matcher) -> bool {
        match (self, other) {
            (Matcher::Equals(a), Matcher::Equals(b)) => a == b,
            (Matcher::OneOf(set), Matcher::Equals(b)) => set.contains(b),
            (Matcher::OneOf(set), Matcher::OneOf(sub)) => sub.iter().all(|v| set.contains(v)),
            (Matcher::Contains(a), Matcher::Contains(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Equals(v) => write!(f, "= {v}"),
            Matcher::OneOf(vs) => {
                f.write_str("one of [")?;
                for (i, v) in vs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Matcher::Contains(v) => write!(f, "contains {v}"),
        }
    }
}

/// One claim and its matcher.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ClaimMatcher {
    pub claim: String,
    pub matcher: Matcher,
}

/// A claim as the matchers see it: `iss` and `sub` come from the identity's own fields.
enum Claim<'a> {
    Str(&'a str),
    Json(&'a Value),
}

impl ClaimMatcher {
    /// The claim as the matcher reads it; `None` when missing.
    fn lookup<'a>(&self, identity: &'a Identity) -> Option<Claim<'a>> {
        match self.claim.as_str() {
            "iss" => Some(Claim::Str(&identity.issuer)),
            "sub" if identity.subject.is_empty() => None,
            "sub" => Some(Claim::Str(&identity.subject)),
            name => identity
                .claim(name)
                .filter(|v| !v.is_null())
                .map(Claim::Json),
        }
    }

    fn test(&self, claim: &Claim<'_>) -> bool {
        let is_str = |v: &ClaimValue, s: &str| matches!(v, ClaimValue::String(t) if t == s);
        match (&self.matcher, claim) {
            (Matcher::Equals(v), Claim::Str(s)) => is_str(v, s),
            (Matcher::OneOf(vs), Claim::Str(s)) => vs.iter().any(|v| is_str(v, s)),
            (Matcher::Contains(_), Claim::Str(_)) => false,
            (Matcher::Equals(v), Claim::Json(j)) => v.equals(j),
            (Matcher::OneOf(vs), Claim::Json(j)) => vs.iter().any(|v| v.equals(j)),
            (Matcher::Contains(v), Claim::Json(j)) => {
                j.as_array().is_some_and(|a| a.iter().any(|e| v.equals(e)))
            }
        }
    }

    /// Whether the claim matches. Allocates nothing: this runs for every grant tried.
    pub fn holds(&self, identity: &Identity) -> bool {
        self.lookup(identity).is_some_and(|c| self.test(&c))
    }

    /// `None` when the claim matches; otherwise why not, without the caller's claim value (it may
    /// be personal data and this text may be logged).
    pub fn mismatch(&self, identity: &Identity) -> Option<String> {
        let name = &self.claim;
        let Some(claim) = self.lookup(identity) else {
            return Some(format!("claim {name} is missing"));
        };
        if self.test(&claim) {
            return None;
        }
        let kind = match claim {
            Claim::Str(_) => "a string",
            Claim::Json(j) => json_type(j),
        };
        let expected = match &self.matcher {
            Matcher::Equals(v) => Some(v.type_name()),
            Matcher::OneOf(vs) => vs.first().map(ClaimValue::type_name),
            Matcher::Contains(_) => None,
        };
        Some(match &self.matcher {
            Matcher::Contains(_) if kind != "an array" => {
                format!("claim {name} is {kind}, not an array: contains needs an array claim")
            }
            Matcher::Equals(_) | Matcher::OneOf(_) if kind == "an array" => {
                format!("claim {name} is an array: use contains to look for a value in it")
            }
            Matcher::Equals(_) | Matcher::OneOf(_)
                if expected.is_some_and(|e| e != kind)
                    && !matches!(&self.matcher, Matcher::OneOf(vs) if mixed(vs)) =>
            {
                format!(
                    "claim {name} is {kind}; the rule expects {}",
                    expected.unwrap_or("a value")
                )
            }
            Matcher::Equals(v) => format!("claim {name} does not equal {v}"),
            m @ Matcher::OneOf(_) => format!("claim {name} is not {m}"),
            Matcher::Contains(v) => format!("claim {name} does not contain {v}"),
        })
    }
}

/// A `one_of` list holding values of more than one type.
fn mixed(vs: &[ClaimValue]) -> bool {
    vs.windows(2)
        .any(|w| std::mem::discriminant(&w[0]) != std::mem::discriminant(&w[1]))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A grant's `who`: one matcher per claim (sorted by claim name), all of which must hold.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Who {
    matchers: Vec<ClaimMatcher>,
}

impl Who {
    /// `matchers` with distinct claim names.
    pub(crate) fn new(mut matchers: Vec<ClaimMatcher>) -> Who {
        matchers.sort_by(|a, b| a.claim.cmp(&b.claim));
        Who { matchers }
    }

    pub fn matchers(&self) -> &[ClaimMatcher] {
        &self.matchers
    }

    /// Whether every matcher holds for `identity`.
    pub fn matches(&self, identity: &Identity) -> bool {
        self.matchers.iter().all(|m| m.holds(identity))
    }

    /// Why the first failing matcher fails; `None` when all hold.
    pub fn mismatch(&self, identity: &Identity) -> Option<String> {
        self.matchers.iter().find_map(|m| m.mismatch(identity))
    }

    /// Every identity `other` matches, `self` matches too: each of `self`'s matchers is implied by
    /// `other`'s matcher on the same claim. Sound, not complete.
    pub(crate) fn covers(&self, other: &Who) -> bool {
        self.matchers.iter().all(|m| {
            other
                .matchers
                .iter()
                .any(|o| o.claim == m.claim && m.matcher.implied_by(&o.matcher))
        })
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(" and ")?;
            }
            write!(f, "{} {}", m.claim, m.matcher)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn identity(claims: Value) -> Identity {
        let Value::Object(claims) = claims else {
            panic!("claims are a JSON object")
        };
        Identity {
            issuer: claims["iss"].as_str().unwrap_or_default().to_owned(),
            subject: claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            claims,
            expires_at: 0,
        }
    }

    fn s(v: &str) -> ClaimValue {
        ClaimValue::String(v.to_owned())
    }

    fn m(claim: &str, matcher: Matcher) -> ClaimMatcher {
        ClaimMatcher {
            claim: claim.to_owned(),
            matcher,
        }
    }

    #[test]
    fn matching_rules() {
        use ClaimValue::{Bool, Integer};
        use Matcher::{Contains, Equals};
        let id = identity(json!({
            "iss": "https://idp.example.org",
            "sub": "svc-analytics",
            "groups": ["casework-leads", "staff"],
            "roles": [],
            "level": 3,
            "ratio": 3.0,
            "admin": false,
            "tenant": "42",
            "nothing": null,
            "nested": {"a": 1},
        }));
        #[rustfmt::skip]
        let table: &[(ClaimMatcher, Option<&str>)] = &[
            (m("iss", Equals(s("https://idp.example.org"))), None),
            (m("iss", Equals(s("https://other"))), Some("claim iss does not equal \"https://other\"")),
            (m("iss", Matcher::one_of(vec![s("a"), s("https://idp.example.org")])), None),
            (m("iss", Contains(s("https://idp.example.org"))), Some("iss is a string, not an array")),
            (m("sub", Equals(s("svc-analytics"))), None),
            (m("sub", Equals(s("svc-other"))), Some("claim sub does not equal")),
            (m("sub", Equals(Integer(1))), Some("claim sub is a string; the rule expects a number")),
            (m("groups", Contains(s("casework-leads"))), None),
            (m("groups", Contains(s("Casework-Leads"))), Some("claim groups does not contain")),
            (m("groups", Equals(s("casework-leads"))), Some("claim groups is an array: use contains")),
            (m("groups", Matcher::one_of(vec![s("casework-leads"), s("x")])), Some("is an array")),
            (m("roles", Contains(s("admin"))), Some("claim roles does not contain \"admin\"")),
            (m("level", Equals(Integer(3))), None),
            (m("level", Matcher::one_of(vec![Integer(1), Integer(3)])), None),
            (m("level", Matcher::one_of(vec![Integer(1), Integer(2)])), Some("claim level is not one of [1, 2]")),
            (m("level", Equals(s("3"))), Some("claim level is a number; the rule expects a string")),
            (m("ratio", Equals(Integer(3))), None),
            (m("admin", Equals(Bool(false))), None),
            (m("admin", Equals(Bool(true))), Some("claim admin does not equal true")),
            (m("admin", Equals(s("false"))), Some("claim admin is a boolean; the rule expects a string")),
            (m("tenant", Equals(Integer(42))), Some("claim tenant is a string; the rule expects a number")),
            (m("tenant", Matcher::one_of(vec![Integer(42), s("7")])), Some("claim tenant is not one of [\"7\", 42]")),
            (m("tenant", Contains(s("42"))), Some("claim tenant is a string, not an array")),
            (m("nested", Equals(Integer(1))), Some("claim nested is an object")),
            (m("nothing", Equals(s("x"))), Some("claim nothing is missing")),
            (m("absent", Equals(s("x"))), Some("claim absent is missing")),
            (m("absent", Contains(s("x"))), Some("claim absent is missing")),
        ];
        for (matcher, want) in table {
            let got = matcher.mismatch(&id);
            assert_eq!(matcher.holds(&id), got.is_none(), "{matcher:?}");
            match (want, &got) {
                (None, None) => {}
                (Some(want), Some(got)) if got.contains(want) => {}
                _ => panic!("{matcher:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn an_empty_subject_is_a_missing_sub() {
        let id = identity(json!({"iss": "i"}));
        let sub = m("sub", Matcher::Equals(s("")));
        assert_eq!(sub.mismatch(&id).as_deref(), Some("claim sub is missing"));
    }

    #[test]
    fn every_matcher_must_hold() {
        let id = identity(json!({"iss": "i", "sub": "a", "groups": ["g"]}));
        let who = Who::new(vec![
            m("sub", Matcher::Equals(s("a"))),
            m("groups", Matcher::Contains(s("g"))),
        ]);
        assert!(who.matches(&id));
        let who = Who::new(vec![
            m("sub", Matcher::Equals(s("a"))),
            m("groups", Matcher::Contains(s("h"))),
        ]);
        assert_eq!(
            who.mismatch(&id).as_deref(),
            Some("claim groups does not contain \"h\"")
        );
        assert_eq!(who.to_string(), "groups contains \"h\" and sub = \"a\"");
    }

    #[test]
    fn one_of_normal_form_and_implication() {
        assert_eq!(
            Matcher::one_of(vec![s("b"), s("a"), s("b")]),
            Matcher::OneOf(vec![s("a"), s("b")])
        );
        assert_eq!(
            Matcher::one_of(vec![s("a"), s("a")]),
            Matcher::Equals(s("a"))
        );
        let ab = Matcher::one_of(vec![s("a"), s("b")]);
        let abc = Matcher::one_of(vec![s("a"), s("b"), s("c")]);
        let table = [
            (&ab, &Matcher::Equals(s("a")), true),
            (&ab, &Matcher::Equals(s("c")), false),
            (&abc, &ab, true),
            (&ab, &abc, false),
            (&Matcher::Equals(s("a")), &ab, false),
            (&Matcher::Contains(s("a")), &Matcher::Contains(s("a")), true),
            (&Matcher::Contains(s("a")), &Matcher::Equals(s("a")), false),
        ];
        for (a, b, want) in table {
            assert_eq!(a.implied_by(b), want, "{a} implied by {b}");
        }
        let wide = Who::new(vec![m("iss", Matcher::Equals(s("i")))]);
        let narrow = Who::new(vec![
            m("iss", Matcher::Equals(s("i"))),
            m("sub", Matcher::Equals(s("a"))),
        ]);
        assert!(wide.covers(&narrow));
        assert!(!narrow.covers(&wide));
        assert!(narrow.covers(&narrow.clone()));
    }
}
