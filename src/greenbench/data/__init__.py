"""SST-2: locate, validate and tokenize it; load models; the seeded baseline fine-tune."""
