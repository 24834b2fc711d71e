//! Quantities as operators type them: `200Mbit`, `1Gbit`, `40ms`, `48h`, `4GB`, `512MiB`.
//!
//! Bandwidth is in bits per second with decimal prefixes (`k`, `M`, `G`, as network links are
//! sold); sizes take decimal (`KB`, `MB`, `GB`, `TB`) and binary (`KiB`, `MiB`, `GiB`, `TiB`)
//! units; durations take `ms`, `s`, `m`/`min`, `h`, `d`. Units are case-insensitive except
//! that `b` (bits) and `B` (bytes) are told apart in bandwidths. Every error names the input.

use std::time::Duration;

/// A quantity that could not be read: the text as typed and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {input:?}: {problem}")]
pub struct UnitError {
    /// What was being read ("bandwidth", "duration", "size").
    pub what: &'static str,
    /// The text as typed.
    pub input: String,
    /// What is wrong, with the forms that would be accepted.
    pub problem: String,
}

impl UnitError {
    fn new(what: &'static str, input: &str, problem: impl Into<String>) -> Self {
        UnitError {
            what,
            input: input.to_string(),
            problem: problem.into(),
        }
    }
}

/// Splits `"200 Mbit"` into the number `200.0` and the unit `"Mbit"`.
fn split_number(what: &'static str, input: &str) -> Result<(f64, String), UnitError> {
    let text = input.trim();
    let end = text
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    let number: String = number.chars().filter(|&c| c != '_').collect();
    if number.is_empty() {
        return Err(UnitError::new(what, input, "expected a number first"));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| UnitError::new(what, input, format!("{number:?} is not a number")))?;
    if !value.is_finite() {
        return Err(UnitError::new(what, input, "the number is not finite"));
    }
    Ok((value, unit.trim().to_string()))
}

/// Reads a link speed in bits per second: `200Mbit`, `1Gbit`, `1.5 Gbps`, `500kbit/s`,
/// `25MB/s` (bytes per second, times 8). A bare number is refused: its unit would be a guess.
pub fn parse_bandwidth(input: &str) -> Result<f64, UnitError> {
    const WHAT: &str = "bandwidth";
    let (value, unit) = split_number(WHAT, input)?;
    let unit = unit
        .strip_suffix("/s")
        .or_else(|| unit.strip_suffix("ps"))
        .unwrap_or(&unit);
    let (prefix, rest) = match unit.chars().next() {
        Some(c @ ('k' | 'K' | 'm' | 'M' | 'g' | 'G' | 't' | 'T')) => (Some(c), &unit[1..]),
        _ => (None, unit),
    };
    let scale = match prefix.map(|c| c.to_ascii_lowercase()) {
        None => 1.0,
        Some('k') => 1e3,
        Some('m') => 1e6,
        Some('g') => 1e9,
        Some('t') => 1e12,
        Some(_) => unreachable!("prefix is one of kmgt"),
    };
    let per_unit = match rest {
        "bit" | "bits" | "b" => 1.0,
        "B" | "byte" | "bytes" => 8.0,
        _ => {
            return Err(UnitError::new(
                WHAT,
                input,
                "expected a unit like 200Mbit, 1Gbit, 500kbit/s or 25MB/s",
            ))
        }
    };
    let bits = value * scale * per_unit;
    if bits <= 0.0 {
        return Err(UnitError::new(WHAT, input, "must be more than zero"));
    }
    Ok(bits)
}

/// Reads a duration: `40ms`, `1.5s`, `90m`, `48h`, `2d`. A bare number is refused.
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    const WHAT: &str = "duration";
    let (value, unit) = split_number(WHAT, input)?;
    let seconds_per_unit = match unit.to_ascii_lowercase().as_str() {
        "ms" => 1e-3,
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        _ => {
            return Err(UnitError::new(
                WHAT,
                input,
                "expected a unit like 40ms, 30s, 90m, 48h or 2d",
            ))
        }
    };
    Duration::try_from_secs_f64(value * seconds_per_unit)
        .map_err(|_| UnitError::new(WHAT, input, "out of range"))
}

/// Reads a size in bytes: a plain integer (`4096`), or with a unit: `75KB`, `4GB`, `512MiB`.
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    const WHAT: &str = "size";
    let (value, unit) = split_number(WHAT, input)?;
    let scale: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(UnitError::new(
                WHAT,
                input,
                "expected bytes or a unit like 75KB, 4GB or 512MiB",
            ))
        }
    };
    let bytes = (value * scale).round();
    if bytes > u64::MAX as f64 {
        return Err(UnitError::new(WHAT, input, "too large"));
    }
    Ok(bytes as u64)
}

/// Formats a duration for people: `3d 4h`, `5h 12m`, `12m 30s`, `45s`.
pub fn format_duration(duration: Duration) -> String {
    let total = duration.as_secs_f64().round() as u64;
    let (days, hours, minutes, seconds) = (
        total / 86_400,
        total % 86_400 / 3600,
        total % 3600 / 60,
        total % 60,
    );
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes:02}m")
    } else if minutes > 0 {
        format!("{minutes}m {seconds:02}s")
    } else {
        format!("{seconds}s")
    }
}

/// Formats a byte count with a decimal unit: `4.00 GB`, `750.0 MB`.
pub fn format_bytes(bytes: f64) -> String {
    let (value, unit) = if bytes >= 1e12 {
        (bytes / 1e12, "TB")
    } else if bytes >= 1e9 {
        (bytes / 1e9, "GB")
    } else if bytes >= 1e6 {
        (bytes / 1e6, "MB")
    } else if bytes >= 1e3 {
        (bytes / 1e3, "KB")
    } else {
        return format!("{bytes:.0} B");
    };
    format!("{value:.2} {unit}")
}

/// Formats a link speed: `200 Mbit/s`, `1.5 Gbit/s`.
pub fn format_bandwidth(bits_per_second: f64) -> String {
    if bits_per_second >= 1e9 {
        format!("{} Gbit/s", trim_float(bits_per_second / 1e9))
    } else if bits_per_second >= 1e6 {
        format!("{} Mbit/s", trim_float(bits_per_second / 1e6))
    } else {
        format!("{} kbit/s", trim_float(bits_per_second / 1e3))
    }
}

/// `200.0` as `200`, `1.5` as `1.5`, `33.333` as `33.3`.
fn trim_float(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidths_in_bits_and_bytes() {
        assert_eq!(parse_bandwidth("200Mbit").unwrap(), 200e6);
        assert_eq!(parse_bandwidth("1Gbit").unwrap(), 1e9);
        assert_eq!(parse_bandwidth("1.5 Gbps").unwrap(), 1.5e9);
        assert_eq!(parse_bandwidth("500kbit/s").unwrap(), 500e3);
        assert_eq!(parse_bandwidth("25MB/s").unwrap(), 200e6);
        assert_eq!(parse_bandwidth("100mbit").unwrap(), 100e6);
    }

    #[test]
    fn bandwidth_errors_name_the_input() {
        for bad in ["200", "fast", "200Mfoo", "0Mbit", ""] {
            let err = parse_bandwidth(bad).unwrap_err();
            assert_eq!(err.input, bad);
            assert!(err.to_string().contains("bandwidth"), "{err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("40ms").unwrap(), Duration::from_millis(40));
        assert_eq!(
            parse_duration("48h").unwrap(),
            Duration::from_secs(48 * 3600)
        );
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("90m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(parse_duration(" 0ms ").unwrap(), Duration::ZERO);
        let err = parse_duration("48").unwrap_err();
        assert!(err.to_string().contains("\"48\""), "{err}");
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn sizes_decimal_and_binary() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("4GB").unwrap(), 4_000_000_000);
        assert_eq!(parse_size("512MiB").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_size("75 KB").unwrap(), 75_000);
        assert_eq!(parse_size("1_000").unwrap(), 1000);
        let err = parse_size("4 gallons").unwrap_err();
        assert!(err.to_string().contains("4 gallons"), "{err}");
        assert!(parse_size("-4GB").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_secs(750)), "12m 30s");
        assert_eq!(
            format_duration(Duration::from_secs(5 * 3600 + 720)),
            "5h 12m"
        );
        assert_eq!(format_duration(Duration::from_secs(76 * 3600)), "3d 4h");
        assert_eq!(format_bytes(4e9), "4.00 GB");
        assert_eq!(format_bandwidth(200e6), "200 Mbit/s");
        assert_eq!(format_bandwidth(1.5e9), "1.5 Gbit/s");
    }
}
