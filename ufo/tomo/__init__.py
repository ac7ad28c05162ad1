"""Tomography algorithms as plain functions on numpy arrays; the tasks in ufo.tasks wrap them."""
