"""Where groups train: serial | local (joblib, one GPU per worker) | ray | slurm (submitit).

Every backend runs the same unit of work, `runners.capacity.train_fitted(group, device,
root)`, and the run records under root are the truth: a backend only decides where a group
trains. A run with a record is skipped by all of them, so a sweep killed under one backend
resumes under another, and the result CSV (an aggregation of the records) is the same.

- serial: groups one after another in this process.
- local:  joblib (loky) worker processes; each worker leases one slot for its lifetime
          (a file lock), slot j trains on GPU j % n_gpus, so with --jobs equal to the
          number of visible GPUs every GPU has exactly one worker. CPU-only: --jobs CPU workers.
- ray:    joblib's Ray backend. RAY_ADDRESS reaches an existing cluster (RAY_ADDRESS=auto:
          the one `ray start` made on this machine); otherwise a local Ray instance is started
          and stopped. On GPUs every worker is a Ray actor holding one GPU (num_gpus=1 in
          its remote arguments). Workers must import depthbench and see root (a shared disk).
- slurm:  submitit job array: groups are dealt (largest first) into --jobs array tasks,
          each with --gpus GPUs on --partition for --time minutes; a task with several GPUs
          runs its groups with the local backend. `--submitit-cluster local` runs the same
          array on this machine (what the tests use).
"""
from __future__ import annotations

import dataclasses
import fcntl
import os
import sys
import tempfile
from pathlib import Path

from runners.capacity import STACK_CAP, step_flops, train_fitted

BACKENDS = ("serial", "local", "ray", "slurm")


@dataclasses.dataclass(frozen=True)
class BackendOptions:
    jobs: int | None = None            # parallel workers (local, ray) or array tasks (slurm); None: one per GPU
    partition: str | None = None       # slurm partition
    time_min: int = 240                # slurm time limit per array task, minutes
    gpus: int = 1                      # GPUs per slurm array task
    cpus_per_task: int | None = None   # slurm CPUs per array task
    submitit_cluster: str | None = None  # None: slurm; 'local' runs the array as processes here
    folder: str | None = None          # submitit logs; default: <root>/../submitit
    cap: int = STACK_CAP               # most models in one stack
    interleave: int = 1                # serial: groups training at once on the device (runners/interleave.py)

    def __post_init__(self):
        if self.jobs is not None and self.jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {self.jobs}")
        if self.interleave < 1:
            raise ValueError(f"--interleave must be >= 1, got {self.interleave}")
        if self.gpus < 0 or self.time_min < 1:
            raise ValueError(f"bad slurm options: gpus={self.gpus}, time={self.time_min} min")


def add_backend_args(parser) -> None:
    """The backend options of `depthbench sweep` and `depthbench bench`."""
    g = parser.add_argument_group("backend")
    g.add_argument("--backend", default="serial", choices=BACKENDS)
    g.add_argument("--jobs", type=int, default=None,
                   help="workers (local, ray; default one per GPU) or array tasks (slurm; default one per group)")
    g.add_argument("--partition", default=None, help="slurm partition")
    g.add_argument("--time", type=int, default=240, dest="time_min", help="slurm time limit per task (minutes)")
    g.add_argument("--gpus", type=int, default=1, help="GPUs per slurm array task")
    g.add_argument("--cpus-per-task", type=int, default=None, help="CPUs per slurm array task")
    g.add_argument("--submitit-cluster", default=None, choices=["slurm", "local", "debug"],
                   help="submitit executor (default slurm; local: the array as processes on this machine)")
    g.add_argument("--submitit-folder", default=None, dest="folder", help="submitit logs and pickles")
    g.add_argument("--interleave", type=int, default=1,
                   help="serial backend: train up to N groups at once on the device, one stream each (default 1)")


def backend_options(args) -> BackendOptions:
    return BackendOptions(jobs=args.jobs, partition=args.partition, time_min=args.time_min, gpus=args.gpus,
                          cpus_per_task=args.cpus_per_task, submitit_cluster=args.submitit_cluster,
                          folder=args.folder, interleave=args.interleave)


def check_backend(backend: str, options: BackendOptions | None = None) -> None:
    """Fail before anything trains: an unknown backend, a missing library, no SLURM."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {BACKENDS}")
    lib = {"ray": "ray", "slurm": "submitit"}.get(backend)
    if lib:
        try:
            __import__(lib)
        except ImportError:
            raise ValueError(f"--backend {backend} needs {lib}: pip install -e '.[cluster]'") from None
    cluster = (options.submitit_cluster if options else None) or "slurm"
    if backend == "slurm" and cluster == "slurm":
        import submitit
        if submitit.SlurmExecutor.affinity() < 0:  # never fall back to local jobs silently
            raise ValueError("--backend slurm: no SLURM here (srun not found); pass --submitit-cluster local "
                             "to run the same job array as processes on this machine")


def group_cost(group) -> float:
    """Training FLOPs of a group: the largest start first, and slurm shards are balanced."""
    run = group[0]
    return len(group) * run.train.steps * step_flops(run)


def dispatch(groups: list[list], backend: str = "serial", device="cpu", root=None,
             options: BackendOptions | None = None, progress=None) -> dict | None:
    """Train every group on backend; records land under root. progress(n) after n runs.
    The local backend returns {device: groups trained there}."""
    options = options or BackendOptions()
    check_backend(backend, options)
    root = str(Path(root).resolve()) if root is not None else None
    groups = sorted(groups, key=group_cost, reverse=True)  # longest first: a shorter tail
    if not groups:
        return
    if backend == "slurm":
        return _slurm(groups, device, root, options, progress)
    if backend == "ray":
        return _ray(groups, device, root, options, progress)
    jobs = options.jobs or _gpu_count(device) or 1
    if (backend == "serial" or jobs == 1) and options.interleave > 1:
        from runners.interleave import train_interleaved
        train_interleaved(groups, device, root, options.interleave, progress)
        return
    if backend == "serial" or jobs == 1:
        for group in groups:
            train_fitted(group, device, root, options.cap)
            if progress:
                progress(len(group))
        return
    return _local(groups, device, root, jobs, options, progress)


def _gpu_count(device) -> int:
    import torch
    return torch.cuda.device_count() if str(device).startswith("cuda") else 0


# ----------------------------------------------------------------------------- local
_LEASES: dict[str, tuple] = {}  # lock dir -> (open lock file, device), per worker process


def _lease_device(lock_dir: str, slots: int, n_gpus: int, device: str) -> str:
    """This worker's device for the sweep that owns lock_dir: the first free slot j gives
    GPU j % n_gpus. flock is released by the OS when the worker exits."""
    if lock_dir in _LEASES:
        return _LEASES[lock_dir][1]
    for old in list(_LEASES):  # a reused worker from an earlier sweep: give its slot back
        _LEASES.pop(old)[0].close()
    for j in range(slots):
        f = open(os.path.join(lock_dir, f"slot-{j}"), "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            continue
        dev = f"cuda:{j % n_gpus}" if n_gpus else device
        _LEASES[lock_dir] = (f, dev)
        return dev
    raise RuntimeError(f"no free worker slot in {lock_dir} ({slots} slots)")


def _local_work(group, device, root, cap, lock_dir, slots, n_gpus):
    dev = _lease_device(lock_dir, slots, n_gpus, device)
    train_fitted(group, dev, root, cap)
    return len(group), dev


def shared_gpu_note(jobs: int, n_gpus: int) -> str | None:
    """The line the local backend prints when some of its workers share a GPU, else None."""
    if n_gpus < 1 or jobs <= n_gpus:
        return None
    return (f"depthbench: {jobs} local workers on {n_gpus} GPU(s), so some share a GPU; processes take turns "
            "on a GPU, and on one H100 three workers were no faster than one (README, 'Scaling out')")


def _local(groups, device, root, jobs, options, progress) -> dict:
    """Returns {device: groups trained there}: each GPU should appear once per worker."""
    from joblib import Parallel, delayed
    n_gpus = _gpu_count(device)
    note = shared_gpu_note(jobs, n_gpus)
    if note:
        print(note, file=sys.stderr, flush=True)
    used: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="depthbench-slots-") as lock_dir:
        work = (delayed(_local_work)(g, str(device), root, options.cap, lock_dir, jobs, n_gpus) for g in groups)
        for n, dev in Parallel(n_jobs=jobs, backend="loky", batch_size=1,
                               return_as="generator_unordered")(work):
            used[dev] = used.get(dev, 0) + 1
            if progress:
                progress(n)
    return used


# ----------------------------------------------------------------------------- ray
def _ray_work(group, device, root, cap):
    import torch
    if device == "auto":  # Ray sets CUDA_VISIBLE_DEVICES to the actor's GPU
        device = "cuda" if torch.cuda.is_available() else "cpu"
    train_fitted(group, device, root, cap)
    return len(group)


def _ray(groups, device, root, options, progress):
    import ray
    from joblib import Parallel, delayed, parallel_config
    from ray.util.joblib import register_ray
    started = not ray.is_initialized()
    if started:
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address)
        else:  # a fresh local instance, never someone else's cluster found on this machine
            ray.init(address="local", num_cpus=max(options.jobs or 1, os.cpu_count() or 1),
                     include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": _pythonpath()}})
    try:
        gpus = int(ray.cluster_resources().get("GPU", 0))
        use_gpu = gpus > 0 and not str(device).startswith("cpu")
        jobs = options.jobs or (gpus if use_gpu else 1)
        remote = {"num_gpus": 1} if use_gpu else {"num_cpus": 1}
        register_ray()
        work = [delayed(_ray_work)(g, "auto" if use_gpu else "cpu", root, options.cap) for g in groups]
        with parallel_config(backend="ray", n_jobs=jobs, ray_remote_args=remote):
            for n in Parallel(batch_size=1)(work):  # Ray's backend returns a list, not a generator
                if progress:
                    progress(n)
    finally:
        if started:
            ray.shutdown()


def _pythonpath() -> str:
    """The checkout on the workers' path, so an uninstalled checkout works too."""
    here = str(Path(__file__).resolve().parents[1])
    return os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)


# ----------------------------------------------------------------------------- slurm
def deal(groups: list[list], n: int) -> list[list[list]]:
    """Groups dealt into n shards, largest first onto the lightest shard (LPT)."""
    shards, load = [[] for _ in range(n)], [0.0] * n
    for g in sorted(groups, key=group_cost, reverse=True):
        i = load.index(min(load))
        shards[i].append(g)
        load[i] += group_cost(g)
    return [s for s in shards if s]


def _slurm_task(groups, root, cap, gpus, device):
    """One array task: its groups on its own GPUs (several: the local backend)."""
    import torch
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    n = torch.cuda.device_count() if device.startswith("cuda") else 0
    backend = "local" if n > 1 and gpus > 1 else "serial"
    dispatch(groups, backend, device, root, BackendOptions(jobs=n if backend == "local" else 1, cap=cap))
    return sum(len(g) for g in groups)


def _slurm(groups, device, root, options, progress):
    import submitit
    if root is None:
        raise ValueError("the slurm backend needs a records root on a shared disk")
    shards = deal(groups, options.jobs or len(groups))
    folder = options.folder or str(Path(root).parent / "submitit" / "%j")
    cluster = options.submitit_cluster or "slurm"
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    params = dict(name="depthbench", timeout_min=options.time_min, slurm_array_parallelism=len(shards))
    if str(device).startswith("cuda") or cluster == "slurm":
        params["gpus_per_node"] = options.gpus
    if options.partition:
        params["slurm_partition"] = options.partition
    if options.cpus_per_task:
        params["cpus_per_task"] = options.cpus_per_task
    executor.update_parameters(**params)
    on_cpu = str(device).startswith("cpu")
    jobs = executor.map_array(_slurm_task, shards, [root] * len(shards), [options.cap] * len(shards),
                              [options.gpus] * len(shards), ["cpu" if on_cpu else "auto"] * len(shards))
    print(f"submitted {len(jobs)} array task(s), {sum(map(len, shards))} groups: job {jobs[0].job_id.split('_')[0]}"
          f"; logs under {folder}", flush=True)
    for job in jobs:
        n = job.result()  # raises with the task's stderr if it failed
        if progress:
            progress(n)
