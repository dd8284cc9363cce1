//! Simulated resource usage. Every view of it (heapster's model API, InfluxDB, the
//! dashboard) reads these functions, so the three agree as they do on a real cluster.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use crate::name_hash;

const MIB: i64 = 1024 * 1024;
/// Heapster keeps about 15 minutes of points in its model.
const MAX_POINTS: usize = 15;

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

/// Parse the consume-cpu command line of a resource-consumer container.
pub fn consumption_from_command(container: &Value) -> Consumption {
    let mut c = Consumption::default();
    let words = ["command", "args"]
        .iter()
        .flat_map(|f| container[*f].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_string));
    for w in words {
        if let Some(v) = w.strip_prefix("--millicores=") {
            c.millicores = v.parse().unwrap_or(0);
        }
    }
    c
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

/// Timestamps of heapster's points: one per resolution since its first batch, the latest
/// being the most recent scrape. `offset` shifts them all into the past (stale data).
pub fn scrape_times(
    first_batch: Timestamp,
    now: Timestamp,
    resolution: Duration,
    offset: Duration,
) -> Vec<Timestamp> {
    if now < first_batch {
        return Vec::new();
    }
    let res = resolution.as_secs().max(1) as i64;
    let elapsed = now.as_second() - first_batch.as_second();
    let latest = first_batch.as_second() + elapsed / res * res;
    let mut times: Vec<Timestamp> = (0..MAX_POINTS as i64)
        .map(|k| latest - k * res)
        .take_while(|t| *t >= first_batch.as_second())
        .filter_map(|t| Timestamp::from_second(t - offset.as_secs() as i64).ok())
        .collect();
    times.reverse();
    times
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_times_end_at_the_latest_scrape_and_start_at_the_first_batch() {
        let first = Timestamp::from_second(1_000).unwrap();
        let now = Timestamp::from_second(1_035).unwrap();
        let times: Vec<i64> = scrape_times(first, now, Duration::from_secs(10), Duration::ZERO)
            .iter()
            .map(|t| t.as_second())
            .collect();
        assert_eq!(times, vec![1_000, 1_010, 1_020, 1_030]);
        assert!(scrape_times(now, first, Duration::from_secs(10), Duration::ZERO).is_empty());
        let stale = scrape_times(
            first,
            now,
            Duration::from_secs(10),
            Duration::from_secs(2400),
        );
        assert_eq!(stale.last().unwrap().as_second(), 1_030 - 2400);
    }

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
    }
}
