"""The library version: a leaf module, so nothing needs the package ``__init__``."""

__version__ = "0.2.0"
