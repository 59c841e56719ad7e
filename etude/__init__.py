"""Shared plumbing for every Étude component: settings, errors, logging, S3 store, broker."""

__version__ = "0.1.0"
