"""The `kripto` command line."""
