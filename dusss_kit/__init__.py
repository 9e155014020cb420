"""Notebook-first reference implementation of DuSSS / AMVLM."""
__version__ = "0.0.1"
