"""Compiled kernels the tasks call: numba on the CPU, each releasing the GIL."""
