"""The command line: one module per command, assembled into one typer app in ``app``."""
