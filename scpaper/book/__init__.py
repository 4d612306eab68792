"""The book's pipeline: scales and presets, the cache, claims and verdicts, glue, plotting style, the runner and the command line."""
