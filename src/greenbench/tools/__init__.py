"""Command-line entry points: every stage without Snakemake, and the offline GPU kit."""
