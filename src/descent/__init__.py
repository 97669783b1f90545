"""descent: optimizers, schedules and a command-line lab for 'Training Neural Networks II'."""

__version__ = "0.2.0"
