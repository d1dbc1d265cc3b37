//! `[grant.columns]`: patterns, and rules that contradict each other.

use std::ops::Range;

use super::super::columns::{ColumnMode, ColumnRule, ColumnRules, Pattern, RuleAction};
use super::super::raw::{List, RawColumns, S};
use super::Ctx;
use crate::config::Reporter;

/// The longest mask string.
const MAX_MASK_CHARS: usize = 256;

pub(super) fn columns(
    raw: Option<&RawColumns>,
    ctx: &Ctx<'_>,
    r: &mut Reporter<'_>,
) -> Option<ColumnRules> {
    let Some(c) = raw else {
        return Some(ColumnRules::default());
    };
    let lists = [
        (RuleAction::Drop, &c.drop),
        (RuleAction::Mask, &c.mask),
        (RuleAction::Hash, &c.hash),
        (RuleAction::Allow, &c.allow),
    ];
    let mut ok = true;
    // Entries in file order, so that the second of two clashing entries is the one reported.
    let mut entries: Vec<(RuleAction, &S<String>)> = lists
        .into_iter()
        .flat_map(|(action, list)| {
            list.iter()
                .flat_map(|l| l.get_ref())
                .map(move |e| (action, e))
        })
        .collect();
    entries.sort_by_key(|(_, e)| e.span().start);
    // Every pattern with its action and place, to find the same pattern twice.
    let mut seen: Vec<(ColumnRule, Range<usize>)> = Vec::new();
    for (action, entry) in entries {
        let pattern = match Pattern::new(entry.get_ref()) {
            Ok(p) => p,
            Err(why) => {
                r.at(
                    Some(entry.span()),
                    format!("columns.{} entry {why}", action.key()),
                );
                ok = false;
                continue;
            }
        };
        let earlier = seen.iter().find(|(e, _)| e.pattern.same_as(&pattern));
        if let Some((e, span)) = earlier {
            r.at(
                Some(entry.span()),
                twice(&pattern, e.action, action, ctx.line(span)),
            );
            ok = false;
            continue;
        }
        seen.push((ColumnRule { pattern, action }, entry.span()));
    }
    let given = |l: &Option<List<String>>| l.as_ref().is_some_and(|l| !l.get_ref().is_empty());
    if let Some(allow) = &c.allow {
        if let Some(drop) = c.drop.as_ref().filter(|_| given(&c.drop)) {
            r.at(
                Some(drop.span()),
                "columns.drop contradicts allow-list mode: with columns.allow, every column not \
                 listed is already dropped; remove the drop list, or the allow list",
            );
            ok = false;
        }
        if !given(&c.allow) && !given(&c.mask) && !given(&c.hash) {
            r.at(
                Some(allow.span()),
                "columns.allow is empty, so every column would be dropped; list the columns to \
                 keep",
            );
            ok = false;
        }
    }
    if let Some(hash) = c.hash.as_ref().filter(|_| given(&c.hash)) {
        if !ctx.hash_key_written {
            r.at(
                Some(hash.span()),
                "columns.hash needs the policy's hashing key: add [hashing] with \
                 key = { env = \"CASEGATE_HASH_KEY\" } (or { file = \"...\" })",
            );
            ok = false;
        }
    }
    let mask_with = match &c.mask_with {
        None => super::super::columns::DEFAULT_MASK.to_owned(),
        Some(m) => {
            let text = m.get_ref();
            if text.chars().any(char::is_control) || text.chars().count() > MAX_MASK_CHARS {
                r.at(
                    Some(m.span()),
                    format!(
                        "columns.mask_with must be at most {MAX_MASK_CHARS} characters, \
                         without control characters"
                    ),
                );
                ok = false;
            }
            text.clone()
        }
    };
    if !ok {
        return None;
    }
    let hashes = seen.iter().any(|(rule, _)| rule.action == RuleAction::Hash);
    Some(ColumnRules {
        mode: if c.allow.is_some() {
            ColumnMode::AllowList
        } else {
            ColumnMode::DenyList
        },
        rules: seen.into_iter().map(|(rule, _)| rule).collect(),
        mask_with,
        // A key that could not be read is reported under [hashing]; the grant is then refused.
        hash_key: if hashes {
            Some(ctx.hash_key.clone()?)
        } else {
            None
        },
        fingerprint: Default::default(),
    })
}

/// The message for a pattern met a second time.
fn twice(pattern: &Pattern, first: RuleAction, second: RuleAction, line: usize) -> String {
    use RuleAction::{Allow, Drop};
    if first == second {
        return format!(
            "column pattern {pattern} is listed twice in columns.{} (also on line {line})",
            first.key()
        );
    }
    let what = match (first, second) {
        (Allow, Drop) | (Drop, Allow) => "both allowed and dropped".to_owned(),
        _ => format!(
            "in both columns.{} and columns.{}",
            first.key(),
            second.key()
        ),
    };
    format!(
        "contradictory column rules: {pattern} is {what} (line {line} and here); \
         a column gets one treatment, so keep one of them"
    )
}
