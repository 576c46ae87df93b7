"""Test support for sefa-zoo's own suite: toy plugins, fake generators, a loopback Hub and hostile files."""
