//! Owns the human report of `svctl check`: what each app of a valid file will run (its
//! warnings go to stderr, as every warning).

use super::{bytes, shell_join};
use crate::config::{Loaded, LogTarget};

/// The human report of `svctl check`.
pub fn render_check(loaded: &Loaded) -> String {
    let mut out = format!(
        "{}: {} app(s), valid\n",
        loaded.file.display(),
        loaded.apps.len()
    );
    for s in &loaded.apps {
        out.push_str(&format!("\n{} (namespace {})\n", s.name, s.namespace));
        out.push_str(&format!("  command      {}\n", shell_join(&s.argv())));
        out.push_str(&format!("  cwd          {}\n", s.cwd.display()));
        out.push_str(&format!(
            "  instances    {} (variable {}{})\n",
            s.instances,
            s.instance_var,
            s.increment_var
                .as_ref()
                .map(|v| format!(", increment {v}"))
                .unwrap_or_default()
        ));
        let delay = match s.exp_backoff_restart_delay_ms {
            Some(b) => format!("exponential backoff from {b} ms"),
            None => format!("restart delay {} ms", s.restart_delay_ms),
        };
        out.push_str(&format!(
            "  restart      autorestart {}, {delay}, min_uptime {} ms, max_restarts {}{}\n",
            s.autorestart,
            s.min_uptime_ms,
            s.max_restarts,
            if s.stop_exit_codes.is_empty() {
                String::new()
            } else {
                let codes: Vec<String> = s.stop_exit_codes.iter().map(|c| c.to_string()).collect();
                format!(", stop exit codes {}", codes.join(", "))
            }
        ));
        out.push_str(&format!(
            "  stop         {}, SIGKILL after {} ms\n",
            s.kill_signal, s.kill_timeout_ms
        ));
        if let Some(m) = s.max_memory_restart {
            out.push_str(&format!(
                "  memory       restart over {} (process tree)\n",
                bytes(m)
            ));
        }
        if let Some(c) = &s.cron_restart {
            out.push_str(&format!("  cron         {c}\n"));
        }
        if !s.watch.is_empty() {
            let w: Vec<String> = s.watch.iter().map(|p| p.display().to_string()).collect();
            out.push_str(&format!("  watch        {}\n", w.join(", ")));
        }
        let target = |t: &LogTarget, default: &str| match t {
            LogTarget::Default => default.to_string(),
            LogTarget::Disabled => "(disabled)".to_string(),
            LogTarget::File(p) => p.display().to_string(),
        };
        out.push_str(&format!(
            "  logs         out {}, error {}\n",
            target(&s.out_file, "default"),
            target(&s.error_file, "default")
        ));
        if s.log_file != LogTarget::Default {
            out.push_str(&format!("  combined log {}\n", target(&s.log_file, "-")));
        }
        let keys: Vec<&str> = s.env.keys().map(String::as_str).collect();
        out.push_str(&format!(
            "  env          {}{}\n",
            if keys.is_empty() {
                "-".to_string()
            } else {
                keys.join(", ")
            },
            s.env_name
                .as_ref()
                .map(|e| format!(" (with env_{e})"))
                .unwrap_or_default()
        ));
        if !s.autostart {
            out.push_str("  autostart    false (added stopped)\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, load_str};
    use std::path::Path;

    #[test]
    fn check_report_lists_what_will_run() {
        let yaml = "apps:\n  - name: a\n    script: sleep\n    args: \"10\"\n    env:\n      SECRET: hunter2\n";
        let l = load_str(yaml, Path::new("/tmp/eco.yaml"), &LoadOptions::default()).expect("valid");
        let r = render_check(&l);
        assert!(r.contains("sleep 10"), "{r}");
        assert!(
            r.contains("SECRET") && !r.contains("hunter2"),
            "values are hidden: {r}"
        );
    }
}
