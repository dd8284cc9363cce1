//! An error's text for people: its chain of causes, each said once. Libraries often print
//! their source inside their own message (kube's "failed to read kubeconfig ...: No such
//! file or directory"), and anyhow's `{:#}` would add it again.

/// The chain of `e`, joined by `: `, leaving out a cause whose text is already there.
pub fn describe(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let wrapped: anyhow::Error = Err::<(), _>(io)
            .context("failed to read kubeconfig from '/nope': entity not found")
            .context("cannot read kubeconfig /nope: pass a readable file with --kubeconfig")
            .unwrap_err();
        assert_eq!(
            describe(&wrapped),
            "cannot read kubeconfig /nope: pass a readable file with --kubeconfig: failed to read kubeconfig from '/nope': entity not found"
        );
        assert_eq!(describe(&anyhow::anyhow!("plain")), "plain");
    }
}
