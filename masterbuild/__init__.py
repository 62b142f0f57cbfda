"""masterbuild: a declarative build system for album masters."""

__version__ = "0.1.0"
