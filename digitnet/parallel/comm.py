"""Data-parallel training over MPI: one process per core (or per host), each computing the gradient of its
slice of the batch; one Allreduce of one flat buffer a step then gives every process the whole batch's
gradient, so all of them apply the same update and keep identical weights.

The design follows mpi4py's tutorial (buffer-based Allreduce on NumPy arrays, in place) and PyTorch's
DistributedDataParallel (gradients packed into one contiguous bucket, one collective a step, each rank
normalising with its own batch statistics). The training loop talks to a communicator:

    SingleProcess   rank 0 of 1: every collective returns its input. One process is the N = 1 case of the
                    same loop, and takes exactly the code path a run without MPI always took.
    MPIWorld        mpi4py's COMM_WORLD, when `mpiexec -n N` or `srun` started this process.

mpi4py is imported only here, only when MPI started us: the library core needs NumPy alone.
"""
import atexit
import os
import signal
import sys
import time
import traceback

import numpy as np

from ..errors import DigitnetError, on_every_worker
from ..nets.base import infer
from ..stop_signals import heeded

INSTALL_HINT = "pip install 'digitnet[mpi]'"
# Environment variables an MPI launcher sets in each process it starts: MPICH's and Intel MPI's hydra
# (PMI_*, MPI_LOCALNRANKS), Open MPI (OMPI_COMM_WORLD_*), PMIx launchers, and Slurm's srun (SLURM_PROCID and
# SLURM_STEP_ID in every task of a job step, with SLURM_NTASKS; a batch script's own shell is no step of N tasks).
LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")
LAUNCHER_RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")
WORKER_DIR_VAR = "DIGITNET_WORKER_DIR"  # set by digitnet's own launcher (launch.py): where ranks leave their pid
FAILURE_FILE = "failure"  # in the worker folder: "status\nline" of the first rank that failed alone
# Under a plain mpiexec a failing rank's line reaches the user through the process manager, which forwards each
# rank's stderr on its own schedule; MPI_Abort kills every process of the job, the forwarder's too. A CI run lost
# the line so (on a busy 2-core machine, the other rank spinning in an Allreduce): it waits this long first.
ABORT_GRACE_S = 1.0


class ParallelError(DigitnetError):
    """MPI is wanted but missing, or the workers cannot agree."""


class PeerFailed(ParallelError):
    """Another worker failed at something only it does; this one stops too (quietly: that one said why)."""


def launched_by_mpi(environ=None):
    """True when an MPI launcher (mpiexec, mpirun, srun) started this process."""
    env = os.environ if environ is None else environ
    if any(var in env for var in LAUNCHER_SIZE_VARS + LAUNCHER_RANK_VARS):
        return True
    return "SLURM_PROCID" in env and "SLURM_STEP_ID" in env and int(env.get("SLURM_NTASKS", "1")) > 1


def launcher_rank(environ=None):
    """This process's rank as its MPI launcher numbered it (0 when none did), read before MPI is joined."""
    env = os.environ if environ is None else environ
    for var in LAUNCHER_RANK_VARS + ("SLURM_PROCID",):
        if env.get(var, "").isdigit():
            return int(env[var])
    return 0


class SingleProcess:
    """The communicator of a run without MPI: one rank, and every collective gives back what it was given."""

    rank, size = 0, 1

    def allreduce_sum(self, buffer):
        """Sum a float array over all ranks, in place."""
        return buffer

    def any(self, flag):
        """True on every rank when flag is true on any rank."""
        return bool(flag)

    def sum(self, values):
        """Element-wise sum of a few numbers over all ranks (as float64)."""
        return np.asarray(values, dtype=np.float64)

    def bcast(self, obj, root=0):
        return obj

    def gather(self, obj, root=0):
        """[obj of rank 0, obj of rank 1, ...] on root, None elsewhere."""
        return [obj]

    def allgather(self, obj):
        """[obj of rank 0, obj of rank 1, ...] on every rank."""
        return [obj]

    def barrier(self):
        pass


class MPIWorld(SingleProcess):
    """mpi4py's COMM_WORLD. Buffers go through the fast buffer interface (Allreduce, capital A);
    small Python objects (random states) through pickle (bcast, gather)."""

    def __init__(self):
        try:
            from mpi4py import MPI
        except ImportError:
            raise ParallelError(f"this process was started by an MPI launcher, but mpi4py is missing: "
                                f"{INSTALL_HINT}") from None
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        if self.size > 1:
            sys.excepthook = self.abort_on_crash

    def abort_on_crash(self, kind, value, tb):
        """An exception nobody handled (a bug) on one rank: print it, then end every rank (MPI_Abort), for the
        others would wait for it in the next Allreduce forever."""
        traceback.print_exception(kind, value, tb, file=sys.__stderr__)
        sys.__stderr__.flush()
        _grace()  # for the process manager to pass the traceback on before MPI_Abort kills it
        self.comm.Abort(1)

    def allreduce_sum(self, buffer):
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        return buffer

    def any(self, flag):
        return bool(self.comm.allreduce(bool(flag), op=self.MPI.LOR))

    def sum(self, values):
        buffer = np.array(values, dtype=np.float64)
        return self.allreduce_sum(buffer)

    def bcast(self, obj, root=0):
        return self.comm.bcast(obj, root=root)

    def gather(self, obj, root=0):
        return self.comm.gather(obj, root=root)

    def allgather(self, obj):
        return self.comm.allgather(obj)

    def barrier(self):
        self.comm.Barrier()


_world = None


def world():
    """This process's communicator: MPIWorld under mpiexec/srun, SingleProcess otherwise (made once)."""
    global _world
    if _world is None:
        _world = MPIWorld() if launched_by_mpi() else SingleProcess()
        if _world.size > 1:
            leave_pid_for_launcher(_world.rank)
            # SIGTERM and SIGHUP (a launcher, a batch system, a closed terminal) become Ctrl-C: the training loop
            # stops all ranks after the same step with a checkpoint; elsewhere fail_alone ends the job.
            for signum in heeded((signal.SIGTERM, signal.SIGHUP)):  # nohup's SIGHUP stays ignored
                signal.signal(signum, signal.default_int_handler)
    return _world


def world_size():
    """How many ranks this process's job has; 1 before world() was made (no collective can wait on us)."""
    return 1 if _world is None else _world.size


def _grace():
    """Wait ABORT_GRACE_S before MPI_Abort; a Ctrl-C meanwhile only ends the wait (the job is ending anyway)."""
    try:
        time.sleep(ABORT_GRACE_S)
    except KeyboardInterrupt:
        pass


def fail_alone(line, status=1, every_rank=False):
    """This rank ends by an error (or an interrupt) that the other ranks may not share: they could be waiting
    for it in a collective forever. With N workers: record the line once (the first rank to fail claims the
    worker folder's failure file, which the launcher prints; under a plain mpiexec the rank prints it), then
    MPI_Abort ends every rank within a moment. Returns, doing nothing, in a run of one process. every_rank: every
    rank fails alike with this line; under a plain mpiexec rank 0 alone prints it (each rank printed it)."""
    if _world is None or _world.size == 1:
        return
    folder = os.environ.get(WORKER_DIR_VAR)
    if folder and os.path.isdir(folder):
        mine = os.path.join(folder, f"{FAILURE_FILE}.{_world.rank}")
        with open(mine, "w") as f:
            f.write(f"{status}\n{line}")
        try:  # a hard link appears whole, and only once: the first rank to fail is the one named
            os.link(mine, os.path.join(folder, FAILURE_FILE))
        except FileExistsError:
            while True:  # another rank failed first and is ending the job: wait for its MPI_Abort
                time.sleep(60)
    elif every_rank and _world.rank != 0:
        while True:  # rank 0 meets the same error: wait for its MPI_Abort
            time.sleep(60)
    else:
        print(f"Error: {line}", file=sys.__stderr__, flush=True)
        _grace()  # for the forwarder to pass the line on (see ABORT_GRACE_S): no event says it has
    _world.comm.Abort(status)
    os._exit(status)  # MPICH's MPI_Abort may return before the process manager ends this process


def describe_error(error):
    """An exception as a cause never empty: its message, or its class name (MemoryError() says nothing)."""
    message = " ".join(str(error).split())
    return message or type(error).__name__


def alive(pid):
    """True while pid runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


def leave_pid_for_launcher(rank):
    """Under digitnet's own launcher: write rank<r>.pid now, and rank<r>.exit when Python exits normally
    (sys.exit, an error, the end). A rank whose .exit never appears was killed: the launcher names it."""
    folder = os.environ.get(WORKER_DIR_VAR)
    if not folder or not os.path.isdir(folder):
        return
    # .exit first: a Ctrl-C between the two would otherwise end a rank the launcher knows, through Python, unmarked
    atexit.register(lambda: open(os.path.join(folder, f"rank{rank}.exit"), "w").close())
    with open(os.path.join(folder, f"rank{rank}.pid"), "w") as f:
        f.write(str(os.getpid()))


def shard(n, rank, size):
    """Rank's contiguous share [start, stop) of n items: sizes differ by at most one, the first ranks
    taking the smaller shares (as np.array_split hands them out, reversed)."""
    return n * rank // size, n * (rank + 1) // size


def rank_rng(rng, comm):
    """This rank's random stream, for what must differ between ranks (dropout masks, augmentation).

    With one process it is the run's own generator rng, so N = 1 draws exactly what a run without MPI draws.
    With N processes, rank r gets the r-th child of the seed sequence rng was made from (default_rng(seed)):
    independent streams derived from (seed, rank), and no draw taken from rng, whose batches all ranks share."""
    if comm.size == 1:
        return rng
    seq = rng.bit_generator.seed_seq
    return np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, comm.rank)))


def use_rng_for_dropout(net, rng):
    """Make every dropout layer of net draw its masks from rng (each rank its own)."""
    for layer in net.layers.values():
        if hasattr(layer, "dropout_ratio"):
            layer.rng = rng


class GradientBuffer:
    """ONE contiguous array holding every parameter's gradient, plus two slots: the loss and a stop flag.

    Each rank packs its gradient scaled by n_local / n_global, so that the sum over ranks is the mean over
    the whole batch even when the batch does not divide by N (a rank's loss and gradient are means over its
    own n_local samples). Weight decay's term lambda*W rides along in each rank's gradient and is scaled the
    same way, so it sums to exactly one lambda*W. After one Allreduce, grads holds views into the buffer
    shaped like the parameters, ready for the optimizer.
    """

    LOSS, STOP = -2, -1

    def __init__(self, params):
        dtype = np.result_type(*params.values())
        sizes = [v.size for v in params.values()]
        self.flat = np.empty(sum(sizes) + 2, dtype=dtype)
        self.grads, start = {}, 0
        for (key, value), size in zip(params.items(), sizes):
            self.grads[key] = self.flat[start:start + size].reshape(value.shape)
            start += size

    @property
    def nbytes(self):
        """Bytes one Allreduce moves in each direction: every gradient, the loss and the flag."""
        return self.flat.nbytes

    def pack(self, grads, loss, stop, scale):
        for key, view in self.grads.items():
            np.multiply(grads[key], scale, out=view)
        self.flat[self.LOSS] = loss * scale
        self.flat[self.STOP] = 1.0 if stop else 0.0


def reduce_step(comm, buffer, grads, loss, stop, n_local, n_global):
    """The whole batch's (grads, loss, stop) from this rank's: one Allreduce of the flat buffer.

    A NaN or infinite loss on any rank makes the summed loss non-finite on every rank, and a stop asked on any
    rank (Ctrl-C) sums to a flag every rank sees, so all of them stop, or fail, after the same step.
    With one process nothing is packed, scaled or copied: the step is today's."""
    if comm.size == 1:
        return grads, loss, bool(stop)
    buffer.pack(grads, loss, stop, n_local / n_global)
    comm.allreduce_sum(buffer.flat)
    return buffer.grads, float(buffer.flat[buffer.LOSS]), bool(buffer.flat[buffer.STOP] > 0)


def average_buffers(net, comm):
    """Average batch norm's running statistics over the ranks, on every rank (each rank normalised its own
    slice of the batch, as DDP without SyncBatchNorm does). Nothing happens with one process."""
    buffers = net.buffers()
    if comm.size == 1 or not buffers:
        return
    averaged = {}
    for key, value in buffers.items():
        total = comm.allreduce_sum(np.array(value, dtype=np.float64))
        averaged[key] = (total / comm.size).astype(value.dtype)
    net.load_buffers(averaged)


def start_alike(comm, net, rng):
    """Rank 0's weights, batch norm's running statistics and random state, on every rank: each rank applies the
    same averaged update, so they must start alike (as DDP broadcasts the model). A net built without a seed
    started differently on every rank, and the ranks went on apart without a word. Nets of different shapes
    are refused on every rank."""
    buffers = net.buffers() if hasattr(net, "buffers") else {}
    params, buffers0, state = comm.bcast((net.params, buffers, rng.bit_generator.state) if comm.rank == 0 else None)
    differ = params.keys() != net.params.keys() or any(np.shape(v) != np.shape(net.params[k])
                                                       for k, v in params.items())
    if comm.any(differ):
        raise ParallelError("the workers' nets differ in their weights' names or shapes: build the same net on each")
    for key, value in params.items():
        net.params[key][...] = value
    if buffers0:
        net.load_buffers(buffers0)
    rng.bit_generator.state = state


class DataParallel:
    """What the training loop needs of the other workers: its share of each batch, its own random stream,
    the one Allreduce a step, and sharded evaluation. DataParallel(SingleProcess(), net, rng) changes nothing;
    with several ranks, they start alike (start_alike)."""

    def __init__(self, comm, net, rng):
        self.comm = comm
        if comm.size > 1:
            start_alike(comm, net, rng)
        self.rng = rank_rng(rng, comm)  # dropout and augmentation draw from this one
        self.buffer = None
        if comm.size > 1:
            use_rng_for_dropout(net, self.rng)
            self.buffer = GradientBuffer(net.params)

    def share(self, idx):
        """This rank's share of a batch's indices: every size-th one from its rank on (all of them with one
        process). Strided, not a contiguous slice: a batch with outlier exposure is its digits, then its outliers,
        and slices gave the last ranks every outlier and the first none, so each rank's batch norm saw a batch
        nothing like the whole one."""
        if self.comm.size == 1:
            return idx
        return idx[self.comm.rank::self.comm.size]

    def reduce(self, grads, loss, stop, n_local, n_global):
        return reduce_step(self.comm, self.buffer, grads, loss, stop, n_local, n_global)

    def average_buffers(self, net):
        average_buffers(net, self.comm)

    def gather_rng_states(self):
        """Every rank's random state, in rank order, on rank 0 (None elsewhere); None with one process,
        whose stream is the run's own generator, saved anyway."""
        if self.comm.size == 1:
            return None
        return self.comm.gather(self.rng.bit_generator.state)

    def restore_rng_state(self, states):
        """Take this rank's state back from what gather_rng_states() saved."""
        if states is None and self.comm.size == 1:
            return
        saved = 1 if states is None else len(states)
        if saved != self.comm.size:
            raise on_every_worker(ParallelError(f"the checkpoint was written by {saved} worker{'s' * (saved > 1)}; "
                                                f"resume it with --workers {saved}, not {self.comm.size}"))
        self.rng.bit_generator.state = states[self.comm.rank]

    def agree_on_failure(self, error):
        """After work that only rank 0 did (writing a checkpoint): its error, or None, on every rank, so
        that no rank goes on alone into the next Allreduce. Other ranks raise PeerFailed."""
        if self.comm.size == 1:
            return
        message = self.comm.bcast(None if error is None else str(error))
        if error is not None:
            raise error
        if message is not None:
            raise PeerFailed(f"worker 0 failed: {message}")

    def evaluate(self, net, x, t, batch_size=250):
        """(mean loss, accuracy) over all of x, each rank scoring its slice; the same figures on every rank."""
        if self.comm.size == 1:
            return net.evaluate(x, t, batch_size)
        lo, hi = shard(x.shape[0], self.comm.rank, self.comm.size)
        loss, acc = net.evaluate(x[lo:hi], t[lo:hi], batch_size) if hi > lo else (0.0, 0.0)
        total_loss, correct = self.comm.sum([loss * (hi - lo), round(acc * (hi - lo))])
        return float(total_loss) / x.shape[0], int(correct) / x.shape[0]


def quiet_unless_first(comm):
    """Ranks other than 0 print nothing: one progress bar, one set of epoch lines, one error message."""
    if comm.rank > 0:
        sys.stdout = sys.stderr = open(os.devnull, "w")


def together(comm, work):
    """work() on every rank; if it raises on any rank, every rank raises: the first failing rank its own
    error, the others PeerFailed naming it. For the setup of a run (data,
    net, checkpoint), so that no rank enters the first Allreduce while another has given up."""
    error, result = None, None
    try:
        result = work()
    except Exception as e:
        error = e
    if comm.size == 1:
        if error is not None:
            raise error
        return result
    causes = comm.allgather(None if error is None else describe_error(error))
    failures = [(rank, cause) for rank, cause in enumerate(causes) if cause is not None]
    if not failures:
        return result
    rank, cause = failures[0]
    if comm.rank == rank:
        raise error  # the first failing rank says why (fail_alone); the others stop quietly
    raise PeerFailed(f"worker {rank}: {cause}")


def predict_shared(net, x, comm, batch_size=250):
    """net's scores (logits) for all of x, each rank predicting its share in batches: the whole array on
    rank 0, None on the others."""
    lo, hi = shard(x.shape[0], comm.rank, comm.size)
    scores = [infer(net, x[i:min(i + batch_size, hi)]) for i in range(lo, hi, batch_size)]
    mine = np.concatenate(scores) if scores else np.empty((0, 0), dtype=x.dtype)
    parts = comm.gather(mine)
    return None if parts is None else np.concatenate([p for p in parts if p.size])
