"""What a reader sees: style, figures, tables, the claims check, the answer and the HTML report."""
