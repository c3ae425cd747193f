"""Outbound: the LINE WORKS client and the sender."""
