//! Owns how a line is written: as it came, with a timestamp prefix in a dayjs-style format
//! (PM2's `log_date_format`, `time: true`), or as one JSON object (PM2's `log_type: json`, with
//! PM2's keys: `message`, `timestamp`, `type`, `process_id`, `app_name`).

use chrono::{DateTime, Datelike, Local, Timelike};

/// One piece of a parsed date format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(String),
    Year4,
    Year2,
    Month2,
    Month,
    Day2,
    Day,
    Hour2,
    Hour,
    Hour12,
    Minute2,
    Minute,
    Second2,
    Second,
    Millis,
    Offset,
    OffsetCompact,
    AmPm,
}

/// A parsed dayjs-style format: `YYYY YY MM M DD D HH H hh mm m ss s SSS Z ZZ A`, and
/// `[literal text]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat(Vec<Tok>);

impl DateFormat {
    pub fn parse(fmt: &str) -> DateFormat {
        const TOKENS: [(&str, Tok); 17] = [
            ("YYYY", Tok::Year4),
            ("SSS", Tok::Millis),
            ("YY", Tok::Year2),
            ("MM", Tok::Month2),
            ("DD", Tok::Day2),
            ("HH", Tok::Hour2),
            ("hh", Tok::Hour12),
            ("mm", Tok::Minute2),
            ("ss", Tok::Second2),
            ("ZZ", Tok::OffsetCompact),
            ("M", Tok::Month),
            ("D", Tok::Day),
            ("H", Tok::Hour),
            ("m", Tok::Minute),
            ("s", Tok::Second),
            ("Z", Tok::Offset),
            ("A", Tok::AmPm),
        ];
        let mut out = Vec::new();
        let mut lit = String::new();
        let mut rest = fmt;
        'outer: while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('[')
                && let Some(end) = r.find(']')
            {
                lit.push_str(&r[..end]);
                rest = &r[end + 1..];
                continue;
            }
            for (t, tok) in &TOKENS {
                if let Some(r) = rest.strip_prefix(t) {
                    if !lit.is_empty() {
                        out.push(Tok::Lit(std::mem::take(&mut lit)));
                    }
                    out.push(tok.clone());
                    rest = r;
                    continue 'outer;
                }
            }
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                lit.push(c);
            }
            rest = chars.as_str();
        }
        if !lit.is_empty() {
            out.push(Tok::Lit(lit));
        }
        DateFormat(out)
    }

    pub fn format(&self, t: &DateTime<Local>) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(32);
        for tok in &self.0 {
            let _ = match tok {
                Tok::Lit(l) => write!(s, "{l}"),
                Tok::Year4 => write!(s, "{:04}", t.year()),
                Tok::Year2 => write!(s, "{:02}", t.year().rem_euclid(100)),
                Tok::Month2 => write!(s, "{:02}", t.month()),
                Tok::Month => write!(s, "{}", t.month()),
                Tok::Day2 => write!(s, "{:02}", t.day()),
                Tok::Day => write!(s, "{}", t.day()),
                Tok::Hour2 => write!(s, "{:02}", t.hour()),
                Tok::Hour => write!(s, "{}", t.hour()),
                Tok::Hour12 => write!(s, "{:02}", t.hour12().1),
                Tok::Minute2 => write!(s, "{:02}", t.minute()),
                Tok::Minute => write!(s, "{}", t.minute()),
                Tok::Second2 => write!(s, "{:02}", t.second()),
                Tok::Second => write!(s, "{}", t.second()),
                Tok::Millis => write!(s, "{:03}", t.timestamp_subsec_millis().min(999)),
                Tok::Offset => write!(s, "{}", t.format("%:z")),
                Tok::OffsetCompact => write!(s, "{}", t.format("%z")),
                Tok::AmPm => write!(s, "{}", if t.hour12().0 { "PM" } else { "AM" }),
            };
        }
        s
    }
}

/// How lines of one stream are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFormat {
    Raw,
    Timestamped(DateFormat),
    /// PM2's keys; `timestamp` in `log_date_format` when the app has one, else ISO 8601 in UTC
    /// (as PM2's `new Date().toISOString()`).
    Json {
        app: String,
        instance: u32,
        stream: &'static str,
        date: Option<DateFormat>,
    },
}

impl LineFormat {
    /// Appends the formatted lines of `lines` (complete lines, each ending in `\n`) to `out`.
    pub fn write(&self, lines: &[u8], now: &DateTime<Local>, out: &mut Vec<u8>) {
        match self {
            LineFormat::Raw => out.extend_from_slice(lines),
            LineFormat::Timestamped(f) => {
                let stamp = f.format(now);
                for line in lines.split_inclusive(|b| *b == b'\n') {
                    out.extend_from_slice(stamp.as_bytes());
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(line);
                }
            }
            LineFormat::Json {
                app,
                instance,
                stream,
                date,
            } => {
                let ts = match date {
                    Some(f) => f.format(now),
                    None => now
                        .with_timezone(&chrono::Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                };
                for line in lines.split_inclusive(|b| *b == b'\n') {
                    let text = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(line));
                    let obj = serde_json::json!({
                        "message": text,
                        "timestamp": ts,
                        "type": stream,
                        "process_id": instance,
                        "app_name": app,
                    });
                    out.extend_from_slice(obj.to_string().as_bytes());
                    out.push(b'\n');
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Local> {
        Local.with_ymd_and_hms(2026, 3, 7, 14, 5, 9).unwrap() + chrono::Duration::milliseconds(42)
    }

    #[test]
    fn dayjs_tokens() {
        let t = at();
        assert_eq!(
            DateFormat::parse("YYYY-MM-DD HH:mm:ss.SSS").format(&t),
            "2026-03-07 14:05:09.042"
        );
        assert_eq!(
            DateFormat::parse("YY/M/D H:m:s").format(&t),
            "26/3/7 14:5:9"
        );
        assert_eq!(DateFormat::parse("hh:mm A").format(&t), "02:05 PM");
        assert_eq!(DateFormat::parse("[at] HH[h]").format(&t), "at 14h");
        let z = DateFormat::parse("Z").format(&t);
        assert!(z.starts_with('+') || z.starts_with('-'), "{z}");
        assert_eq!(z.len(), 6);
        assert_eq!(DateFormat::parse("ZZ").format(&t).len(), 5);
    }

    #[test]
    fn formats_each_line() {
        let t = at();
        let mut out = Vec::new();
        LineFormat::Timestamped(DateFormat::parse("HH:mm")).write(b"a\nb\n", &t, &mut out);
        assert_eq!(out, b"14:05: a\n14:05: b\n");
        let mut out = Vec::new();
        let json = LineFormat::Json {
            app: "api".into(),
            instance: 2,
            stream: "err",
            date: None,
        };
        json.write(b"hello \"x\"\n\xff\n", &t, &mut out);
        let lines: Vec<serde_json::Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["message"], "hello \"x\"");
        assert_eq!(lines[0]["app_name"], "api");
        assert_eq!(lines[0]["process_id"], 2);
        assert_eq!(lines[0]["type"], "err");
        let utc = t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%S%.3fZ");
        assert_eq!(lines[0]["timestamp"], utc.to_string());
        assert_eq!(lines[0].as_object().unwrap().len(), 5, "PM2's five keys");
        assert_eq!(lines[1]["message"], "\u{fffd}");
        let mut out = Vec::new();
        let dated = LineFormat::Json {
            app: "api".into(),
            instance: 0,
            stream: "out",
            date: Some(DateFormat::parse("YYYY-MM-DD HH:mm")),
        };
        dated.write(b"x\n", &t, &mut out);
        let line: serde_json::Value = serde_json::from_slice(&out[..out.len() - 1]).unwrap();
        assert_eq!(line["timestamp"], "2026-03-07 14:05");
    }
}
