//! Which frames a batch process renders: its shard (`--shard I/N`, or from a
//! cluster's environment: Slurm job arrays, Kubernetes Indexed Jobs) or its
//! `--range`, as a contiguous run of the manifest's frames in manifest order. Pure
//! functions, unit-tested.

/// Parses `--range A-B` (or `A`), inclusive.
pub(crate) fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("expected A-B (or A) with A <= B, got '{s}'");
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b) = (
        a.trim().parse::<u64>().map_err(|_| bad())?,
        b.trim().parse::<u64>().map_err(|_| bad())?,
    );
    if a > b {
        return Err(bad());
    }
    Ok((a, b))
}

/// Parses `--shard I/N` (0 <= I < N).
pub(crate) fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("expected I/N with 0 <= I < N, got '{s}'");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n) = (
        i.trim().parse::<u64>().map_err(|_| bad())?,
        n.trim().parse::<u64>().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The shard from the cluster's environment: Slurm job arrays, then Kubernetes
/// Indexed Jobs; `None` when neither is set.
pub(crate) fn shard_from_env(
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<(u64, u64)>, String> {
    let num = |k: &str| -> Result<Option<u64>, String> {
        var(k)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{k}={v:?} is not a number"))
            })
            .transpose()
    };
    if let (Some(id), Some(count)) = (num("SLURM_ARRAY_TASK_ID")?, num("SLURM_ARRAY_TASK_COUNT")?) {
        let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        // --array=0-20:4 gives ids 0, 4, ..., 20, a step of 4 and a count of 6.
        let step = num("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
        let offset = id
            .checked_sub(min)
            .ok_or("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")?;
        if offset % step != 0 {
            return Err(format!(
                "SLURM_ARRAY_TASK_ID={id} is not SLURM_ARRAY_TASK_MIN={min} plus a multiple of SLURM_ARRAY_TASK_STEP={step}"
            ));
        }
        let i = offset / step;
        if i >= count {
            return Err(format!(
                "SLURM_ARRAY_TASK_ID={id} is task {i} of SLURM_ARRAY_TASK_COUNT={count} (min {min}, step {step}): the array does not match its count"
            ));
        }
        return parse_shard(&format!("{i}/{count}")).map(Some);
    }
    if let Some(i) = num("JOB_COMPLETION_INDEX")? {
        let n = num("GRIN_SHARD_COUNT")?
            .ok_or("JOB_COMPLETION_INDEX is set but GRIN_SHARD_COUNT is not")?;
        return parse_shard(&format!("{i}/{n}")).map(Some);
    }
    Ok(None)
}

/// The frames `[lo, hi)` (numbered 0.. over the whole manifest, `all` of them) that a
/// process renders: shard I of N takes frames I*all/N up to (I+1)*all/N, so the
/// shards partition the manifest into near-equal contiguous runs; a `--range A-B`
/// takes A..=B, its end clamped to the last frame (a farm's last chunk may
/// overhang); neither: everything.
///
/// # Errors
/// A range that starts past the last frame.
pub(crate) fn frames(
    shard: Option<(u64, u64)>,
    range: Option<(u64, u64)>,
    all: u64,
) -> Result<(u64, u64), String> {
    let (si, sn) = shard.unwrap_or((0, 1));
    Ok(match range {
        Some((a, _)) if a >= all => {
            return Err(format!(
                "--range starts at frame {a}, past the manifest's {all} frames (0-{})",
                all.saturating_sub(1)
            ));
        }
        Some((a, b)) => (a, b.saturating_add(1).min(all)),
        // In 128 bits: I * T overflows 64 for a huge shard count.
        None => (
            (u128::from(si) * u128::from(all) / u128::from(sn)) as u64,
            (u128::from(si + 1) * u128::from(all) / u128::from(sn)) as u64,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_frames_into_near_equal_runs() {
        for all in [0u64, 1, 7, 100, 1001] {
            for n in [1u64, 2, 3, 7, 64] {
                let mut next = 0;
                for i in 0..n {
                    let (lo, hi) = frames(Some((i, n)), None, all).unwrap();
                    assert_eq!(lo, next, "shard {i}/{n} of {all}");
                    assert!(hi >= lo && hi - lo <= all / n + 1, "shard {i}/{n} of {all}");
                    next = hi;
                }
                assert_eq!(next, all, "{n} shards of {all}");
            }
        }
        // No overflow for a huge shard count.
        assert_eq!(
            frames(Some((u64::MAX - 1, u64::MAX)), None, 10),
            Ok((9, 10))
        );
        assert_eq!(frames(None, Some((3, 5)), 10), Ok((3, 6)));
        assert_eq!(frames(None, Some((8, 50)), 10), Ok((8, 10)));
        assert!(
            frames(None, Some((10, 12)), 10)
                .unwrap_err()
                .contains("past")
        );
        assert_eq!(frames(None, None, 10), Ok((0, 10)));
    }

    #[test]
    fn shards_from_flags_and_cluster_variables() {
        assert_eq!(parse_shard("1/3"), Ok((1, 3)));
        assert_eq!(parse_range("3-7"), Ok((3, 7)));
        assert_eq!(parse_range("4"), Ok((4, 4)));
        assert!(parse_range("7-3").is_err() && parse_range("x").is_err());
        assert!(
            parse_shard("3/3").is_err() && parse_shard("0/0").is_err() && parse_shard("x").is_err()
        );
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(shard_from_env(env(&[])), Ok(None));
        // Slurm arrays may start at any index: --array=1-3 gives ids 1, 2, 3.
        const SLURM: [(&str, &str); 3] = [
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ];
        assert_eq!(shard_from_env(env(&SLURM)), Ok(Some((1, 3))));
        // With a step: --array=0-20:4 (ids 0, 4, ..., 20; 6 tasks).
        const STEPPED: [(&str, &str); 4] = [
            ("SLURM_ARRAY_TASK_ID", "8"),
            ("SLURM_ARRAY_TASK_COUNT", "6"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_STEP", "4"),
        ];
        assert_eq!(shard_from_env(env(&STEPPED)), Ok(Some((2, 6))));
        // A mismatch names the variables.
        let err = shard_from_env(env(&[
            ("SLURM_ARRAY_TASK_ID", "8"),
            ("SLURM_ARRAY_TASK_COUNT", "6"),
        ]))
        .unwrap_err();
        assert!(err.contains("SLURM_ARRAY_TASK_COUNT=6"), "{err}");
        const K8S: [(&str, &str); 2] = [("JOB_COMPLETION_INDEX", "2"), ("GRIN_SHARD_COUNT", "3")];
        assert_eq!(shard_from_env(env(&K8S)), Ok(Some((2, 3))));
        assert!(shard_from_env(env(&[("JOB_COMPLETION_INDEX", "0")])).is_err());
        assert!(
            shard_from_env(env(&[
                ("SLURM_ARRAY_TASK_ID", "x"),
                ("SLURM_ARRAY_TASK_COUNT", "2")
            ]))
            .is_err()
        );
    }
}
