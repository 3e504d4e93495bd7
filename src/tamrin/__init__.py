"""tamrin: a deep-learning course's exercises as reproducible recipes.

>>> import tamrin
>>> result = tamrin.run("cifar10-lenet", epochs=3)      # doctest: +SKIP
>>> result.metric("test.accuracy")                      # doctest: +SKIP
"""

from tamrin._version import __version__
from tamrin.api import list_recipes, load, report, resume, run, tune

__all__ = ["__version__", "list_recipes", "load", "report", "resume", "run", "tune"]
