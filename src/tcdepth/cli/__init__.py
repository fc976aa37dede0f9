"""Command-line interface: ``tcdepth <command>``. Each module in this package adds one command."""
