"""Reusable network layers shared by several methods."""
