"""tuimail: an offline-first terminal email client."""

__version__ = "0.1.0"
