"""GPU meters, one module per vendor (``nvidia``: NVML)."""
