//! Reading a program's command line the way Go does: its flag packages (`flag`,
//! `pflag`, glog's) and `time.ParseDuration`. A leaf: it imports nothing of the crate.

use std::time::Duration;

/// A flag's value as Go's flag packages read it: `--name=value`, `-name=value`,
/// `--name value`; the last one given wins.
pub fn flag(args: &[String], name: &str) -> Option<String> {
    let mut found = None;
    let mut iter = args.iter().peekable();
    while let Some(a) = iter.next() {
        let bare = a.trim_start_matches('-');
        if bare.len() == a.len() {
            continue;
        }
        if let Some(v) = bare.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            found = Some(v.to_string());
        } else if bare == name
            && let Some(next) = iter.peek()
            && !next.starts_with('-')
        {
            found = iter.next().cloned();
        }
    }
    found
}

/// Every value of a repeatable flag (`--source=a --source=b`).
pub fn flag_values(args: &[String], name: &str) -> Vec<String> {
    let prefix = format!("--{name}=");
    args.iter()
        .filter_map(|a| a.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

/// A boolean flag: present bare, or `=true`.
pub fn bool_flag(args: &[String], name: &str) -> bool {
    let bare = format!("--{name}");
    args.iter()
        .any(|a| *a == bare || *a == format!("{bare}=true"))
}

/// Go's `time.ParseDuration` for the forms manifests use (`10s`, `1m`, `1m30s`, `500ms`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = ["ms", "h", "m", "s"]
            .iter()
            .find(|u| rest.starts_with(**u))
            .map(|u| (*u, u.len()))?;
        rest = &rest[len..];
        total += match unit {
            "h" => Duration::from_secs(n * 3600),
            "m" => Duration::from_secs(n * 60),
            "s" => Duration::from_secs(n),
            _ => Duration::from_millis(n),
        };
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_read_as_go_reads_them() {
        let args: Vec<String> = [
            "/heapster",
            "--metric_resolution=10s",
            "-v",
            "2",
            "--x",
            "y",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(flag(&args, "metric_resolution").as_deref(), Some("10s"));
        assert_eq!(flag(&args, "x").as_deref(), Some("y"));
        assert_eq!(flag(&args, "nope"), None);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}
