"""Accuracy, multiply-accumulates, and energy and latency under the measurement protocol."""
