"""Studies: grids of variants × seeds over a recipe, run through the runner (see `grid`)."""

from tamrin.studies.grid import StudyResult, resume_study, run_study

__all__ = ["StudyResult", "resume_study", "run_study"]
