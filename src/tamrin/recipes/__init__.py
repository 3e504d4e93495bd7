"""Recipes: one module per topic; importing this package registers every recipe."""

from tamrin.recipes import (  # noqa: F401
    babi,
    bert,
    classify,
    fast,
    imbalanced,
    metric_learning,
    normalization,
    rotation,
    segment,
    studies,
    tuning,
    vit,
    word_vectors,
)
