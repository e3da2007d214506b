//! How much of the machine a node's containers may use: `cpus`, `memory` and `pids`,
//! so a local copy is production scaled down in size as well as in replicas.

/// Limits of one node's containers (each replica gets them all); `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Resources {
    /// CPUs, in billionths (`cpus = 0.5` is 500 000 000).
    pub nano_cpus: Option<i64>,
    /// Memory in bytes; swap is not added on top, so a process that exceeds it is killed.
    pub memory: Option<i64>,
    /// Most processes and threads at once.
    pub pids: Option<i64>,
}

impl Resources {
    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.nano_cpus.is_some() || self.memory.is_some() || self.pids.is_some()
    }
}

/// Least memory a container may be given (the Docker Engine refuses less).
const MIN_MEMORY: u64 = 6 << 20;

/// Parses a size in binary units, as the Docker CLI reads them: `64m` is 64 MiB;
/// `b`, `k`, `m`, `g`, `t` with or without `b`/`ib`.
///
/// # Errors
/// A message naming the value.
pub fn bytes(written: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(written.trim())
        .map_err(|_| {
            format!("`{written}` is not a size; write a number with a unit, such as 64m or 1g")
        })
}

/// Parses `memory`.
///
/// # Errors
/// Not a size, or less than 6 MiB.
pub fn memory(written: &str) -> Result<i64, String> {
    let n = bytes(written)?;
    if n < MIN_MEMORY {
        return Err(format!(
            "memory `{written}` is less than the engine's minimum of 6m"
        ));
    }
    i64::try_from(n).map_err(|_| format!("memory `{written}` is too large"))
}

/// Parses `cpus`: a positive number of CPUs, fractions allowed.
///
/// # Errors
/// Zero, negative, not finite, or more than 1024.
pub fn cpus(value: f64) -> Result<i64, String> {
    if !(0.01..=1024.0).contains(&value) {
        return Err(format!(
            "cpus = {value} is out of range; give a number of CPUs from 0.01 up, such as 0.5 or 2"
        ));
    }
    Ok((value * 1e9).round() as i64)
}

/// Parses `pids`.
///
/// # Errors
/// Zero.
pub fn pids(value: u32) -> Result<i64, String> {
    if value == 0 {
        return Err("pids = 0 would let the node start no process; give at least 1".into());
    }
    Ok(i64::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_binary_like_the_docker_cli() {
        assert_eq!(bytes("64m").unwrap(), 64 * 1024 * 1024);
        assert_eq!(bytes("1g").unwrap(), 1 << 30);
        assert_eq!(bytes("512MiB").unwrap(), 512 << 20);
        assert_eq!(bytes("100k").unwrap(), 100 << 10);
        assert!(bytes("lots").is_err());
        assert!(bytes("-5m").is_err());
    }

    #[test]
    fn memory_below_the_engine_minimum_is_refused() {
        assert_eq!(memory("64m").unwrap(), 64 << 20);
        assert!(memory("1m").unwrap_err().contains("minimum"));
    }

    #[test]
    fn cpus_are_fractions_of_cpus_in_billionths() {
        assert_eq!(cpus(0.5).unwrap(), 500_000_000);
        assert_eq!(cpus(2.0).unwrap(), 2_000_000_000);
        for bad in [0.0, -1.0, f64::NAN, 5000.0] {
            assert!(cpus(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn pids_must_allow_a_process() {
        assert_eq!(pids(64).unwrap(), 64);
        assert!(pids(0).is_err());
    }
}
