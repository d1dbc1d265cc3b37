//! nginx (the Debian package) from a bench's configuration template, as a pinned child process.

use std::path::Path;
use std::time::Duration;

use super::procs::{has_tool, Server};

/// Starts nginx with `template` (or the file `$NGINX_CONF` names), each `@NAME@` of `vars`
/// replaced by its value; its files (configuration, cache, temporary files) go to `dir/nginx`.
pub fn start(
    dir: &Path,
    template: &str,
    vars: &[(&str, String)],
    pinned: bool,
    lifetime: Duration,
) -> Result<Server, String> {
    let nginx = binary().ok_or(
        "nginx not found (on PATH, /usr/sbin/nginx or $NGINX): install the Debian package, \
         `apt-get install -y nginx`",
    )?;
    let prefix = dir.join("nginx");
    // nginx creates its temporary and cache folders, but not their parents.
    std::fs::create_dir_all(prefix.join("tmp")).map_err(|e| format!("nginx folder: {e}"))?;
    let conf = prefix.join("nginx.conf");
    // `$NGINX_CONF`: another template with the same placeholders, e.g. Debian's defaults.
    let template = match std::env::var("NGINX_CONF") {
        Ok(path) => {
            std::fs::read_to_string(&path).map_err(|e| format!("NGINX_CONF={path}: {e}"))?
        }
        Err(_) => template.to_owned(),
    };
    let text = vars.iter().fold(template, |text, (name, value)| {
        text.replace(&format!("@{name}@"), value)
    });
    std::fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
    let (prefix, conf) = (prefix.to_string_lossy(), conf.to_string_lossy());
    // Errors before the configuration is read go to stderr, i.e. the bench's nginx.log.
    let mut args = vec!["-p", &prefix, "-c", &conf, "-e", "stderr"];
    if running_as_root() {
        // Otherwise the worker runs as `nobody` and cannot enter the bench's private temp dir.
        args.extend(["-g", "user root;"]);
    }
    Server::spawn("nginx", &nginx, &args, pinned, lifetime, dir)
}

/// `$NGINX`, `nginx` on PATH, or where Debian puts it (not on a normal user's PATH).
fn binary() -> Option<String> {
    let candidates = [std::env::var("NGINX").ok(), Some("nginx".to_owned())];
    candidates
        .into_iter()
        .flatten()
        .chain(["/usr/sbin/nginx".to_owned()])
        .find(|path| has_tool(path, "-v"))
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}
