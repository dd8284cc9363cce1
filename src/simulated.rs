//! What a simulated cluster (`cargo xtask sim`, the fakes) says about itself: the scenario
//! it plays and the stacks that scenario acts on, in the ConfigMap `kube-system/kind-sim`.
//! A scenario whose faults touch only programs the stacks in play do not run would pass
//! green for nothing, so the harness refuses the pair before it checks. Real clusters
//! have no such ConfigMap and are never refused.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

use crate::stack::Stack;

/// The simulator's ConfigMap (kind-sim `cluster::SCENARIO_CONFIGMAP`).
pub const SCENARIO_CONFIGMAP: &str = "kind-sim";

/// Why the simulated cluster's scenario cannot be checked with `stacks` (the stack under
/// test, and the one a move starts from); `None` when it acts on one of them.
pub fn refusal(data: &BTreeMap<String, String>, stacks_in_play: &[Stack]) -> Option<String> {
    let scenario = data.get("scenario")?;
    let stacks: Vec<&str> = data
        .get("stacks")
        .map(|s| s.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if stacks_in_play.iter().any(|s| stacks.contains(&s.name())) {
        return None;
    }
    let in_play: Vec<&str> = stacks_in_play.iter().map(|s| s.name()).collect();
    let pass: Vec<String> = stacks.iter().map(|s| format!("--stack {s}")).collect();
    Some(format!(
        "the simulated cluster plays scenario `{scenario}`, whose faults act only on the {} stack, not on {}: it would pass green without testing anything; pass {}, or start `cargo xtask sim --stack {} --scenario NAME` with a scenario for this stack",
        stacks.join(" and "),
        in_play.join(" or "),
        pass.join(" or "),
        in_play[0]
    ))
}

/// Refuse (an error) when the cluster is simulated and its scenario acts on none of `stacks`.
pub async fn refuse_foreign_scenario(
    client: &kube::Client,
    stacks: &[Stack],
) -> anyhow::Result<()> {
    let api = Api::<ConfigMap>::namespaced(client.clone(), "kube-system");
    let found = crate::kubeclient::retry(|| api.get_opt(SCENARIO_CONFIGMAP)).await;
    // Not simulated (404), or not readable: a real cluster; nothing to refuse.
    let Ok(Some(cm)) = found else { return Ok(()) };
    match refusal(&cm.data.unwrap_or_default(), stacks) {
        Some(why) => anyhow::bail!(why),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(scenario: &str, stacks: &str) -> BTreeMap<String, String> {
        [("scenario", scenario), ("stacks", stacks)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_scenario_for_another_stack_is_refused_naming_the_stacks_it_applies_to() {
        let why = refusal(
            &data("insecure-tls-missing", "metrics-server"),
            &[Stack::Heapster],
        )
        .expect("refused");
        assert!(why.contains("`insecure-tls-missing`"), "{why}");
        assert!(why.contains("--stack metrics-server"), "{why}");
        assert!(why.contains("not on heapster"), "{why}");
    }

    #[test]
    fn a_scenario_for_this_stack_or_both_is_not_refused() {
        let both = data("crash-loop", "heapster,metrics-server");
        assert_eq!(refusal(&both, &[Stack::Heapster]), None);
        assert_eq!(refusal(&both, &[Stack::MetricsServer]), None);
        assert_eq!(
            refusal(&data("stale-metrics", "heapster"), &[Stack::Heapster]),
            None
        );
        // A move from heapster plays heapster's scenarios too.
        let moved = [Stack::MetricsServer, Stack::Heapster];
        assert_eq!(refusal(&data("stale-metrics", "heapster"), &moved), None);
        // Without a scenario the ConfigMap is not the simulator's.
        assert_eq!(refusal(&BTreeMap::new(), &[Stack::Heapster]), None);
    }
}
