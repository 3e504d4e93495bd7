"""Hyperparameter search with Optuna: `tamrin tune` and its study report."""
