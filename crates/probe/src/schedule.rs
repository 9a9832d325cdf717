//! Per-probe `ReduceLROnPlateau`, shared by the batched and one-by-one paths (early
//! stopping is [`dimua_core::early_stop`]'s).

/// PyTorch `ReduceLROnPlateau(mode='max', threshold_mode='rel', cooldown=0)`.
#[derive(Debug, Clone)]
pub(crate) struct Plateau {
    /// Current learning rate.
    pub(crate) lr: f64,
    factor: f64,
    patience: usize,
    threshold: f64,
    min_lr: f64,
    best: f64,
    bad_epochs: usize,
}

impl Plateau {
    /// A scheduler starting at `lr`.
    pub(crate) fn new(lr: f64, factor: f64, patience: usize, threshold: f64, min_lr: f64) -> Self {
        Plateau {
            lr,
            factor,
            patience,
            threshold,
            min_lr,
            best: f64::NEG_INFINITY,
            bad_epochs: 0,
        }
    }

    /// Feeds one epoch's metric; may lower `lr`.
    pub(crate) fn step(&mut self, metric: f64) {
        if metric > self.best * (1.0 + self.threshold) {
            self.best = metric;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        if self.bad_epochs > self.patience {
            let new_lr = (self.lr * self.factor).max(self.min_lr);
            // PyTorch only applies a change larger than its eps (1e-8).
            if self.lr - new_lr > 1e-8 {
                self.lr = new_lr;
            }
            self.bad_epochs = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plateau_decays_after_patience_plus_one_bad_epochs() {
        // patience 2: the 3rd bad epoch in a row decays (PyTorch: num_bad_epochs > patience).
        let mut p = Plateau::new(1e-3, 0.2, 2, 1e-4, 1e-5);
        p.step(0.5);
        p.step(0.50001); // within rel threshold 1e-4 -> bad 1
        p.step(0.4); // bad 2
        assert_eq!(p.lr, 1e-3);
        p.step(0.4); // bad 3 > 2 -> decay
        assert!((p.lr - 2e-4).abs() < 1e-15);
        for _ in 0..20 {
            p.step(0.0);
        }
        assert_eq!(p.lr, 1e-5); // floored at min_lr
    }
}
