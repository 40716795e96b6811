"""Command-line tools: `python -m prep_platform.data_prep.<tool>`. Thin shells over `prep_platform.lib`."""
