"""Statistics over the measurements: intervals, paired ratios, Pareto fronts, lifecycle energy, the study's own cost."""
