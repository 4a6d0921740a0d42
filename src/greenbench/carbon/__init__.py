"""Carbon stage: grid-intensity traces, forecasters, and the carbon-aware scheduling simulation."""
