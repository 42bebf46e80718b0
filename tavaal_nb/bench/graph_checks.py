"""Correctness checks of the CUDA-graph path that need a GPU: ``python -m tavaal_nb.bench.graph_checks``.

The GPU session runs them first (seconds at the ``ci`` preset); ``tests/test_graph_capture.py`` runs them
wherever CUDA is available. Each returns a dict of what it saw and raises ``AssertionError`` on a failure:

* :func:`check_capture_device`: a step captured for a device that is not the current one (when the
  machine has two GPUs; otherwise the current one, named explicitly) records its work and replays it;
* :func:`check_replayed_draws`: a replayed step's random draws (the training generator and the default
  CUDA generator) equal the eager step's bit for bit, and differ from call to call;
* :func:`check_fp32_graphed_vs_eager`: task-model and VAE/D training in fp32 with TF32 off, captured and
  eager from the same seeds, agree to 1e-4 after 20 steps, with no step fallen back to eager.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from tavaal_nb.cuda_graphs import GraphedStep, clear_eager_fallbacks, eager_fallbacks

__all__ = ["CHECKS", "check_capture_device", "check_replayed_draws", "check_fp32_graphed_vs_eager", "run_checks"]

FP32_TOLERANCE = 1e-4
"""Largest relative difference between captured and eager fp32 training after :data:`FP32_STEPS` steps."""
FP32_STEPS = 20


def check_capture_device(device: torch.device | None = None) -> dict:
    """A counter step captured on ``device`` (by default the second GPU when there are two, else the
    first) while another device is current where possible: every replay adds one, so replays do work."""
    count = torch.cuda.device_count()
    device = device or torch.device("cuda", 1 if count > 1 else 0)
    with torch.cuda.device(0):  # the current device stays cuda:0 whatever the step's device
        counter = torch.zeros((), device=device)

        def add_one() -> None:
            counter.add_(1)

        graphed = GraphedStep(add_one, True, device, "device check")
        calls = 8
        for _ in range(calls):
            graphed()
        torch.cuda.synchronize(device)
    assert graphed.graph is not None, "the step was not captured"
    assert eager_fallbacks().get("device check") is None, eager_fallbacks()
    assert int(counter) == calls, f"{calls} calls but the counter says {int(counter)}: replays did nothing"
    return {"device": str(device), "current_device": 0, "calls": calls, "counter": int(counter)}


def check_replayed_draws(device: torch.device | None = None, calls: int = 8) -> dict:
    """Random draws of a captured step (a generator of its own and the device's default generator)
    equal an eager step's from the same seeds, bit for bit, and differ from one call to the next."""
    device = device or torch.device("cuda", torch.cuda.current_device())

    def draws(capture: bool) -> list[torch.Tensor]:
        generator = torch.Generator(device=device).manual_seed(0)
        with torch.cuda.device(device):
            torch.cuda.manual_seed(1)
        out = torch.empty(3, 4096, device=device)

        def step() -> None:
            out[0].copy_(torch.rand(4096, device=device, generator=generator))
            out[1].copy_(torch.randn(4096, device=device))  # the default generator
            out[2].copy_(torch.randint(0, 1 << 20, (4096,), device=device, generator=generator).float())

        graphed = GraphedStep(step, capture, device, "random-draw check", [generator])
        seen = []
        for _ in range(calls):
            graphed()
            seen.append(out.clone())
        assert (graphed.graph is not None) == capture, "the step was not captured"
        return seen

    captured, eager = draws(True), draws(False)
    for k, (a, b) in enumerate(zip(captured, eager)):
        assert torch.equal(a, b), f"call {k + 1}: replayed draws differ from eager ones (Philox offsets)"
    for k in range(1, calls):
        assert not torch.equal(captured[k][:2], captured[k - 1][:2]), f"calls {k} and {k + 1} drew the same numbers"
    return {"calls": calls, "bitwise_equal": True}


def _relative_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    worst = 0.0
    for name, x in a.items():
        y = b[name]
        if x.is_floating_point():
            scale = max(1.0, float(x.abs().max()))
            worst = max(worst, float((x - y).abs().max()) / scale)
        elif not torch.equal(x, y):
            worst = max(worst, float("inf"))
    return worst


def check_fp32_graphed_vs_eager(device: torch.device | None = None, steps: int = FP32_STEPS) -> dict:
    """``steps`` task-model steps and ``steps`` VAE/D iterations in fp32, TF32 off, captured and eager:
    losses and weights within :data:`FP32_TOLERANCE` (relative to each tensor's scale)."""
    from tavaal_nb import make_config
    from tavaal_nb.experiment_data import make_augmenter, prepare_data
    from tavaal_nb.losses import bce_ranking_loss
    from tavaal_nb.models import ConditionalVAE, Discriminator
    from tavaal_nb.strategies.vaal import train_adversarial
    from tavaal_nb.training import build_task_model, train_task_model

    device = device or torch.device("cuda", torch.cuda.current_device())
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    results = {}
    try:
        for graphs in ("on", "off"):
            clear_eager_fallbacks()
            config = make_config("ci", dataset="synthetic", device=str(device), precision="fp32", allow_tf32=False,
                                 cuda_graphs=graphs, epochs=1, milestones=(1,), ranker_detach_epoch=1)
            data = prepare_data(config, device)
            augmenter = make_augmenter(config, data)
            torch.manual_seed(0)
            task = build_task_model(config, data, True, device)
            labeled = torch.arange(steps * config.batch_size, device=device) % data.train_size
            losses = train_task_model(task, data, labeled, config, augmenter,
                                      torch.Generator(device=device).manual_seed(0), bce_ranking_loss, progress=False)
            torch.manual_seed(0)
            vae = ConditionalVAE(data.channels, data.image_size, config.z_dim, 1, config.vae_width).to(device)
            disc = Discriminator(config.z_dim, 1, config.disc_hidden, config.disc_depth).to(device)
            half = data.train_size // 2
            r = torch.randn(data.train_size, generator=torch.Generator().manual_seed(1)).to(device)
            history = train_adversarial(vae, disc, data.train_images[:half], data.train_images[half:], r[:half],
                                        r[half:], config, augmenter, steps,
                                        torch.Generator(device=device).manual_seed(0), progress=False)
            assert not eager_fallbacks(), f"cuda_graphs={graphs}: steps fell back to eager: {eager_fallbacks()}"
            weights = {**{f"task.{k}": v for k, v in task.backbone.state_dict().items()},
                       **{f"vae.{k}": v for k, v in vae.state_dict().items()},
                       **{f"disc.{k}": v for k, v in disc.state_dict().items()}}
            results[graphs] = losses, history, {k: v.detach().float().clone() for k, v in weights.items()}
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
    (loss_on, hist_on, w_on), (loss_off, hist_off, w_off) = results["on"], results["off"]
    differences = {"task_loss": max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(loss_on, loss_off)),
                   "vae_d_losses": max(abs(a - b) / max(1.0, abs(b)) for name in hist_on
                                       for a, b in zip(hist_on[name], hist_off[name])),
                   "weights": _relative_difference(w_on, w_off)}
    for what, value in differences.items():
        assert value <= FP32_TOLERANCE, f"{what}: captured and eager differ by {value:.2e} (> {FP32_TOLERANCE})"
    return {"steps": steps, "max_relative_difference": differences}


CHECKS: dict[str, Callable[[], dict]] = {"capture on the run's device": check_capture_device,
                                         "replayed random draws": check_replayed_draws,
                                         "fp32 captured vs eager": check_fp32_graphed_vs_eager}


def run_checks(names: list[str] | None = None) -> dict[str, dict]:
    """Each check's outcome: ``{"ok": bool, "seconds": s, ...}`` with what it saw, or its error."""
    outcome = {}
    for name in names or list(CHECKS):
        tic = time.perf_counter()
        try:
            outcome[name] = {"ok": True, **CHECKS[name]()}
        except Exception as error:  # noqa: BLE001 - every check runs and reports
            outcome[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        outcome[name]["seconds"] = round(time.perf_counter() - tic, 2)
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tavaal_nb.bench.graph_checks", description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="also write the outcomes as JSON")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("graph checks: skipped (no CUDA device here)")
        return 0
    outcome = run_checks()
    for name, result in outcome.items():
        detail = {k: v for k, v in result.items() if k not in ("ok", "seconds")}
        print(f"{'ok    ' if result['ok'] else 'FAILED'} {name} ({result['seconds']} s): {detail}")
    if args.json:
        args.json.write_text(json.dumps(outcome, indent=2))
    return 0 if all(result["ok"] for result in outcome.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
