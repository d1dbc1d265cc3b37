//! The settings every load bench takes from its environment.

use std::fmt::Write as _;
use std::time::Duration;

use super::caller::check_log_filter;
use super::env_var;

/// `RATE`, `DURATION`, `CONNECTIONS`, `GATEWAY_LOG` and `QUIET_WAIT`.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    /// Offered requests per second of the open-loop (latency) run.
    pub rate: f64,
    /// Measured seconds per path (and loop, where the bench says so).
    pub duration: Duration,
    pub connections: usize,
    /// For investigations: casegate's `logging.level`.
    pub gateway_log: String,
    /// How long to wait for a quiet machine before measuring anyway (and saying so).
    pub quiet_wait: Duration,
}

impl LoadSettings {
    pub fn from_env(default_rate: f64) -> Result<Self, String> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let (rate, duration) = (
            env_var("RATE")?.unwrap_or(default_rate),
            env_var("DURATION")?.unwrap_or(10.0),
        );
        if !positive(rate) || !positive(duration) {
            return Err("RATE and DURATION must be positive numbers".to_owned());
        }
        let s = Self {
            rate,
            duration: Duration::from_secs_f64(duration),
            connections: env_var("CONNECTIONS")?.unwrap_or(64),
            gateway_log: env_var("GATEWAY_LOG")?.unwrap_or_else(|| "warn".to_owned()),
            quiet_wait: Duration::from_secs(env_var("QUIET_WAIT")?.unwrap_or(120)),
        };
        if s.connections == 0 {
            return Err("CONNECTIONS must be positive".to_owned());
        }
        check_log_filter(&s.gateway_log).map_err(|e| format!("GATEWAY_LOG={e}"))?;
        Ok(s)
    }

    /// The environment part of the command line that reproduces a run: every setting that
    /// matters spelled out, defaults of the rarely changed ones left out.
    pub fn env(&self) -> String {
        let mut env = format!(
            "RATE={} DURATION={} ",
            self.rate,
            self.duration.as_secs_f64()
        );
        if self.connections != 64 {
            let _ = write!(env, "CONNECTIONS={} ", self.connections);
        }
        if self.gateway_log != "warn" {
            let _ = write!(env, "GATEWAY_LOG={} ", self.gateway_log);
        }
        env
    }
}
