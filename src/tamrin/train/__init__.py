"""Training: the fit loop, optimizers/schedulers, checkpoint/resume, device choice."""
