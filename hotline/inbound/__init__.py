"""Inbound: callback events from LINE WORKS, parsed and dispatched."""
