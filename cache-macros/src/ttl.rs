//! TTL strings, checked at compile time: one or more `<integer><unit>` groups with no
//! spaces, units `ms`, `s`, `m`, `h`, `d` (`"30s"`, `"5m"`, `"1h30m"`).

/// A duration in milliseconds as a TTL string would write it (`90000` → `1m30s`).
pub fn show(millis: u64) -> String {
    if millis == 0 {
        return String::from("0ms");
    }
    let mut left = millis;
    let mut out = String::new();
    for (unit, per) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if left >= per {
            out.push_str(&format!("{}{unit}", left / per));
            left %= per;
        }
    }
    out
}

/// The TTL in milliseconds, or why the string is not one.
pub fn parse(text: &str) -> Result<u64, String> {
    const EXPECTED: &str = "expected one or more <number><unit> with no spaces, units ms, s, m, h, d (e.g. \"30s\", \"5m\", \"1h30m\")";
    if text.is_empty() {
        return Err(format!("empty; {EXPECTED}"));
    }
    let bytes = text.as_bytes();
    let mut at = 0;
    let mut total: u64 = 0;
    while at < bytes.len() {
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        if start == at {
            return Err(EXPECTED.to_owned());
        }
        let number: u64 = text[start..at]
            .parse()
            .map_err(|_| "number too large".to_owned())?;
        let unit_start = at;
        while at < bytes.len() && bytes[at].is_ascii_alphabetic() {
            at += 1;
        }
        let millis_per = match &text[unit_start..at] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("missing unit after {number}; {EXPECTED}")),
            unit => return Err(format!("unknown unit `{unit}`; {EXPECTED}")),
        };
        total = number
            .checked_mul(millis_per)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| "duration too large".to_owned())?;
    }
    if total == 0 {
        return Err("a ttl must be longer than zero".to_owned());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::{parse, show};

    #[test]
    fn shows_what_it_parses() {
        for text in ["30s", "5m", "1h30m", "2d", "1m30s500ms"] {
            assert_eq!(show(parse(text).unwrap()), text);
        }
    }

    #[test]
    fn accepts_compact_durations() {
        assert_eq!(parse("30s"), Ok(30_000));
        assert_eq!(parse("5m"), Ok(300_000));
        assert_eq!(parse("1h30m"), Ok(5_400_000));
        assert_eq!(parse("250ms"), Ok(250));
        assert_eq!(parse("1d"), Ok(86_400_000));
    }

    #[test]
    fn rejects_the_rest() {
        for bad in [
            "",
            "0s",
            "5 minutes",
            "5",
            "m",
            "5x",
            "1h 30m",
            "-1s",
            "99999999999999999999d",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
