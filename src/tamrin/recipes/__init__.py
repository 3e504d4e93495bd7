"""Recipes: one module per topic; importing this package registers every recipe."""

from tamrin.recipes import classify, normalization, studies, word_vectors  # noqa: F401
