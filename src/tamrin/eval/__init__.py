"""Evaluation: metrics (scikit-learn), figures (matplotlib Agg), run reports (HTML + Markdown)."""
