//! Simulated resource usage, pure: what a pod or a node uses. `apps::measured` applies it
//! to the cluster's pods as the kubelets would measure them.

use jiff::Timestamp;
use serde_json::Value;

use crate::name_hash;

const MIB: i64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub cpu_millicores: i64,
    pub memory_bytes: i64,
}

impl std::ops::Add for Usage {
    type Output = Usage;
    fn add(self, o: Usage) -> Usage {
        Usage {
            cpu_millicores: self.cpu_millicores + o.cpu_millicores,
            memory_bytes: self.memory_bytes + o.memory_bytes,
        }
    }
}

/// What a resource-consumer pod was asked to burn: from its command line
/// (`consume-cpu --millicores=N`) and from `POST /ConsumeCPU` / `POST /ConsumeMem`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Consumption {
    pub millicores: i64,
    pub megabytes: i64,
}

impl std::ops::Add for Consumption {
    type Output = Consumption;
    fn add(self, o: Consumption) -> Consumption {
        Consumption {
            millicores: self.millicores + o.millicores,
            megabytes: self.megabytes + o.megabytes,
        }
    }
}

/// The consume-cpu command line of a resource-consumer container (`consume-cpu` parses
/// it with Go's `flag` package: `-millicores=N`, `--millicores=N`, `--millicores N`).
pub fn consumption_from_command(container: &Value) -> Consumption {
    let words: Vec<String> = ["command", "args"]
        .iter()
        .flat_map(|f| container[*f].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let runs_consume_cpu = words.first().is_some_and(|w| w.ends_with("consume-cpu"));
    let millicores = runs_consume_cpu
        .then(|| crate::goflag::flag(&words, "millicores"))
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Consumption {
        millicores,
        megabytes: 0,
    }
}

/// Idle usage of an ordinary pod: a few millicores and tens of MiB, different per pod.
pub fn idle_pod_usage(pod_name: &str) -> Usage {
    let h = name_hash(pod_name);
    Usage {
        cpu_millicores: 1 + (h % 25) as i64,
        memory_bytes: (8 + (h / 25 % 50) as i64) * MIB,
    }
}

/// A resource-consumer pod uses what it burns plus a small runtime overhead, with a
/// little noise (±3 %) as real cgroup readings have.
pub fn consumer_usage(c: Consumption, at: Timestamp, skew: f64) -> Usage {
    let noise = 1.0 + ((at.as_second() % 7) as f64 - 3.0) / 100.0;
    let cpu = (c.millicores as f64 * noise * skew) as i64 + 1;
    let mem = ((c.megabytes * MIB) as f64 * noise * skew) as i64 + 6 * MIB;
    Usage {
        cpu_millicores: cpu,
        memory_bytes: mem,
    }
}

/// A node's own usage (kubelet, containerd, system slices) before its pods.
pub fn node_base_usage(node: &str) -> Usage {
    let h = name_hash(node);
    Usage {
        cpu_millicores: 120 + (h % 200) as i64,
        memory_bytes: (700 + (h / 200 % 600) as i64) * MIB,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_usage_follows_the_target() {
        let t = Timestamp::from_second(3).unwrap(); // noise factor 1.0
        let u = consumer_usage(
            Consumption {
                millicores: 100,
                megabytes: 64,
            },
            t,
            1.0,
        );
        assert_eq!(u.cpu_millicores, 101);
        assert_eq!(u.memory_bytes, 70 * MIB);
        let skewed = consumer_usage(
            Consumption {
                millicores: 100,
                megabytes: 0,
            },
            t,
            10.0,
        );
        assert_eq!(skewed.cpu_millicores, 1001);
    }

    #[test]
    fn consume_cpu_command_line_is_parsed() {
        let c: Value = serde_json::json!({"command": ["/consume-cpu/consume-cpu", "--millicores=150", "--duration-sec=600"]});
        assert_eq!(consumption_from_command(&c).millicores, 150);
        let spaced: Value =
            serde_json::json!({"command": ["/consume-cpu/consume-cpu", "-millicores", "70"]});
        assert_eq!(consumption_from_command(&spaced).millicores, 70);
        let other: Value = serde_json::json!({"command": ["/server", "--millicores=150"]});
        assert_eq!(consumption_from_command(&other).millicores, 0);
    }
}
