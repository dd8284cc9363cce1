//! Input refused before anything runs, each with a message that names the problem and
//! the fix. Plain functions over text, used as clap value parsers.

use std::time::Duration;

/// kind's own rule for cluster names (`validNameRE` in kind's
/// pkg/internal/apis/config/validate.go, v0.32.0 and v0.33): `^[a-z0-9.-]+$`. Checked here
/// so a bad name fails before Docker is touched, and never names a folder outside ours.
pub fn cluster_name(name: &str) -> Result<String, String> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !valid {
        return Err(format!(
            "'{name}' is not a valid cluster name: kind's cluster names must match `^[a-z0-9.-]+$` (lower-case letters, digits, '.' and '-'), e.g. heapster-e2e"
        ));
    }
    if name.starts_with('.') {
        // `.` and `..` would put the artifacts outside target/e2e/artifacts.
        return Err(format!(
            "'{name}' is not a usable cluster name: it must not start with '.', e.g. heapster-e2e"
        ));
    }
    Ok(name.to_string())
}

/// A deadline with a unit (`90s`, `5m`), above zero: a zero deadline fails every check
/// that has to wait, which says nothing about the cluster.
pub fn deadline(text: &str) -> Result<Duration, String> {
    let d = crate::duration::parse(text)?;
    if d.is_zero() {
        return Err(format!(
            "{text:?} is no time to wait: give a deadline above zero, e.g. 90s or 5m"
        ));
    }
    Ok(d)
}

/// A count of at least one (`--parallel`).
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("0 runs nothing: give 1 or more".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number: give 1 or more")),
    }
}

/// A tolerance in percent, above 0 and below 100: at 100 % a measured 0 would pass.
pub fn tolerance_percent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(t) if t > 0.0 && t < 100.0 => Ok(t),
        Ok(t) => Err(format!(
            "{t}% is out of range: give a tolerance above 0 and below 100 (at 100% a measured 0 would pass), e.g. 30"
        )),
        Err(_) => Err(format!(
            "{text:?} is not a number: give a percentage, e.g. 30"
        )),
    }
}

/// A Kubernetes version this harness pins a node image for.
/// A pinned Kubernetes version, for commands without `--node-image` (`lint`).
pub fn k8s_version(text: &str) -> Result<String, String> {
    crate::versions::node_image(text)
        .map(|_| text.to_string())
        .map_err(|_| {
            let known: Vec<&str> = crate::versions::NODE_IMAGES
                .iter()
                .map(|n| n.minor)
                .collect();
            format!(
                "unknown Kubernetes version {text:?}: the harness knows {}; pass one of them",
                known.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_follow_kind() {
        assert_eq!(
            cluster_name("heapster-e2e-1.37"),
            Ok("heapster-e2e-1.37".into())
        );
        for bad in ["Bad_Name", "", "a b", "x/y", "..", "UPPER"] {
            let e = cluster_name(bad).unwrap_err();
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
        assert!(
            cluster_name("Bad_Name")
                .unwrap_err()
                .contains("^[a-z0-9.-]+$")
        );
    }

    #[test]
    fn deadlines_take_units_and_must_be_above_zero() {
        assert_eq!(deadline("90s"), Ok(Duration::from_secs(90)));
        assert!(deadline("0s").unwrap_err().contains("above zero"));
        assert!(deadline("90").is_err());
    }

    #[test]
    fn counts_and_tolerances_have_their_ranges() {
        assert_eq!(at_least_one("2"), Ok(2));
        assert!(at_least_one("0").is_err() && at_least_one("x").is_err());
        assert_eq!(tolerance_percent("30"), Ok(30.0));
        for bad in ["0", "100", "150", "-5", "lots"] {
            assert!(tolerance_percent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_must_be_pinned() {
        assert!(k8s_version(crate::versions::DEFAULT_K8S_VERSION).is_ok());
        assert!(
            k8s_version("9.9")
                .unwrap_err()
                .contains("unknown Kubernetes version")
        );
    }
}
