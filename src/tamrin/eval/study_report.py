"""Moved to `tamrin.eval.report.study_section`; this name stays as an alias."""

from tamrin.eval.report.study_section import (
    study_report_blocks,
    summarize_study,
    write_study_report,
)

__all__ = ["study_report_blocks", "summarize_study", "write_study_report"]
