"""greenbench: energy, latency, accuracy and carbon of transformer inference variants.

The library is usable without Snakemake; the workflow's scripts are thin wrappers
around the functions here, and ``python -m greenbench <stage>`` runs any stage.
"""

__version__ = "0.1.0"
