//! `--shard K/N`: one stable share of the selected machines, for splitting a fleet across
//! the jobs of a CI matrix.
//!
//! A machine's shard is decided by its name alone: the first eight bytes of the SHA-256 of
//! the name's UTF-8 bytes, read as a big-endian integer, modulo N, plus one. SHA-256 is
//! fixed by its standard (Rust's own hasher is seeded per process, and its algorithm may
//! change between releases), so every job of a matrix, on any machine and any orbdeploy
//! version, puts a machine in the same shard. The inventory is not part of the key: adding
//! or removing another machine, or editing a variable, moves no machine to another shard.
//! The price is that shards are balanced only on average: with few machines one shard may
//! hold more than another, or none (which is why the matrix example gives `--allow-empty`).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// One share of N: `index` from 1 to `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which share, from 1.
    pub index: u32,
    /// How many shares.
    pub count: u32,
}

impl Shard {
    /// Whether the machine named `name` is in this shard.
    pub fn keeps(&self, name: &str) -> bool {
        shard_of(name, self.count) == self.index
    }
}

/// The shard (1 to `count`) the machine named `name` belongs to when the machines are
/// split into `count` shards (`count` at least 1).
pub fn shard_of(name: &str, count: u32) -> u32 {
    let sum = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&sum[..8]);
    let n = u64::from(count.max(1));
    // The remainder is below `count`, which is a u32.
    (u64::from_be_bytes(first) % n) as u32 + 1
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(raw: &str) -> Result<Shard, String> {
        let expected = "expected K/N with 1 <= K <= N, such as 2/4";
        let (k, n) = raw
            .split_once('/')
            .ok_or_else(|| format!("`{raw}`: {expected}"))?;
        let number = |s: &str| s.trim().parse::<u32>().ok();
        match (number(k), number(n)) {
            (Some(index), Some(count)) if index >= 1 && index <= count => {
                Ok(Shard { index, count })
            }
            (Some(_), Some(0)) => Err(format!("`{raw}`: N must be at least 1; {expected}")),
            (Some(_), Some(_)) => Err(format!("`{raw}`: K must be from 1 to N; {expected}")),
            _ => Err(format!("`{raw}`: {expected}")),
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn k_over_n_is_checked() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!("1/1".parse(), Ok(Shard { index: 1, count: 1 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", "-1/3", "1/", "/2", ""] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.starts_with(&format!("`{bad}`: ")), "{bad}: {err}");
            assert!(err.contains("1 <= K <= N"), "{bad}: {err}");
        }
        assert_eq!(
            "5/3".parse::<Shard>().unwrap_err(),
            "`5/3`: K must be from 1 to N; expected K/N with 1 <= K <= N, such as 2/4"
        );
    }

    /// The hash is part of the contract (docs/fleet.md): a change would move machines
    /// between the jobs of a matrix that runs two versions side by side. The expected
    /// shards were computed outside Rust, from `printf %s NAME | sha256sum`'s first 16 hex
    /// digits, modulo 4, plus 1.
    #[test]
    fn the_hash_is_fixed() {
        let got: Vec<u32> = ["web1", "web2", "db", "m1", "m2", "m3"]
            .iter()
            .map(|n| shard_of(n, 4))
            .collect();
        assert_eq!(got, [3, 2, 1, 2, 2, 4]);
    }

    proptest! {
        /// Every machine is in exactly one of the N shards, whatever the names and N.
        #[test]
        fn every_machine_is_in_exactly_one_shard(
            names in proptest::collection::btree_set("[a-z0-9._-]{1,20}", 0..60),
            count in 1u32..12,
        ) {
            for name in &names {
                let holding: Vec<u32> = (1..=count)
                    .filter(|&k| Shard { index: k, count }.keeps(name))
                    .collect();
                prop_assert_eq!(holding.len(), 1, "{} is in {:?}", name, holding);
                prop_assert_eq!(holding[0], shard_of(name, count));
            }
        }
    }
}
