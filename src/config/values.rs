//! Option values that are more than their text: parsed and checked once,
//! the same way from the command line ([`FromStr`], which clap uses) and
//! from the config file ([`Deserialize`]), so merging the two is only a
//! matter of which one is set.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// `--rate`: requests per second over the whole run, a finite number
/// between one per 11.6 days and 100,000.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate(f64);

impl Rate {
    /// `rate` if it is one; the error says what a rate must be.
    pub fn new(rate: f64) -> Result<Rate, String> {
        if rate.is_finite() && (0.000_001..=100_000.0).contains(&rate) {
            Ok(Rate(rate))
        } else if rate.is_finite() && rate > 0.0 {
            Err("must be between 0.000001 and 100000 requests per second".into())
        } else {
            Err("must be greater than 0".into())
        }
    }

    /// Requests per second.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let rate: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a number (requests per second, e.g. 5 or 0.5)"))?;
        Rate::new(rate).map_err(|e| format!("{e}, got `{s}`"))
    }
}

/// A TOML number (`rate = 5`, `rate = 0.5`).
impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
        let rate = f64::deserialize(d)?;
        Rate::new(rate).map_err(|e| serde::de::Error::custom(format!("{e}, got {rate}")))
    }
}

/// `--delimiter`: the input's field separator, one ASCII character (`tab`
/// for a tab).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiter(u8);

impl Delimiter {
    /// The byte the CSV reader splits on.
    pub fn byte(self) -> u8 {
        self.0
    }
}

impl FromStr for Delimiter {
    type Err = String;

    fn from_str(s: &str) -> Result<Delimiter, String> {
        match s {
            "tab" | "TAB" | "\\t" | "\t" => Ok(Delimiter(b'\t')),
            _ if s.len() == 1 && s.is_ascii() => Ok(Delimiter(s.as_bytes()[0])),
            _ => Err(format!(
                "`{s}` is not a single character (use `,` `;` `|` or `tab`)"
            )),
        }
    }
}

/// A TOML string, as on the command line (`delimiter = ";"`).
impl<'de> Deserialize<'de> for Delimiter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Delimiter, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A span of time as people write it: `500ms`, `90s`, `30m`, `2h`,
/// `1h30m`, `1d`, or bare seconds (`2.5`); more than zero and at most a
/// year (longer is a typo, and would overflow timers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(Duration);

impl HumanDuration {
    /// The span.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl From<HumanDuration> for Duration {
    fn from(d: HumanDuration) -> Duration {
        d.0
    }
}

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<HumanDuration, String> {
        let bad = || format!("`{s}` is not a duration (e.g. 500ms, 90s, 30m, 2h, 1h30m)");
        let t = s.trim();
        if t.is_empty() {
            return Err(bad());
        }
        if let Ok(secs) = t.parse::<f64>() {
            return to_duration(secs).ok_or_else(bad);
        }
        let mut total = 0.0;
        let mut rest = t;
        while !rest.is_empty() {
            let n_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            let n: f64 = rest[..n_end].parse().map_err(|_| bad())?;
            rest = &rest[n_end..];
            let u_end = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let factor = match &rest[..u_end] {
                "ms" => 0.001,
                "s" | "sec" => 1.0,
                "m" | "min" => 60.0,
                "h" => 3600.0,
                "d" => 86400.0,
                _ => return Err(bad()),
            };
            total += n * factor;
            rest = &rest[u_end..];
        }
        to_duration(total).ok_or_else(bad)
    }
}

/// A TOML string, as on the command line (`max-wait = "30m"`).
impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Positive seconds up to a year.
fn to_duration(secs: f64) -> Option<HumanDuration> {
    (secs.is_finite() && secs > 0.0 && secs <= 366.0 * 86_400.0)
        .then(|| HumanDuration(Duration::from_secs_f64(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duration(s: &str) -> Result<Duration, String> {
        s.parse::<HumanDuration>().map(HumanDuration::get)
    }

    #[test]
    fn durations() {
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("2.5"), Ok(Duration::from_millis(2500)));
        for bad in ["", "abc", "5x", "-3s", "0", "m", "1e30", "99999999h"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates_and_delimiters() {
        assert_eq!("0.5".parse::<Rate>().map(Rate::get), Ok(0.5));
        assert!("abc".parse::<Rate>().is_err());
        assert!("0".parse::<Rate>().is_err());
        assert!("-3".parse::<Rate>().is_err());
        assert!("inf".parse::<Rate>().is_err());
        assert_eq!(
            "1e6".parse::<Rate>(),
            Err("must be between 0.000001 and 100000 requests per second, got `1e6`".into())
        );
        assert_eq!("tab".parse::<Delimiter>().map(Delimiter::byte), Ok(b'\t'));
        assert_eq!(";".parse::<Delimiter>().map(Delimiter::byte), Ok(b';'));
        assert!(";;".parse::<Delimiter>().is_err());
    }

    #[test]
    fn the_config_file_takes_the_same_values_and_checks_them_the_same_way() {
        #[derive(Debug, Deserialize)]
        struct File {
            rate: Option<Rate>,
            delimiter: Option<Delimiter>,
            wait: Option<HumanDuration>,
        }
        let file: File = toml::from_str("rate = 5\ndelimiter = \"tab\"\nwait = \"1h30m\"").unwrap();
        assert_eq!(file.rate.map(Rate::get), Some(5.0));
        assert_eq!(file.delimiter.map(Delimiter::byte), Some(b'\t'));
        assert_eq!(
            file.wait.map(Duration::from),
            Some(Duration::from_secs(5400))
        );
        let e = toml::from_str::<File>("rate = -1").unwrap_err();
        assert!(
            e.message().contains("must be greater than 0, got -1"),
            "{e}"
        );
        let e = toml::from_str::<File>("wait = \"soon\"").unwrap_err();
        assert!(e.message().contains("`soon` is not a duration"), "{e}");
    }
}
