"""Evaluation of a checkpoint (`frcrn eval`)."""
