//! A histogram of calibration values whose range grows with the data, shared by the percentile and
//! MSE observers so neither has to keep every activation.

use super::{check_finite, QuantError};

/// Counts of values in equal-width bins over `[lo, hi]`.
///
/// When a batch falls outside the current range, the range grows to cover it and the old counts
/// are moved to the new bin holding each old bin's centre (error at most one new bin width).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    counts: Vec<u64>,
    lo: f32,
    hi: f32,
    total: u64,
}

impl Histogram {
    /// An empty histogram of `bins` bins (at least 1).
    pub fn new(bins: usize) -> Self {
        Self { counts: vec![0; bins.max(1)], lo: 0.0, hi: 0.0, total: 0 }
    }

    /// Number of values counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The range covered, `(lo, hi)`.
    pub fn range(&self) -> (f32, f32) {
        (self.lo, self.hi)
    }

    /// Width of one bin.
    pub fn bin_width(&self) -> f32 {
        (self.hi - self.lo) / self.counts.len() as f32
    }

    /// `(centre, count)` of every bin.
    pub fn bins(&self) -> impl Iterator<Item = (f32, u64)> + '_ {
        let w = self.bin_width();
        self.counts.iter().enumerate().map(move |(i, &c)| (self.lo + (i as f32 + 0.5) * w, c))
    }

    /// Counts a batch.
    pub fn add(&mut self, batch: &[f32]) -> Result<(), QuantError> {
        check_finite(batch)?;
        let Some((bmin, bmax)) = batch.iter().fold(None, |acc: Option<(f32, f32)>, &v| {
            Some(acc.map_or((v, v), |(a, b)| (a.min(v), b.max(v))))
        }) else {
            return Ok(());
        };
        if self.total == 0 {
            self.lo = bmin;
            self.hi = bmax;
        } else if bmin < self.lo || bmax > self.hi {
            self.regrid(bmin.min(self.lo), bmax.max(self.hi));
        }
        for &v in batch {
            let i = self.index(v);
            self.counts[i] += 1;
        }
        self.total += batch.len() as u64;
        Ok(())
    }

    fn index(&self, v: f32) -> usize {
        let n = self.counts.len();
        if self.hi <= self.lo {
            return 0;
        }
        (((v - self.lo) / (self.hi - self.lo) * n as f32) as usize).min(n - 1)
    }

    fn regrid(&mut self, lo: f32, hi: f32) {
        let old: Vec<(f32, u64)> = self.bins().filter(|&(_, c)| c > 0).collect();
        let was_point = self.hi <= self.lo;
        let point = self.lo;
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.lo = lo;
        self.hi = hi;
        for (centre, count) in old {
            let i = self.index(if was_point { point } else { centre });
            self.counts[i] += count;
        }
    }

    /// The value below which a `fraction` of the counts lie (upper edge of the bin reaching it).
    pub fn quantile_upper(&self, fraction: f64) -> f32 {
        let target = (fraction * self.total as f64).ceil() as u64;
        let w = self.bin_width();
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target.max(1) {
                return self.lo + (i + 1) as f32 * w;
            }
        }
        self.hi
    }

    /// The value above which a `fraction` of the counts lie (lower edge of the bin reaching it).
    pub fn quantile_lower(&self, fraction: f64) -> f32 {
        let target = (fraction * self.total as f64).ceil() as u64;
        let w = self.bin_width();
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate().rev() {
            seen += c;
            if seen >= target.max(1) {
                return self.lo + i as f32 * w;
            }
        }
        self.lo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_regrids() {
        let mut h = Histogram::new(10);
        h.add(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0]).unwrap();
        assert_eq!(h.range(), (0.0, 10.0));
        assert_eq!(h.total(), 10);
        h.add(&[20.0]).unwrap();
        assert_eq!(h.range(), (0.0, 20.0));
        assert_eq!(h.total(), 11);
        assert_eq!(h.bins().map(|(_, c)| c).sum::<u64>(), 11);
        assert_eq!(h.quantile_upper(1.0), 20.0);
        assert_eq!(h.quantile_upper(0.5), 6.0); // 0..=4 in bins 0-2, bin [4,6) reaches 6 values
        assert_eq!(h.quantile_lower(1.0 / 11.0), 18.0);
    }

    #[test]
    fn a_constant_batch_then_a_wider_one() {
        let mut h = Histogram::new(4);
        h.add(&[2.0, 2.0]).unwrap();
        h.add(&[0.0, 4.0]).unwrap();
        let counts: Vec<u64> = h.bins().map(|(_, c)| c).collect();
        assert_eq!(counts, vec![1, 0, 2, 1]);
    }
}
