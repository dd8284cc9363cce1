//! Label and field selectors, as list and watch apply them.

use serde_json::Value;

use super::reply::param;

/// Label selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`.
pub fn matches_labels(selector: &str, labels: &Value) -> bool {
    split_selector(selector).iter().all(|term| {
        let term = term.trim();
        let label = |k: &str| labels[k].as_str().map(str::to_string);
        if let Some((k, set)) = term.split_once(" in ") {
            let set = set.trim().trim_start_matches('(').trim_end_matches(')');
            return label(k.trim()).is_some_and(|v| set.split(',').any(|x| x.trim() == v));
        }
        if let Some((k, set)) = term.split_once(" notin ") {
            let set = set.trim().trim_start_matches('(').trim_end_matches(')');
            return !label(k.trim()).is_some_and(|v| set.split(',').any(|x| x.trim() == v));
        }
        if let Some((k, v)) = term.split_once("!=") {
            return label(k.trim()).as_deref() != Some(v.trim());
        }
        if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            return label(k.trim()).as_deref() == Some(v.trim());
        }
        if let Some(k) = term.strip_prefix('!') {
            return label(k).is_none();
        }
        term.is_empty() || label(term).is_some()
    })
}

pub(super) fn split_selector(selector: &str) -> Vec<String> {
    // Commas inside `in (...)` sets do not separate terms.
    let mut terms = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for ch in selector.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    terms.push(current);
    terms
}

/// Field selectors over dotted paths: `metadata.name=x`, `spec.nodeName=y`, `status.phase!=Running`.
pub fn matches_fields(selector: &str, obj: &Value) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        let (path, want, negate) = match term.split_once("!=") {
            Some((p, v)) => (p, v, true),
            None => match term.split_once("==").or_else(|| term.split_once('=')) {
                Some((p, v)) => (p, v, false),
                None => return true,
            },
        };
        let got = path.split('.').fold(obj, |v, seg| &v[seg]);
        let got = got.as_str().map(str::to_string).unwrap_or_else(|| {
            if got.is_null() {
                String::new()
            } else {
                got.to_string()
            }
        });
        (got == want) != negate
    })
}

pub(super) fn selected(obj: &Value, query: &[(String, String)]) -> bool {
    param(query, "labelSelector").is_none_or(|s| matches_labels(s, &obj["metadata"]["labels"]))
        && param(query, "fieldSelector").is_none_or(|s| matches_fields(s, obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let labels = json!({"app": "heapster", "tier": "monitoring"});
        assert!(matches_labels("app=heapster", &labels));
        assert!(matches_labels("app==heapster,tier", &labels));
        assert!(!matches_labels("app!=heapster", &labels));
        assert!(matches_labels("app in (heapster, grafana)", &labels));
        assert!(!matches_labels("!tier", &labels));
    }

    #[test]
    fn field_selectors() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        assert!(matches_fields(
            "spec.nodeName=n1,status.phase=Running",
            &pod
        ));
        assert!(!matches_fields("status.phase!=Running", &pod));
    }
}
