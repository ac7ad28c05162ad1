"""Reconstruction spread over a Dask cluster: row ranges on workers, one output.

The client plans as `ufo reco` does (`ufo.reco.plan`), finds the axis once, and splits the
rows into ranges sized by the workers' memory; every range is one Dask task that runs the
same ufo graph on its rows, reading the shared input file itself. Outputs are written in
parts that never overlap: a TIFF sequence numbers its files globally, HDF5 gets one part
file per range joined by a virtual dataset at the end, Zarr gets region writes into an
array of one chunk per slice. Writing a range twice writes the same values, so the tasks
Dask re-runs after losing a worker leave a complete, correct output.
"""

from .batch import DistributedResult, connect, reconstruct, reconstruct_part
from .ranges import Part, gpu_memory_of_workers, rows_per_part, split
from .streaming import StreamResult, free_ports, reconstruct_band, stream

__all__ = ["DistributedResult", "Part", "StreamResult", "connect", "free_ports", "gpu_memory_of_workers",
           "reconstruct", "reconstruct_band", "reconstruct_part", "rows_per_part", "split", "stream"]
