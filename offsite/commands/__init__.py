"""Subcommands of `offsite`, one module per group."""
