//! Owns PM2's units: durations in milliseconds (a number, or `500ms`, `30s`, `5m`, `1h`) and
//! sizes in bytes (`^\d+(K|M|G)?$`, binary units, a bare number is bytes).

/// Parses a duration. A bare number is milliseconds.
pub fn duration_ms(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err(format!(
            "`{text}` is not a duration: write milliseconds (1500) or a number with ms, s, m or h (30s)"
        ));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is too large a duration"))?;
    let factor: u64 = match unit {
        "" | "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "`{text}` has an unknown unit `{unit}`: use ms, s, m, h or d (or none for milliseconds)"
            ));
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large a duration"))
}

/// Parses a size as PM2 does: digits, then optionally K, M or G (binary units).
pub fn size_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let hint = "write bytes (1048576) or a number with K, M or G (300M; binary units)";
    if digits.is_empty() {
        return Err(format!("`{text}` is not a size: {hint}"));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is too large a size"))?;
    let factor: u64 = match unit {
        "" => 1,
        "K" | "k" => 1 << 10,
        "M" | "m" => 1 << 20,
        "G" | "g" => 1 << 30,
        "KB" | "MB" | "GB" | "kb" | "mb" | "gb" | "Kb" | "Mb" | "Gb" => {
            return Err(format!(
                "`{text}`: write `{digits}{}` (PM2's units are single letters, binary)",
                &unit[..1].to_ascii_uppercase()
            ));
        }
        _ => return Err(format!("`{text}` is not a size: {hint}")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large a size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (t, want) in [
            ("0", 0),
            ("1500", 1500),
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("2d", 172_800_000),
            (" 7s ", 7000),
        ] {
            assert_eq!(duration_ms(t), Ok(want), "{t}");
        }
        for bad in [
            "",
            "s",
            "-5",
            "1.5s",
            "10 s",
            "5x",
            "1e3",
            "99999999999999999999",
        ] {
            assert!(duration_ms(bad).is_err(), "{bad}");
        }
        assert!(
            duration_ms("18446744073709551615h")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn sizes() {
        for (t, want) in [
            ("0", 0),
            ("1024", 1024),
            ("1K", 1024),
            ("300M", 300 << 20),
            ("2G", 2 << 30),
            ("512m", 512 << 20),
        ] {
            assert_eq!(size_bytes(t), Ok(want), "{t}");
        }
        let e = size_bytes("300MB").unwrap_err();
        assert!(e.contains("300M"), "{e}");
        for bad in ["", "M", "-1", "1.5G", "1T", "10 M", "99999999999999999999G"] {
            assert!(size_bytes(bad).is_err(), "{bad}");
        }
        assert!(
            size_bytes("17179869184G")
                .unwrap_err()
                .contains("too large")
        );
    }
}
