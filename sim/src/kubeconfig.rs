//! Kubeconfig files as kind writes them: context `kind-NAME`, merged into an existing
//! file, mode 0600.

use std::path::Path;

use serde_json::{Value, json};

/// The admin's credentials, as kind writes them: a client certificate and key.
pub struct Credentials<'a> {
    pub ca_pem: &'a str,
    pub client_cert_pem: &'a str,
    pub client_key_pem: &'a str,
}

pub fn for_cluster(cluster: &str, server: &str, creds: &Credentials) -> Value {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let ctx = format!("kind-{cluster}");
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": ctx, "cluster": {"server": server, "certificate-authority-data": b64(creds.ca_pem)}}],
        "users": [{"name": ctx, "user": {"client-certificate-data": b64(creds.client_cert_pem), "client-key-data": b64(creds.client_key_pem)}}],
        "contexts": [{"name": ctx, "context": {"cluster": ctx, "user": ctx}}],
        "current-context": ctx,
    })
}

pub fn read(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_saphyr::from_str(&text).ok()
}

pub fn write(path: &Path, config: &Value) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(config)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    // `mode` applies only at creation; an existing file is tightened too.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
}

/// Merge `addition` into `base`: entries with the same name are replaced, and the
/// current context becomes the added one.
pub fn merge(base: Option<Value>, addition: &Value) -> Value {
    let mut merged = base.unwrap_or_else(|| json!({"apiVersion": "v1", "kind": "Config"}));
    for section in ["clusters", "users", "contexts"] {
        let mut entries: Vec<Value> = merged[section].as_array().cloned().unwrap_or_default();
        for entry in addition[section].as_array().into_iter().flatten() {
            entries.retain(|e| e["name"] != entry["name"]);
            entries.push(entry.clone());
        }
        merged[section] = Value::Array(entries);
    }
    merged["current-context"] = addition["current-context"].clone();
    merged
}

/// Remove the `kind-NAME` entries, as `kind delete cluster` does.
pub fn remove(mut config: Value, cluster: &str) -> Value {
    let ctx = format!("kind-{cluster}");
    for section in ["clusters", "users", "contexts"] {
        if let Some(entries) = config[section].as_array_mut() {
            entries.retain(|e| e["name"] != ctx.as_str());
        }
    }
    if config["current-context"] == ctx.as_str() {
        config["current-context"] = json!("");
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_same_names_and_keeps_others() {
        let creds = Credentials {
            ca_pem: "ca",
            client_cert_pem: "cert",
            client_key_pem: "key",
        };
        let a = for_cluster("a", "https://1", &creds);
        let b = for_cluster("b", "https://2", &creds);
        let merged = merge(Some(a.clone()), &b);
        assert_eq!(merged["contexts"].as_array().unwrap().len(), 2);
        assert_eq!(merged["current-context"], "kind-b");
        let again = merge(Some(merged), &for_cluster("a", "https://3", &creds));
        assert_eq!(again["clusters"].as_array().unwrap().len(), 2);
        let removed = remove(again, "a");
        assert_eq!(removed["contexts"].as_array().unwrap().len(), 1);
        assert_eq!(removed["current-context"], "");
    }
}
