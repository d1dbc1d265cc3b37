//! `[cache.redis]`: the optional shared tier: where Redis is, how its key names start, the
//! keys that seal entries at rest, and how long anything may wait for Redis.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use secrecy::{ExposeSecret, SecretSlice};
use serde_spanned::Spanned;

use super::super::problem::Reporter;
use super::super::raw::{RawEncryptionKey, RawRedis};
use super::super::secret;
use super::redis_table::is_name;
use super::{duration, redis_table};
use crate::cache::{EncryptionKey, RedisConfig};

/// The table, as messages name it.
const TABLE: &str = "cache.redis";
const KEY_EXAMPLE: &str = "keys = [{ id = \"k1\", secret = { env = \"CASEGATE_CACHE_KEY\" } }]";
const KEY_ENCODING: &str =
    "must be 32 random bytes in standard base64 (44 characters ending in '='), e.g. from `openssl rand -base64 32`";

pub(super) fn redis(
    spanned: &Spanned<RawRedis>,
    base_dir: &Path,
    r: &mut Reporter<'_>,
) -> Option<RedisConfig> {
    let raw = spanned.get_ref();
    let connection =
        redis_table::connection(&raw.url, &raw.password, spanned.span(), TABLE, base_dir, r);
    let namespace = redis_table::namespace(&raw.namespace, TABLE, r);
    let keys = keys(spanned, base_dir, r);
    let ms = Duration::from_millis;
    let operation_timeout = duration(&raw.operation_timeout, "cache.redis.operation_timeout", r)
        .map(|d| d.unwrap_or(ms(50)));
    let lock_ttl =
        duration(&raw.lock_ttl, "cache.redis.lock_ttl", r).map(|d| d.unwrap_or(ms(10_000)));
    let wait_for_lock =
        duration(&raw.wait_for_lock, "cache.redis.wait_for_lock", r).map(|d| d.unwrap_or(ms(50)));
    let (operation_timeout, lock_ttl, wait_for_lock) =
        (operation_timeout.ok()?, lock_ttl.ok()?, wait_for_lock.ok()?);
    if wait_for_lock >= lock_ttl {
        let span = raw.wait_for_lock.as_ref().or(raw.lock_ttl.as_ref());
        r.at(
            span.map(Spanned::span),
            "cache.redis.wait_for_lock must be shorter than cache.redis.lock_ttl (a replica \
             waiting for another's fill looks for its entry every wait_for_lock until lock_ttl \
             has passed)",
        );
        return None;
    }
    Some(RedisConfig {
        connection: connection?,
        namespace: namespace?,
        keys: keys?,
        operation_timeout,
        lock_ttl,
        wait_for_lock,
    })
}

fn keys(
    spanned: &Spanned<RawRedis>,
    base_dir: &Path,
    r: &mut Reporter<'_>,
) -> Option<Vec<EncryptionKey>> {
    let Some(list) = &spanned.get_ref().keys else {
        r.at(
            Some(spanned.span()),
            format!("cache.redis.keys is required: the keys that seal entries at rest, e.g. {KEY_EXAMPLE}"),
        );
        return None;
    };
    if list.get_ref().is_empty() {
        r.at(
            Some(list.span()),
            format!("cache.redis.keys must name at least one key, e.g. {KEY_EXAMPLE}"),
        );
        return None;
    }
    let mut ids = HashSet::new();
    let mut keys = Vec::new();
    let mut ok = true;
    for (i, raw) in list.get_ref().iter().enumerate() {
        let name = format!("cache.redis.keys[{i}]");
        let Some(key) = key(raw, &name, base_dir, r) else {
            ok = false;
            continue;
        };
        if !ids.insert(key.id.clone()) {
            r.at(
                Some(raw.span()),
                format!(
                    "{name}.id {:?} is given twice: ids must be unique (an entry names the key that sealed it)",
                    key.id
                ),
            );
            ok = false;
        }
        keys.push(key);
    }
    ok.then_some(keys)
}

fn key(
    spanned: &Spanned<RawEncryptionKey>,
    name: &str,
    base_dir: &Path,
    r: &mut Reporter<'_>,
) -> Option<EncryptionKey> {
    let raw = spanned.get_ref();
    let id = match &raw.id {
        Some(id) if is_name(id.get_ref(), 32) => Some(id.get_ref().clone()),
        Some(id) => {
            r.at(
                Some(id.span()),
                format!("{name}.id must be 1 to 32 of A-Z a-z 0-9 . _ - (it is written, unencrypted, into every entry the key seals)"),
            );
            None
        }
        None => {
            r.at(
                Some(spanned.span()),
                format!("{name}.id is required, e.g. id = \"k1\""),
            );
            None
        }
    };
    let secret = match &raw.secret {
        Some(s) => secret::resolve(s.get_ref(), base_dir)
            .and_then(|text| decode_key(text.expose_secret()))
            .map_err(|e| r.at(Some(s.span()), format!("{name}.secret: {e}")))
            .ok(),
        None => {
            r.at(
                Some(spanned.span()),
                format!(
                    "{name}.secret is required, e.g. secret = {{ env = \"CASEGATE_CACHE_KEY\" }}"
                ),
            );
            None
        }
    };
    Some(EncryptionKey {
        id: id?,
        secret: secret?,
    })
}

/// The one accepted encoding: standard base64 of exactly 32 bytes. Errors never repeat the
/// value.
fn decode_key(text: &str) -> Result<SecretSlice<u8>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| format!("{KEY_ENCODING}; this is not base64"))?;
    if bytes.len() != 32 {
        return Err(format!(
            "{KEY_ENCODING}; this decodes to {} bytes",
            bytes.len()
        ));
    }
    Ok(SecretSlice::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::super::super::problem::Problems;
    use super::super::super::raw::RawConfig;
    use super::*;

    /// 32 bytes of 0x41, in base64.
    const KEY: &str = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";

    fn check(text: &str) -> (Option<Option<RedisConfig>>, Problems) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k1"), format!("{KEY}\n")).unwrap();
        std::fs::write(dir.path().join("short"), "c2hvcnQ=").unwrap();
        std::fs::write(dir.path().join("redis-password"), "hunter2\n").unwrap();
        let path = dir.path().join("casegate.toml");
        let mut problems = Problems::default();
        let mut r = Reporter::new(&path, text, &mut problems);
        let raw: RawConfig = toml::from_str(text).unwrap();
        let config = super::super::cache::cache(&raw.cache, dir.path(), &mut r);
        (config.map(|c| c.redis), problems)
    }

    fn messages(problems: &Problems) -> Vec<String> {
        problems
            .iter()
            .map(|p| format!("{}: {}", p.line, p.message))
            .collect()
    }

    #[test]
    fn off_by_default_and_defaults_when_present() {
        let (config, problems) = check("[cache]\nttl = \"30s\"\n");
        assert!(problems.is_empty());
        assert!(config.unwrap().is_none());

        let (config, problems) = check(
            "[cache.redis]\nurl = \"redis://127.0.0.1:6390/2\"\nkeys = [{ id = \"k1\", secret = { file = \"k1\" } }]\n",
        );
        assert!(problems.is_empty(), "{problems}");
        let redis = config.unwrap().unwrap();
        assert_eq!(redis.namespace, "casegate");
        assert_eq!(redis.operation_timeout, Duration::from_millis(50));
        assert_eq!(redis.lock_ttl, Duration::from_secs(10));
        assert_eq!(redis.wait_for_lock, Duration::from_millis(50));
        assert_eq!(redis.connection.addr().to_string(), "127.0.0.1:6390");
        assert_eq!(redis.connection.redis_settings().db(), 2);
        assert_eq!(redis.keys[0].id, "k1");
        assert_eq!(redis.keys[0].secret.expose_secret(), &[b'A'; 32][..]);
    }

    #[test]
    fn the_password_comes_from_a_secret_and_nothing_secret_prints() {
        let (config, problems) = check(
            "[cache.redis]\nurl = \"redis://cache.internal:6379/0\"\npassword = { file = \"redis-password\" }\nkeys = [{ id = \"k1\", secret = { file = \"k1\" } }]\n",
        );
        assert!(problems.is_empty(), "{problems}");
        let redis = config.unwrap().unwrap();
        assert_eq!(
            redis.connection.redis_settings().password(),
            Some("hunter2")
        );
        let printed = format!("{redis:?}");
        assert!(
            printed.contains("redis://cache.internal:6379/0"),
            "{printed}"
        );
        assert!(
            !printed.contains("hunter2") && !printed.contains("65, 65"),
            "{printed}"
        );
    }

    #[test]
    fn every_problem_names_its_key_and_line() {
        let (config, problems) = check(
            r#"[cache.redis]
url = "rediss://127.0.0.1:6379"
namespace = "a b"
operation_timeout = "soon"
keys = [
  { id = "k1", secret = { file = "short" } },
  { id = "no spaces", secret = { file = "k1" } },
  { secret = { file = "k1" } },
]
"#,
        );
        assert!(config.is_none(), "the whole [cache] is refused");
        let m = messages(&problems);
        assert!(
            m[0].starts_with("2: cache.redis.url must start with redis://"),
            "{m:?}"
        );
        assert!(m[1].starts_with("3: cache.redis.namespace"), "{m:?}");
        assert!(
            m.iter().any(|m| m
                .starts_with("6: cache.redis.keys[0].secret: must be 32 random bytes")
                && m.ends_with("decodes to 5 bytes")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|m| m.starts_with("7: cache.redis.keys[1].id must be")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|m| m.starts_with("8: cache.redis.keys[2].id is required")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|m| m.starts_with("4: cache.redis.operation_timeout")),
            "{m:?}"
        );
    }

    #[test]
    fn missing_and_conflicting_settings() {
        let (_, problems) = check("[cache.redis]\nnamespace = \"x\"\n");
        let m = messages(&problems);
        assert!(m[0].contains("cache.redis.url is required"), "{m:?}");
        assert!(m[1].contains("cache.redis.keys is required"), "{m:?}");

        let (_, problems) = check(
            "[cache.redis]\nurl = \"redis://:pw@127.0.0.1:6379\"\nkeys = [{ id = \"k1\", secret = { file = \"k1\" } }, { id = \"k1\", secret = { file = \"k1\" } }]\nlock_ttl = \"1s\"\nwait_for_lock = \"2s\"\n",
        );
        let m = messages(&problems);
        assert!(
            m.iter().any(|m| m.contains("must not hold a password")),
            "{m:?}"
        );
        assert!(!m.iter().any(|m| m.contains("pw@")), "{m:?}");
        assert!(
            m.iter().any(|m| m.contains("\"k1\" is given twice")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|m| m.starts_with("5: cache.redis.wait_for_lock must be shorter")),
            "{m:?}"
        );

        let (_, problems) = check("[cache.redis]\nurl = \"redis://x\"\nkeys = []\n");
        assert!(messages(&problems)[0].contains("at least one key"));
        let (_, problems) =
            check("[cache.redis]\nurl = \"redis://x\"\nkeys = [{ id = \"k\", secret = { file = \"redis-password\" } }]\n");
        assert!(messages(&problems)[0].ends_with("this is not base64"));
    }
}
