"""descent: optimizers, schedules and a command-line lab for 'Training Neural Networks II'."""

__version__ = "0.2.0"  # the one place the version is written: pyproject.toml reads it (tool.setuptools.dynamic)

from .comparison import compare  # noqa: E402  (after the version, which the build reads)

__all__ = ["__version__", "compare"]
