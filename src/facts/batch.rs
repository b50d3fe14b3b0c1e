//! What the probes of one batch share, and the lines that run before them: the files hashed
//! together ([`super::sums`]), the scan ([`super::scan`]), and what earlier batches' scans
//! found ([`super::memo`]).

use std::collections::HashMap;

use super::memo::{Memo, DPKG_STATUS};
use super::Probed;
use super::{scan, sums};

/// Filled step by step, then planned into the lines that run before the probes.
#[derive(Debug, Default)]
pub struct Batch {
    hashed: Vec<String>,
    scans: Vec<(usize, scan::Item)>,
}

/// The lines that run before a batch's probes, and what to do with its report.
#[derive(Debug, Default)]
pub struct BatchPlan {
    /// The lines.
    pub prelude: String,
    /// Run `__od_memo_report` after the probes and hand its facts, with these questions,
    /// to [`Memo::learn`] (`None`: the batch hashes nothing its scan could be kept by).
    pub report: Option<HashMap<String, (String, String)>>,
}

impl Batch {
    /// Add the step with this key to the batch.
    pub fn add(&mut self, key: usize, step: &impl Probed) {
        self.hashed.extend(step.hashes().map(str::to_string));
        self.scans.extend(step.scan().map(|i| (key, i)));
    }

    /// A batch of these files to hash and these scan questions (tests).
    #[cfg(test)]
    pub fn of(hashed: &[&str], scans: Vec<(usize, scan::Item)>) -> Batch {
        Batch {
            hashed: hashed.iter().map(|h| h.to_string()).collect(),
            scans,
        }
    }

    /// The lines that run before the batch's probes, with `memo` (what earlier scans found)
    /// and `ahead` (what later steps will ask the scan). The memo is used only when the
    /// batch starts a `sha256sum` anyway, for put and template steps: adding the scan's
    /// files to it costs no process, hashing them alone would cost as much as the scan.
    pub fn plan(&self, memo: &Memo, ahead: &[scan::Item]) -> BatchPlan {
        let plain = || BatchPlan {
            prelude: format!(
                "{}{}",
                sums::prelude(&self.hashed),
                scan::prelude(&self.scans)
            ),
            report: None,
        };
        if self.hashed.is_empty() || self.scans.is_empty() {
            return plain();
        }
        let mut hashed = self.hashed.clone();
        for (_, item) in &self.scans {
            let file = match item {
                scan::Item::Line { path, .. } => path.as_str(),
                scan::Item::Dpkg { .. } => DPKG_STATUS,
            };
            if !hashed.iter().any(|h| h == file) {
                hashed.push(file.to_string());
            }
        }
        let sums = sums::prelude(&hashed);
        if sums.is_empty() {
            return plain();
        }
        let asked = memo.prelude(&self.scans, ahead);
        BatchPlan {
            prelude: format!("{sums}{}", asked.prelude),
            report: Some(asked.lines),
        }
    }
}
