"""Shared by every phase: Parquet I/O, logging, provenance, cell names, the plugin registry."""
