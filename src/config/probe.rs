//! Owns the validated forms of readiness and health checks and of the sockets svctl listens on
//! for an app: what `ready:`, `health:` and `listen:` say once the loader accepted them.

use serde::{Deserialize, Serialize};

/// What a probe checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// `GET` of an `http://HOST:PORT/PATH` URL; a 2xx or 3xx answer passes.
    Http(String),
    /// A TCP connect to `HOST:PORT`.
    Tcp(String),
    /// A shell command (`sh -c`) run in the app's folder with its environment; exit 0 passes.
    Exec(String),
}

/// A probe and its timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub kind: ProbeKind,
    /// Time between the end of one check and the start of the next.
    pub interval_ms: u64,
    /// A check that takes longer fails.
    pub timeout_ms: u64,
    /// Time after the spawn before the first check.
    #[serde(default)]
    pub initial_delay_ms: u64,
    /// Consecutive failed checks that make an instance unhealthy (health checks only).
    #[serde(default = "default_failures")]
    pub failures: u32,
}

fn default_failures() -> u32 {
    3
}

/// A socket svctl opens for an app and passes to every instance (systemd socket activation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenAddr {
    /// `tcp://HOST:PORT`.
    Tcp(String),
    /// `unix:PATH` (absolute once loaded).
    Unix(String),
}

impl ListenAddr {
    /// `tcp://0.0.0.0:8000` or `unix:/run/app.sock`. `$VAR` or `${VAR}` stands for a variable of
    /// each instance's environment (`tcp://127.0.0.1:$PORT` with `increment_var: PORT`: a socket
    /// per instance); such an address is checked once [`ListenAddr::resolve`]d.
    pub fn parse(text: &str) -> Result<ListenAddr, String> {
        let t = text.trim();
        if t.contains('$') {
            return match t {
                _ if t.starts_with("tcp://") => Ok(ListenAddr::Tcp(t["tcp://".len()..].into())),
                _ if t.starts_with("unix:") => Ok(ListenAddr::Unix(t["unix:".len()..].into())),
                _ => Err(format!(
                    "`{t}` is not a socket address: write tcp://HOST:PORT or unix:PATH"
                )),
            };
        }
        if let Some(rest) = t.strip_prefix("tcp://") {
            let Some((host, port)) = rest.rsplit_once(':') else {
                return Err(format!("`{t}` has no port: write tcp://HOST:PORT"));
            };
            if host.is_empty() {
                return Err(format!("`{t}` has no host: write tcp://HOST:PORT"));
            }
            // The daemon binds it: an address, never a name to look up (a lookup could stall).
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            if bare != "localhost" && bare.parse::<std::net::IpAddr>().is_err() {
                return Err(format!(
                    "`{t}`: the host must be an IP address (0.0.0.0, 127.0.0.1, [::]) or localhost"
                ));
            }
            match port.parse::<u16>() {
                Ok(p) if p > 0 => Ok(ListenAddr::Tcp(rest.to_string())),
                _ => Err(format!("`{t}`: `{port}` is not a port (1 to 65535)")),
            }
        } else if let Some(path) = t.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(format!("`{t}` has no path: write unix:PATH"));
            }
            Ok(ListenAddr::Unix(path.to_string()))
        } else {
            Err(format!(
                "`{t}` is not a socket address: write tcp://HOST:PORT or unix:PATH"
            ))
        }
    }

    /// Whether the address names variables of the instance's environment.
    pub fn per_instance(&self) -> bool {
        self.display().contains('$')
    }

    /// The address of one instance: its `$VAR`s replaced from `env`, then checked.
    pub fn resolve(
        &self,
        env: &std::collections::BTreeMap<String, String>,
    ) -> Result<ListenAddr, String> {
        if !self.per_instance() {
            return Ok(self.clone());
        }
        let text = self.display();
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, tail) = match after.strip_prefix('{') {
                Some(b) => match b.find('}') {
                    Some(j) => (&b[..j], &b[j + 1..]),
                    None => return Err(format!("`{text}`: `${{` without a closing `}}`")),
                },
                None => {
                    let end = after
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            if name.is_empty() {
                return Err(format!("`{text}`: `$` without a variable name"));
            }
            match env.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    return Err(format!(
                        "`{text}`: the instance has no variable `{name}` (set it in env, or with increment_var)"
                    ));
                }
            }
            rest = tail;
        }
        out.push_str(rest);
        ListenAddr::parse(&out)
    }

    /// The name passed in `LISTEN_FDNAMES` and shown to users.
    pub fn display(&self) -> String {
        match self {
            ListenAddr::Tcp(a) => format!("tcp://{a}"),
            ListenAddr::Unix(p) => format!("unix:{p}"),
        }
    }
}

/// Parses `http://HOST:PORT/PATH` into (host, port, path); the port defaults to 80.
pub fn parse_http_url(url: &str) -> Result<(String, u16, String), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!(
            "`{url}` is not an http:// URL (https is not supported)"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal without a port: `[::1]`.
        Some((h, p)) if !p.contains(']') => match p.parse::<u16>() {
            Ok(port) if port > 0 => (h, port),
            _ => return Err(format!("`{url}`: `{p}` is not a port (1 to 65535)")),
        },
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    Ok((host.to_string(), port, path.to_string()))
}

/// Checks `HOST:PORT` for a TCP probe.
pub fn parse_host_port(text: &str) -> Result<(String, u16), String> {
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("`{text}` is not HOST:PORT"));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("`{text}` has no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((host.to_string(), p)),
        _ => Err(format!("`{text}`: `{port}` is not a port (1 to 65535)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            ListenAddr::parse("tcp://0.0.0.0:8000"),
            Ok(ListenAddr::Tcp("0.0.0.0:8000".into()))
        );
        assert_eq!(
            ListenAddr::parse("tcp://[::1]:80"),
            Ok(ListenAddr::Tcp("[::1]:80".into()))
        );
        assert_eq!(
            ListenAddr::parse("unix:/run/app.sock"),
            Ok(ListenAddr::Unix("/run/app.sock".into()))
        );
        for bad in [
            "0.0.0.0:80",
            "tcp://:80",
            "tcp://h:0",
            "tcp://h:99999",
            "tcp://h",
            "unix:",
        ] {
            assert!(ListenAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn per_instance_addresses_resolve_from_the_instance_environment() {
        let a = ListenAddr::parse("tcp://127.0.0.1:$PORT").expect("parsed");
        assert!(a.per_instance());
        let env =
            |port: &str| std::collections::BTreeMap::from([("PORT".to_string(), port.to_string())]);
        assert_eq!(
            a.resolve(&env("8001")),
            Ok(ListenAddr::Tcp("127.0.0.1:8001".into()))
        );
        let braced = ListenAddr::parse("unix:/run/app-${PORT}.sock").expect("parsed");
        assert_eq!(
            braced.resolve(&env("2")),
            Ok(ListenAddr::Unix("/run/app-2.sock".into()))
        );
        assert!(a.resolve(&env("x")).is_err(), "resolved, then checked");
        let missing = a.resolve(&Default::default()).unwrap_err();
        assert!(missing.contains("no variable `PORT`"), "{missing}");
        assert!(ListenAddr::parse("udp://$X").is_err());
        let plain = ListenAddr::parse("tcp://127.0.0.1:80").expect("parsed");
        assert_eq!(plain.resolve(&env("1")), Ok(plain.clone()));
    }

    #[test]
    fn http_urls() {
        assert_eq!(
            parse_http_url("http://127.0.0.1:8000/health"),
            Ok(("127.0.0.1".into(), 8000, "/health".into()))
        );
        assert_eq!(
            parse_http_url("http://localhost"),
            Ok(("localhost".into(), 80, "/".into()))
        );
        assert_eq!(
            parse_http_url("http://[::1]:81/x?y=1"),
            Ok(("::1".into(), 81, "/x?y=1".into()))
        );
        for bad in [
            "https://a/",
            "ftp://a",
            "http://",
            "http://a:x/",
            "http://:80/",
        ] {
            assert!(parse_http_url(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_host_port("db:5432"), Ok(("db".into(), 5432)));
        assert!(parse_host_port("db").is_err());
    }
}
