"""Speed benchmarks (``python -m tavaal_nb bench``); figures go to ``docs/benchmarks.md``.

* :mod:`~tavaal_nb.bench.phases`: the workload, one cycle's three phases (task training, VAE + discriminator,
  scoring) on synthetic images of a dataset's shape, their FLOPs, and the trial their rates predict;
* :mod:`~tavaal_nb.bench.speed`: the bench table (``run_bench``), with ``--baseline`` against the public
  code's pipeline (:mod:`tavaal_nb.bench.public_pipeline`), and bench files side by side (``format_comparison``);
* :mod:`~tavaal_nb.bench.profiling`: host operator calls per step and GPU busy time (``torch.profiler``);
* :mod:`~tavaal_nb.bench.ablation`: the runtime switches one at a time (``--ablation``);
* :mod:`~tavaal_nb.bench.concurrency`: trials per hour with N processes on one device (``--concurrency``);
* :mod:`~tavaal_nb.bench.graph_checks`: the CUDA-graph correctness checks a GPU session runs first;
* :mod:`~tavaal_nb.bench.public_pipeline`: the public code's pipeline, re-created for ``--baseline``;
* :mod:`~tavaal_nb.bench.isolation`: a function run in its own spawned process (each ablation variant).
"""
