"""Data-parallel training over MPI: the communicators and the one-buffer Allreduce (comm.py), and the
launcher behind `--workers N` (launch.py)."""
from .comm import (
                   INSTALL_HINT,
                   WORKER_DIR_VAR,
                   DataParallel,
                   GradientBuffer,
                   MPIWorld,
                   ParallelError,
                   PeerFailed,
                   SingleProcess,
                   average_buffers,
                   launched_by_mpi,
                   leave_pid_for_launcher,
                   predict_shared,
                   quiet_unless_first,
                   rank_rng,
                   reduce_step,
                   shard,
                   together,
                   use_rng_for_dropout,
                   world,
)

__all__ = ["INSTALL_HINT", "WORKER_DIR_VAR", "DataParallel", "GradientBuffer", "MPIWorld", "ParallelError",
           "PeerFailed", "SingleProcess", "average_buffers", "launched_by_mpi", "leave_pid_for_launcher",
           "predict_shared", "quiet_unless_first", "rank_rng", "reduce_step", "shard", "together",
           "use_rng_for_dropout", "world"]
