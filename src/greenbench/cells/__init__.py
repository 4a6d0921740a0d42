"""What is measured: recipes (variants) and the runtimes that execute them, composed into study cells."""
