//! Admission gated by probes: each probe reports a load as a share of its limit
//! (CPU use against `--max-cpu`, used RAM against what may be used, GPU memory against
//! its cap); a gate smooths it over a window and closes at the high watermark, and
//! opens again only below the low one (hysteresis, so a load hovering at the limit
//! does not flap). A probe that fails is logged once and skipped, never fatal.
//!
//! ```
//! use scheduler::jobs::admission::{Gate, Watermarks};
//! let mut g = Gate::new(Watermarks::default(), 1);
//! assert!(g.observe(0.5));
//! assert!(!g.observe(0.9)); // above 0.85: closed
//! assert!(!g.observe(0.8)); // not below 0.70 yet: still closed
//! assert!(g.observe(0.6)); // open again
//! ```

use std::collections::{HashSet, VecDeque};

/// Close at `high`, reopen at `low` (shares of the limit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Watermarks {
    /// Share at or above which the gate closes.
    pub high: f64,
    /// Share at or below which a closed gate opens.
    pub low: f64,
}

impl Default for Watermarks {
    fn default() -> Self {
        Self {
            high: 0.85,
            low: 0.70,
        }
    }
}

/// One smoothed, hysteretic gate.
#[derive(Debug, Clone)]
pub struct Gate {
    marks: Watermarks,
    window: usize,
    samples: VecDeque<f64>,
    open: bool,
}

impl Gate {
    /// A gate smoothing over the last `window` samples (at least 1).
    #[must_use]
    pub fn new(marks: Watermarks, window: usize) -> Self {
        Self {
            marks,
            window: window.max(1),
            samples: VecDeque::new(),
            open: true,
        }
    }

    /// Adds a sample (a share of the limit) and says whether the gate is open.
    pub fn observe(&mut self, share: f64) -> bool {
        if self.samples.len() == self.window {
            self.samples.pop_front();
        }
        self.samples.push_back(share);
        let mean = self.mean();
        if self.open && mean >= self.marks.high {
            self.open = false;
        } else if !self.open && mean <= self.marks.low {
            self.open = true;
        }
        self.open
    }

    /// The smoothed share.
    #[must_use]
    pub fn mean(&self) -> f64 {
        if self.samples.is_empty() {
            0.0
        } else {
            self.samples.iter().sum::<f64>() / self.samples.len() as f64
        }
    }

    /// Whether it is open.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.open
    }
}

/// A source of load readings.
pub trait Probe: Send {
    /// Its name (for logs and status files).
    fn name(&self) -> &str;
    /// The current load as a share of its limit.
    ///
    /// # Errors
    /// Why it cannot read (the probe is then skipped).
    fn sample(&mut self) -> Result<f64, String>;
}

/// One probe's reading at a poll.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The probe.
    pub probe: String,
    /// Its raw share, if it read.
    pub share: Option<f64>,
    /// Its smoothed share.
    pub smoothed: f64,
    /// Whether its gate is open.
    pub open: bool,
}

/// Probes with their gates.
pub struct Admission {
    probes: Vec<(Box<dyn Probe>, Gate)>,
    failed: HashSet<String>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field(
                "probes",
                &self
                    .probes
                    .iter()
                    .map(|(p, g)| (p.name().to_owned(), g.mean()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Admission {
    /// Gates over `probes`, each smoothing over `window` samples.
    #[must_use]
    pub fn new(probes: Vec<Box<dyn Probe>>, marks: Watermarks, window: usize) -> Self {
        Self {
            probes: probes
                .into_iter()
                .map(|p| (p, Gate::new(marks, window)))
                .collect(),
            failed: HashSet::new(),
        }
    }

    /// Polls every probe once: whether new work may start (every gate open), the
    /// readings, and messages to log (a probe's first failure only).
    pub fn poll(&mut self) -> (bool, Vec<Reading>, Vec<String>) {
        let mut open = true;
        let mut readings = Vec::new();
        let mut log = Vec::new();
        for (probe, gate) in &mut self.probes {
            let name = probe.name().to_owned();
            match probe.sample() {
                Ok(share) => {
                    let o = gate.observe(share);
                    open &= o;
                    readings.push(Reading {
                        probe: name,
                        share: Some(share),
                        smoothed: gate.mean(),
                        open: o,
                    });
                }
                Err(e) => {
                    if self.failed.insert(name.clone()) {
                        log.push(format!("probe {name} unavailable, skipped: {e}"));
                    }
                    readings.push(Reading {
                        probe: name,
                        share: None,
                        smoothed: gate.mean(),
                        open: true,
                    });
                }
            }
        }
        (open, readings, log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scripted(&'static str, Vec<Result<f64, String>>);

    impl Probe for Scripted {
        fn name(&self) -> &str {
            self.0
        }
        fn sample(&mut self) -> Result<f64, String> {
            if self.1.is_empty() {
                Err("done".into())
            } else {
                self.1.remove(0)
            }
        }
    }

    #[test]
    fn smoothing_and_hysteresis() {
        let mut g = Gate::new(Watermarks::default(), 3);
        // One spike does not close a gate smoothed over three samples.
        assert!(g.observe(0.5) && g.observe(0.5) && g.observe(1.4));
        assert!(!g.observe(1.0), "mean 0.97");
        assert!(!g.observe(0.6), "mean 1.0: closed");
        assert!(!g.observe(0.6), "mean 0.73: still above low");
        assert!(g.observe(0.6), "mean 0.6: open");
    }

    #[test]
    fn a_failing_probe_is_logged_once_and_skipped() {
        let mut a = Admission::new(
            vec![
                Box::new(Scripted(
                    "gpu",
                    vec![Err("no NVML".into()), Err("no NVML".into())],
                )),
                Box::new(Scripted("cpu", vec![Ok(0.2), Ok(0.95)])),
            ],
            Watermarks::default(),
            1,
        );
        let (open, readings, log) = a.poll();
        assert!(open);
        assert_eq!(
            log,
            vec!["probe gpu unavailable, skipped: no NVML".to_owned()]
        );
        assert_eq!(readings[1].share, Some(0.2));
        let (open, _, log) = a.poll();
        assert!(!open, "cpu at 95%");
        assert!(log.is_empty(), "logged once");
    }
}
