//! Sharded runs: `--shard I/N` decides only the rows of shard `I` of `N`
//! (0 <= I < N), so a province's households can be decided by N processes
//! (a Kubernetes indexed Job, say) whose outputs together are the
//! unsharded run's, row for row.
//!
//! A row's shard is fixed by its household id: the first eight bytes of
//! the id's SHA-256 (the trimmed id's UTF-8 bytes), big-endian, modulo N.
//! So every row of a household (a duplicate included) is in the same shard
//! whatever the file's order. A row with no household id, or a line that
//! cannot be read as a row, goes by its row number modulo N: it is in
//! exactly one shard, which reports its error. This is part of the output
//! contract: it never changes for a given N.

use sha2::{Digest, Sha256};

/// Shard `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `I/N`, with 0 <= I < N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let expected = "expected I/N with 0 <= I < N, e.g. 0/4 (the first of four shards)";
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: {expected}"))?;
        let (index, count) = match (i.trim().parse::<u32>(), n.trim().parse::<u32>()) {
            (Ok(i), Ok(n)) => (i, n),
            _ => return Err(format!("`{text}`: {expected}")),
        };
        if count == 0 || index >= count {
            return Err(format!("`{text}`: {expected}"));
        }
        Ok(Shard { index, count })
    }

    /// Whether the row is this shard's: by its household id when it has
    /// one and the line reads, else by its row number.
    pub fn contains(&self, household_id: Option<&str>, readable: bool, row: u64) -> bool {
        let of = match household_id.map(str::trim).filter(|h| !h.is_empty()) {
            Some(id) if readable => {
                let digest = Sha256::digest(id.as_bytes());
                let mut first = [0u8; 8];
                first.copy_from_slice(&digest[..8]);
                u64::from_be_bytes(first) % u64::from(self.count)
            }
            _ => row % u64::from(self.count),
        };
        of == u64::from(self.index)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::Shard;

    #[test]
    fn a_shard_is_written_i_of_n_and_anything_else_is_refused() {
        assert_eq!(Shard::parse("0/4"), Ok(Shard { index: 0, count: 4 }));
        assert_eq!(Shard::parse(" 3 / 4 "), Ok(Shard { index: 3, count: 4 }));
        for bad in ["4/4", "1/0", "-1/4", "a/4", "4", ""] {
            assert_eq!(
                Shard::parse(bad).unwrap_err(),
                format!(
                    "`{bad}`: expected I/N with 0 <= I < N, e.g. 0/4 (the first of four shards)"
                )
            );
        }
    }

    #[test]
    fn every_row_is_in_exactly_one_shard_and_a_household_always_in_the_same() {
        let shards: Vec<Shard> = (0..4).map(|index| Shard { index, count: 4 }).collect();
        let mut sizes = [0u32; 4];
        for row in 1..=4000u64 {
            let id = format!("H{row:08}");
            let owners: Vec<usize> = (0..4)
                .filter(|&i| shards[i].contains(Some(&id), true, row))
                .collect();
            assert_eq!(owners.len(), 1, "{id}");
            sizes[owners[0]] += 1;
            // The same household on another row: the same shard.
            assert!(shards[owners[0]].contains(Some(&format!(" {id} ")), true, row + 7));
            // No id, or an unreadable line: by row number.
            assert!(shards[(row % 4) as usize].contains(None, true, row));
            assert!(shards[(row % 4) as usize].contains(Some(&id), false, row));
        }
        // Spread evenly (each within 10% of a quarter).
        assert!(sizes.iter().all(|&s| (900..1100).contains(&s)), "{sizes:?}");
        // Fixed for ever (computed independently: Python's hashlib).
        for (id, shard) in [("H00000001", 1), ("H00000002", 2), ("H00000003", 0)] {
            assert!(shards[shard].contains(Some(id), true, 99), "{id}");
        }
    }
}
