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
/// (`consume-cpu --millicores=N`, `stress -m W --vm-bytes B`) and from `POST /ConsumeCPU` /
/// `POST /ConsumeMem`; and the memory of the processes themselves.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Consumption {
    pub millicores: i64,
    pub megabytes: i64,
    /// The container's own processes: the `/consumer` HTTP server (the image's default
    /// command) holds more than a lone `consume-cpu` or `stress`.
    pub process_bytes: i64,
}

impl std::ops::Add for Consumption {
    type Output = Consumption;
    fn add(self, o: Consumption) -> Consumption {
        Consumption {
            millicores: self.millicores + o.millicores,
            megabytes: self.megabytes + o.megabytes,
            process_bytes: self.process_bytes + o.process_bytes,
        }
    }
}

/// The memory of the consumer's HTTP server (a Go program). Inferred, not measured here.
const SERVER_BYTES: i64 = 6 * MIB;
/// A lone `stress` or `consume-cpu`: metrics-server's e2e expects `stress -m 1 --vm-bytes
/// 50M` to read 50 MiB within 5 MiB (MS@v0.9.0 `test/e2e_test.go`), so little. Inferred.
const LONE_PROCESS_BYTES: i64 = MIB;

/// A resource-consumer container's command line: `consume-cpu` (Go `flag`: `-millicores=N`,
/// `--millicores=N`, `--millicores N`), `stress` (`-m`/`--vm` workers each holding
/// `--vm-bytes`, with stress's binary `k`/`m`/`g` suffixes), or none (the HTTP server).
pub fn consumption_from_command(container: &Value) -> Consumption {
    let words: Vec<String> = ["command", "args"]
        .iter()
        .flat_map(|f| container[*f].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let program = words.first().map(String::as_str).unwrap_or_default();
    if program.ends_with("consume-cpu") {
        let millicores = crate::goflag::flag(&words, "millicores")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        return Consumption {
            millicores,
            process_bytes: LONE_PROCESS_BYTES,
            ..Default::default()
        };
    }
    if program.ends_with("stress") {
        // stress's getopt_long reads `-m N`, `--vm N`, `--vm-bytes B` and `--vm-bytes=B`
        // as Go's flag packages read them.
        let flag = |name| crate::goflag::flag(&words, name);
        let workers: i64 = flag("m")
            .or_else(|| flag("vm"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let bytes = flag("vm-bytes").map_or(256 * MIB, |b| stress_bytes(&b));
        return Consumption {
            megabytes: workers * bytes / MIB,
            process_bytes: LONE_PROCESS_BYTES,
            ..Default::default()
        };
    }
    Consumption {
        process_bytes: SERVER_BYTES,
        ..Default::default()
    }
}

/// stress's sizes: a number with an optional `b`, `k`, `m` or `g` (powers of 1024;
/// stress 1.0.4 `atoll_b`). Its `--vm-bytes` default is 256M.
fn stress_bytes(text: &str) -> i64 {
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = digits.parse().unwrap_or(0);
    n * match unit.to_ascii_lowercase().as_str() {
        "k" => 1024,
        "m" => MIB,
        "g" => 1024 * MIB,
        _ => 1,
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

/// A resource-consumer pod uses what it burns plus its processes' own memory, with a
/// little noise (±3 %) as real cgroup readings have.
pub fn consumer_usage(c: Consumption, at: Timestamp, skew: f64) -> Usage {
    let noise = 1.0 + ((at.as_second() % 7) as f64 - 3.0) / 100.0;
    let cpu = (c.millicores as f64 * noise * skew) as i64 + 1;
    let mem = ((c.megabytes * MIB) as f64 * noise * skew) as i64 + c.process_bytes;
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
                process_bytes: SERVER_BYTES,
            },
            t,
            1.0,
        );
        assert_eq!(u.cpu_millicores, 101);
        assert_eq!(u.memory_bytes, 70 * MIB);
        let skewed = consumer_usage(
            Consumption {
                millicores: 100,
                ..Default::default()
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

    #[test]
    fn stress_holds_its_workers_bytes() {
        // metrics-server's e2e memory consumer (MS@v0.9.0 test/e2e_test.go).
        let c: Value = serde_json::json!({"command": ["stress"], "args": ["-m", "1", "--vm-bytes", "50M", "--vm-hang", "0", "-t", "600"]});
        let got = consumption_from_command(&c);
        assert_eq!((got.megabytes, got.process_bytes), (50, LONE_PROCESS_BYTES));
        let two: Value =
            serde_json::json!({"command": ["stress", "--vm", "2", "--vm-bytes", "1g"]});
        assert_eq!(consumption_from_command(&two).megabytes, 2048);
        let server: Value = serde_json::json!({"image": "resource-consumer:1.9"});
        assert_eq!(
            consumption_from_command(&server).process_bytes,
            SERVER_BYTES
        );
    }
}
