"""Engines that run models inside the server process (no key, no network)."""
