"""The study's configuration: load and merge YAML, validate against the schema and cross-key rules."""
