"""Embedded real sample data; see README.md in this folder."""
