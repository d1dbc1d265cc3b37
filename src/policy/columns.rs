//! A grant's column rules: which report columns are kept, dropped, masked or hashed.
//!
//! Rules are stored and checked now; the redaction of response bodies applies them. Column names
//! match patterns in any ASCII letter case, and `*` in a pattern matches any run of characters
//! (dots included), so `Customer.*` matches every `Customer.` column and `*` every column.
//!
//! # Which rule decides a column
//!
//! The most specific matching pattern: a pattern without `*` beats any glob; among globs, the one
//! with more literal characters wins (`Customer.Email*` beats `Customer.*`). Between equally
//! specific patterns with different actions the most protective wins: drop, then hash, then mask,
//! then allow. A column no pattern matches is kept, or dropped in allow-list mode.

use std::fmt;
use std::sync::{Arc, OnceLock};

use ring::digest;

use super::hashing::HashKey;

/// A column-name pattern: letters, digits, `_`, `.`, `-`, and `*` for any run of characters.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Pattern {
    /// As written in the policy.
    text: String,
    /// Characters other than `*`: the pattern's specificity.
    literal_len: usize,
}

impl Pattern {
    /// The pattern, if `text` is one; otherwise what is wrong with it.
    pub fn new(text: &str) -> Result<Pattern, &'static str> {
        if text.is_empty() {
            return Err("is empty");
        }
        let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'*');
        if !text.bytes().all(ok) {
            return Err(
                "may hold only letters, digits, '_', '.', '-' and '*' (any run of characters)",
            );
        }
        Ok(Pattern {
            text: text.to_owned(),
            literal_len: text.bytes().filter(|&b| b != b'*').count(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// No `*`: matches exactly one name.
    pub fn is_exact(&self) -> bool {
        self.literal_len == self.text.len()
    }

    /// Whether `name` matches, ignoring ASCII letter case.
    pub fn matches(&self, name: &str) -> bool {
        glob_matches(&self.text, name)
    }

    /// Orders patterns by how specific they are: exact first, then more literal characters.
    fn specificity(&self) -> (bool, usize) {
        (self.is_exact(), self.literal_len)
    }

    /// The same pattern in another letter case.
    pub(crate) fn same_as(&self, other: &Pattern) -> bool {
        self.text.eq_ignore_ascii_case(&other.text)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (possibly empty),
/// ignoring ASCII letter case. Linear in practice: the classic backtrack to the last `*` only.
pub(crate) fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently stands for.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi].eq_ignore_ascii_case(&t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` swallow one more character and retry after it.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// What a rule does to the columns its pattern matches.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RuleAction {
    /// Keep the value as it is (`allow`: allow-list mode).
    Allow,
    /// Replace the value with the grant's mask string.
    Mask,
    /// Replace the value with its keyed pseudonym.
    Hash,
    /// Remove the column.
    Drop,
}

impl RuleAction {
    /// The policy key that lists this action's patterns.
    pub fn key(self) -> &'static str {
        match self {
            RuleAction::Allow => "allow",
            RuleAction::Mask => "mask",
            RuleAction::Hash => "hash",
            RuleAction::Drop => "drop",
        }
    }

    /// Between equally specific patterns, the higher wins.
    fn protection(self) -> u8 {
        match self {
            RuleAction::Allow => 0,
            RuleAction::Mask => 1,
            RuleAction::Hash => 2,
            RuleAction::Drop => 3,
        }
    }
}

/// One pattern and its action.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ColumnRule {
    pub pattern: Pattern,
    pub action: RuleAction,
}

/// What happens to one column of a report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ColumnAction {
    Keep,
    Drop,
    Mask,
    Hash,
}

/// Whether columns no rule names are kept or dropped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ColumnMode {
    /// Columns no rule names are kept (no `allow` list).
    DenyList,
    /// Columns no rule names are dropped (an `allow` list is given).
    AllowList,
}

/// The default mask string.
pub(crate) const DEFAULT_MASK: &str = "****";

/// A grant's column rules.
#[derive(Debug)]
pub struct ColumnRules {
    pub(crate) mode: ColumnMode,
    pub(crate) rules: Vec<ColumnRule>,
    pub(crate) mask_with: String,
    /// Present whenever a rule hashes (validation guarantees it).
    pub(crate) hash_key: Option<Arc<HashKey>>,
    /// [`ColumnRules::fingerprint`], computed once.
    pub(crate) fingerprint: OnceLock<[u8; 16]>,
}

impl Clone for ColumnRules {
    /// A copy computes its own fingerprint: fields of a copy may be changed before it is used.
    fn clone(&self) -> ColumnRules {
        ColumnRules {
            mode: self.mode,
            rules: self.rules.clone(),
            mask_with: self.mask_with.clone(),
            hash_key: self.hash_key.clone(),
            fingerprint: OnceLock::new(),
        }
    }
}

impl Default for ColumnRules {
    /// No rules: every column is kept.
    fn default() -> ColumnRules {
        ColumnRules {
            mode: ColumnMode::DenyList,
            rules: Vec::new(),
            mask_with: DEFAULT_MASK.to_owned(),
            hash_key: None,
            fingerprint: OnceLock::new(),
        }
    }
}

impl ColumnRules {
    pub fn mode(&self) -> ColumnMode {
        self.mode
    }

    /// The rules in the order written.
    pub fn rules(&self) -> &[ColumnRule] {
        &self.rules
    }

    /// What replaces a masked value.
    pub fn mask_with(&self) -> &str {
        &self.mask_with
    }

    /// The key and length of pseudonyms, when a rule hashes.
    pub fn hash_key(&self) -> Option<&HashKey> {
        self.hash_key.as_deref()
    }

    /// 128 bits of SHA-256 over everything that changes what a body redacted by these rules
    /// looks like: the mode, every rule (pattern and action, in order), the mask string, and for
    /// a hashing key its length and a tag the key computes (two keys give two fingerprints, and
    /// a fingerprint tells nothing about its key). The cache files bodies under it.
    pub fn fingerprint(&self) -> [u8; 16] {
        *self.fingerprint.get_or_init(|| {
            let mut ctx = digest::Context::new(&digest::SHA256);
            let mut field = |bytes: &[u8]| {
                ctx.update(&(bytes.len() as u64).to_le_bytes());
                ctx.update(bytes);
            };
            field(format!("{:?}", self.mode).as_bytes());
            for rule in &self.rules {
                field(rule.pattern.as_str().as_bytes());
                field(rule.action.key().as_bytes());
            }
            field(self.mask_with.as_bytes());
            if let Some(key) = &self.hash_key {
                field(&key.length().to_le_bytes());
                field(key.tag(b"casegate column fingerprint").as_ref());
            }
            let mut fingerprint = [0; 16];
            fingerprint.copy_from_slice(&ctx.finish().as_ref()[..16]);
            fingerprint
        })
    }

    /// Every column is kept as it is: redaction has nothing to do.
    pub fn keeps_everything(&self) -> bool {
        self.mode == ColumnMode::DenyList && self.rules.is_empty()
    }

    /// The rule that decides `column`, if any: the most specific match (see the module docs).
    pub fn rule_for(&self, column: &str) -> Option<&ColumnRule> {
        self.rules
            .iter()
            .filter(|r| r.pattern.matches(column))
            .max_by_key(|r| (r.pattern.specificity(), r.action.protection()))
    }

    /// What happens to `column`.
    pub fn action(&self, column: &str) -> ColumnAction {
        match (self.rule_for(column).map(|r| r.action), self.mode) {
            (Some(RuleAction::Allow), _) | (None, ColumnMode::DenyList) => ColumnAction::Keep,
            (Some(RuleAction::Drop), _) | (None, ColumnMode::AllowList) => ColumnAction::Drop,
            (Some(RuleAction::Mask), _) => ColumnAction::Mask,
            (Some(RuleAction::Hash), _) => ColumnAction::Hash,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn rules(mode: ColumnMode, list: &[(&str, RuleAction)]) -> ColumnRules {
        ColumnRules {
            mode,
            rules: list
                .iter()
                .map(|(p, action)| ColumnRule {
                    pattern: Pattern::new(p).unwrap(),
                    action: *action,
                })
                .collect(),
            ..ColumnRules::default()
        }
    }

    #[test]
    fn fingerprints_change_with_anything_that_changes_the_output() {
        use RuleAction::*;
        let base = rules(ColumnMode::DenyList, &[("Customer.*", Drop), ("X", Hash)]);
        let key = |secret: &[u8]| Some(Arc::new(HashKey::new(secret, 16)));
        let with_key = |mut r: ColumnRules, k| {
            r.hash_key = k;
            r
        };
        let a = with_key(base.clone(), key(&[1; 32]));
        assert_eq!(
            a.fingerprint(),
            with_key(base.clone(), key(&[1; 32])).fingerprint()
        );
        let others = [
            with_key(base.clone(), key(&[2; 32])),
            with_key(base.clone(), Some(Arc::new(HashKey::new(&[1; 32], 20)))),
            with_key(
                rules(ColumnMode::AllowList, &[("Customer.*", Drop), ("X", Hash)]),
                key(&[1; 32]),
            ),
            with_key(
                rules(ColumnMode::DenyList, &[("Customer.*", Mask), ("X", Hash)]),
                key(&[1; 32]),
            ),
            with_key(
                rules(ColumnMode::DenyList, &[("Customer.*", Drop)]),
                key(&[1; 32]),
            ),
            with_key(
                ColumnRules {
                    mask_with: "[x]".into(),
                    ..base
                },
                key(&[1; 32]),
            ),
        ];
        for (i, other) in others.iter().enumerate() {
            assert_ne!(a.fingerprint(), other.fingerprint(), "variant {i}");
        }
    }

    #[test]
    fn globs() {
        let table = [
            ("Customer.*", "Customer.FullName", true),
            ("Customer.*", "customer.fullname", true),
            ("CUSTOMER.*", "Customer.", true),
            ("Customer.*", "Customer", false),
            ("Customer.*", "CaseDetails.Customer.X", false),
            ("*.Phone", "Customer.Phone", true),
            ("*.Phone", "Customer.Phone2", false),
            ("*Phone*", "Customer.MobilePhoneNumber", true),
            ("*", "", true),
            ("*", "anything.at.all", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYc.", false),
            ("a**c", "ac", true),
            ("", "", true),
            ("", "a", false),
            ("Customer.FullName", "customer.FULLNAME", true),
            ("Customer.FullName", "Customer.FullNam", false),
        ];
        for (pattern, text, want) in table {
            assert_eq!(glob_matches(pattern, text), want, "{pattern} ~ {text}");
        }
    }

    /// The definition: `*` matches any run, everything else one character in any ASCII case.
    fn reference(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
            Some((c, rest)) => t
                .split_first()
                .is_some_and(|(d, t)| c.eq_ignore_ascii_case(d) && reference(rest, t)),
        }
    }

    proptest! {
        #![proptest_config(crate::proptest_config(256))]
        #[test]
        fn glob_agrees_with_its_definition(
            pattern in "[abAB.*]{0,8}",
            text in "[abAB.c]{0,10}",
        ) {
            prop_assert_eq!(
                glob_matches(&pattern, &text),
                reference(pattern.as_bytes(), text.as_bytes())
            );
        }

        #[test]
        fn a_pattern_matches_itself_and_star_matches_all(name in "[A-Za-z0-9_.-]{1,20}") {
            let pattern = Pattern::new(&name).unwrap();
            prop_assert!(pattern.is_exact());
            prop_assert!(pattern.matches(&name.to_ascii_uppercase()));
            prop_assert!(Pattern::new("*").unwrap().matches(&name));
        }
    }

    #[test]
    fn patterns() {
        for bad in ["", "Customer Name", "Customer.Név", "a,b", "a?"] {
            assert!(Pattern::new(bad).is_err(), "{bad:?}");
        }
        let p = Pattern::new("Customer.*").unwrap();
        assert!(!p.is_exact());
        assert!(p.same_as(&Pattern::new("customer.*").unwrap()));
    }

    #[test]
    fn the_most_specific_rule_decides() {
        use ColumnAction as C;
        use RuleAction as R;
        let analytics = rules(
            ColumnMode::DenyList,
            &[
                ("Customer.*", R::Drop),
                ("Customer.Phone", R::Mask),
                ("customer.emailaddress", R::Hash),
                ("*Phone*", R::Drop),
                ("Case*", R::Mask),
                ("CaseDetails.*", R::Hash),
            ],
        );
        let table = [
            ("Customer.FullName", C::Drop),
            ("Customer.Phone", C::Mask),
            ("CUSTOMER.EMAILADDRESS", C::Hash),
            ("Customer.MobilePhone", C::Drop),
            ("Agent.Phone", C::Drop),
            ("CaseDetails.CaseId", C::Hash),
            ("CaseDetailsComplaint.Details", C::Mask),
            ("Other", C::Keep),
        ];
        for (column, want) in table {
            assert_eq!(analytics.action(column), want, "{column}");
        }
        // Equally specific: the most protective wins, whatever the order.
        let tie = rules(
            ColumnMode::DenyList,
            &[
                ("Customer.*", R::Mask),
                ("*mer.Phone", R::Hash),
                ("*.Fax", R::Drop),
            ],
        );
        assert_eq!(tie.action("Customer.Phone"), C::Hash);
        assert_eq!(tie.action("Customer.Fax"), C::Mask);
        let tie = rules(ColumnMode::DenyList, &[("*.x", R::Drop), ("a.*", R::Allow)]);
        assert_eq!(tie.action("a.x"), C::Drop);
    }

    #[test]
    fn allow_list_mode_drops_what_it_does_not_name() {
        use ColumnAction as C;
        use RuleAction as R;
        let leads = rules(
            ColumnMode::AllowList,
            &[
                ("CaseDetails.*", R::Allow),
                ("Customer.FullName", R::Allow),
                ("Customer.Phone", R::Mask),
            ],
        );
        let table = [
            ("casedetails.caseid", C::Keep),
            ("Customer.FullName", C::Keep),
            ("Customer.Phone", C::Mask),
            ("Customer.EmailAddress", C::Drop),
            ("Anything", C::Drop),
        ];
        for (column, want) in table {
            assert_eq!(leads.action(column), want, "{column}");
        }
        assert!(!leads.keeps_everything());
        assert!(ColumnRules::default().keeps_everything());
    }
}
