"""Training and inference of the task learner (ResNet-18) with its optional Ranker (eq. 5).

Data stays on the device as uint8; each step gathers a batch by index, augments it
there and runs under autocast (bf16, or fp16 with a gradient scaler on older GPUs) with
channels_last on CUDA, where whole steps are replayed as CUDA graphs (:mod:`tavaal_nb.cuda_graphs`).
The only host syncs are one per epoch (loss for the progress bar and the NaN check) and one
per evaluation (and, at fp16, the gradient scaler's overflow check).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tavaal_nb.config import Config
from tavaal_nb.cuda_graphs import DeviceTally, GraphedStep, fetch
from tavaal_nb.data.augment import Augmenter
from tavaal_nb.data.datasets import ImageData
from tavaal_nb.errors import NonFiniteLossError
from tavaal_nb.losses import PairwiseRankingLoss
from tavaal_nb.models import LossPredictionModule, ResNet18
from tavaal_nb.progress import progress_bar

__all__ = ["Runtime", "auto_precision", "cuda_capability", "TaskModel", "synchronize", "maybe_compile",
           "build_task_model", "train_task_model", "evaluate", "infer", "index_batches", "plain_test_accuracy"]


def cuda_capability(device: torch.device) -> tuple[int, int] | None:
    """The compute capability of a CUDA ``device``, or None when it cannot be read (the CPU, or no CUDA here)."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability(device)
    return major, minor


def auto_precision(device: torch.device) -> str:
    """What ``precision="auto"`` means on ``device``: bf16 on CUDA GPUs of compute capability 8.0 or
    newer (A100, H100, ...), fp16 with a gradient scaler on older ones (V100 7.0, T4 7.5), which have
    no fast bf16, and fp32 on the CPU. A CUDA device whose capability cannot be read gets bf16."""
    if device.type != "cuda":
        return "fp32"
    capability = cuda_capability(device)
    return "fp16" if capability is not None and capability < (8, 0) else "bf16"


@dataclass(frozen=True)
class Runtime:
    """How the numbers are computed: autocast, channels_last, fused optimizers and CUDA graphs, on by
    default on CUDA only; ``torch.compile`` off unless asked for.

    ``Config.precision`` (auto | bf16 | fp16 | fp32), ``Config.memory_format``
    (auto | channels_last | contiguous) and ``Config.fused_optimizers`` (auto | on | off)
    force either on any device, so the CUDA code path also runs (and is tested) on the
    CPU. On the CPU, ``auto`` keeps fp32, the default layout and plain optimizers:
    results stay exact and seed-reproducible. On CUDA, ``auto`` precision is bf16 from compute
    capability 8.0 on and fp16 below (:func:`auto_precision`); fp16 runs with a gradient scaler
    (:meth:`grad_scaler`), which is a no-op at the other precisions. ``Config.compile`` compiles the task
    model and the VAE's encoder and decoder (:func:`maybe_compile`). ``Config.allow_tf32=False``
    turns TF32 off on CUDA (:meth:`apply_tf32`, called when a task model starts training).

    ``Config.cuda_graphs`` (auto | on | off): capture a whole task step and a whole VAE/D iteration as
    CUDA graphs (:mod:`tavaal_nb.cuda_graphs`). ``auto`` is on for CUDA devices, except with fp16 (its gradient
    scaler reads its overflow check on the host every step, which a graph cannot do) or with
    ``compile`` (``torch.compile`` has its own graph modes); ``on`` on a CPU device or with fp16 is an error.

    ``Config.autocast_cache`` (default on, PyTorch's default): autocast casts each weight once per autocast
    region and reuses the cast, instead of casting it again at each use (the VAE and D are each used on
    two batches per step). Valid under capture because every autocast region lies wholly inside one
    step, so the cache lives and dies within a replay. Off re-casts per use, which also sums the two
    uses' weight gradients in fp32 rather than in the autocast dtype (a rounding-level difference).
    """

    amp: bool
    channels_last: bool
    fused: bool = False
    compile: bool = False
    tf32: bool = True
    fp16: bool = False  # with amp: autocast to float16 (and a gradient scaler), not bfloat16
    cuda_graphs: bool = False
    autocast_cache: bool = True

    @classmethod
    def resolve(cls, config: Config | None, device: torch.device) -> Runtime:
        cuda = device.type == "cuda"
        precision = auto_precision(device) if config is None or config.precision == "auto" else config.precision
        amp, fp16 = precision in ("bf16", "fp16"), precision == "fp16"
        if config is None:
            return cls(amp, cuda, cuda, fp16=fp16)
        channels_last = {"auto": cuda, "channels_last": True, "contiguous": False}[config.memory_format]
        fused = {"auto": cuda, "on": True, "off": False}[config.fused_optimizers]
        graphs = {"auto": cuda and not fp16 and not config.compile, "on": True, "off": False}[config.cuda_graphs]
        if graphs and not cuda:
            raise ValueError(f"cuda_graphs='on' needs a CUDA device, but this run's device is {device.type}; "
                             f"use cuda_graphs=auto (on exactly when the device is CUDA) or off")
        if graphs and fp16:
            raise ValueError("cuda_graphs='on' does not work with fp16 precision (its gradient scaler checks for "
                             "overflow on the host every step); use precision=bf16 or fp32, or cuda_graphs=auto/off")
        return cls(amp, channels_last, fused, bool(config.compile), bool(config.allow_tf32), fp16, graphs,
                   bool(config.autocast_cache))

    def apply_tf32(self) -> None:
        """With ``allow_tf32=False`` turn TF32 off for cuDNN convolutions and CUDA matmuls (the
        authors' fp32 numerics); otherwise leave PyTorch's settings as they are. Process-wide."""
        if not self.tf32:
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """Autocast at the run's precision (nothing at fp32), its cast-weight cache as ``autocast_cache``
        says. Every autocast region must lie wholly inside one (captured) step: the cache is emptied when
        the region ends, so no cast made inside a capture outlives it."""
        if self.amp:
            return torch.autocast(device.type, dtype=torch.float16 if self.fp16 else torch.bfloat16,
                                  cache_enabled=self.autocast_cache)
        return contextlib.nullcontext()

    def grad_scaler(self, device: torch.device) -> torch.amp.GradScaler:
        """A gradient scaler for one optimizer: active at fp16, a pass-through otherwise."""
        return torch.amp.GradScaler(device.type, enabled=self.fp16)

    def batch(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


@dataclass
class TaskModel:
    """The task learner and, for methods that use one, its Ranker."""

    backbone: ResNet18
    ranker: LossPredictionModule | None = None

    def parameters(self):
        yield from self.backbone.parameters()
        if self.ranker is not None:
            yield from self.ranker.parameters()

    def train(self, mode: bool = True) -> TaskModel:
        self.backbone.train(mode)
        if self.ranker is not None:
            self.ranker.train(mode)
        return self

    def eval(self) -> TaskModel:
        return self.train(False)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA only; a no-op elsewhere), e.g. before reading a clock."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def maybe_compile(runtime: Runtime, *modules: nn.Module) -> None:
    """``torch.compile`` each module in place when ``runtime.compile`` (parameters, names and
    attributes stay as they are); nothing otherwise. Compilation happens at the first call."""
    if runtime.compile:
        for module in modules:
            module.compile()


def build_task_model(config: Config, data: ImageData, with_ranker: bool, device: torch.device) -> TaskModel:
    """A freshly initialised ResNet-18 (and Ranker) on ``device``; uses the global RNG for init.

    With ``config.compile`` the backbone is compiled in place (the small Ranker is not)."""
    backbone = ResNet18(data.num_classes, data.channels, config.width)
    ranker = LossPredictionModule(backbone.stage_channels) if with_ranker else None
    runtime = Runtime.resolve(config, device)
    backbone = backbone.to(device).to(memory_format=runtime.memory_format)  # torch's stubs take not both at once
    maybe_compile(runtime, backbone)
    if ranker is not None:
        ranker = ranker.to(device)
    return TaskModel(backbone, ranker)


def index_batches(indices: Tensor, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    """One epoch of shuffled mini-batches of ``indices`` (a final batch of one is dropped: batch norm)."""
    order = indices[torch.randperm(indices.numel(), generator=generator, device=generator.device).to(indices.device)]
    batches = list(order.split(batch_size))
    if len(batches) > 1 and batches[-1].numel() == 1:
        batches.pop()
    return batches


def train_task_model(
    task: TaskModel,
    data: ImageData,
    labeled: Tensor,
    config: Config,
    augmenter: Augmenter,
    generator: torch.Generator,
    ranker_criterion: PairwiseRankingLoss | None = None,
    progress: bool = True,
    on_epoch: Callable[[int, float], None] | None = None,
    _static_steps: bool | None = None,
) -> list[float]:
    """Train on the labeled indices for ``config.epochs`` epochs (more on a small set with ``config.min_steps``:
    :meth:`~tavaal_nb.config.Config.task_schedule`); returns the per-epoch mean loss.

    Objective (eq. 5): ``L_T(y^, y) + eta * L_rank(R(x), l)`` where ``l`` are the
    detached per-sample cross-entropies and ``L_rank`` is ``ranker_criterion``, eq. 1 or eq. 4. From epoch
    ``ranker_detach_epoch`` on (``epoch >= ranker_detach_epoch``, epochs counted from 0; the public code tests
    ``epoch > 120``, so the ``paper`` preset says 121: 79 of 200 epochs), the Ranker sees detached features, so it no longer
    shapes the backbone (Learning Loss's schedule). SGD with momentum and weight
    decay, lr x0.1 at each milestone.

    With ``Runtime.cuda_graphs`` every full batch of an epoch is one replay of a captured step
    (:mod:`tavaal_nb.cuda_graphs`): the epoch's shuffled order is copied once into a static
    ``(full batches, batch_size)`` table and the step reads its row through the device step counter.
    The final partial batch (when the labeled count is not a multiple of the batch size) has the same
    size every epoch: it is copied into a static buffer and replayed as a second graph of the same step
    function, sharing the first one's memory pool. New graphs are captured when the learning rate or the
    Ranker's detaching changes (both are constants inside a graph). The epoch's loss sum and NaN check
    are read together, one transfer per epoch. ``_static_steps`` (internal, for tests)
    forces that static-table path, captured or not; by default it is taken exactly with CUDA graphs.
    """
    device = labeled.device
    runtime = Runtime.resolve(config, device)
    runtime.apply_tf32()
    if (ranker_criterion is None) != (task.ranker is None):
        raise ValueError("a Ranker and its ranking loss (ranker_criterion) go together: pass both or neither")
    optimizer = torch.optim.SGD(
        list(task.parameters()), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
        fused=runtime.fused,
    )
    scaler = runtime.grad_scaler(device)
    epochs, milestones, detach_epoch = config.task_schedule(labeled.numel())
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=0.1)
    augment = data.augment
    tally = DeviceTally((), (), device)
    static = runtime.cuda_graphs if _static_steps is None else _static_steps
    full = labeled.numel() // config.batch_size if static else 0
    rows = torch.empty((full, config.batch_size), dtype=labeled.dtype, device=device)
    tail: Tensor | None = None  # the static partial batch (labeled count mod batch size), made at the first epoch
    graphed: GraphedStep | None = None  # the graphed full-batch step
    last: GraphedStep | None = None  # and the graphed last partial-batch step
    graph_key: tuple[bool, float] | None = None

    def step(batch: Tensor, detach: bool) -> None:
        """One SGD step of eq. 5 on ``batch`` (indices into the training pool); adds its loss to ``tally``."""
        x = runtime.batch(augmenter(data.train_images[batch], generator, train=augment))
        y = data.train_labels[batch]
        with runtime.autocast(device):
            logits, _, features = task.backbone(x)
            per_sample = F.cross_entropy(logits.float(), y, reduction="none")
            loss = per_sample.mean()
            if task.ranker is not None and ranker_criterion is not None:
                feats = [f.detach() for f in features] if detach else features
                predicted = task.ranker(feats).float()
                even = (predicted.numel() // 2) * 2
                if even:
                    loss = loss + config.ranker_weight * ranker_criterion(predicted[:even], per_sample[:even])
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        detached = loss.detach()
        tally.add(detached, detached)

    history: list[float] = []
    task.train()
    bar = progress_bar(range(epochs), desc="task epochs", leave=False, disable=not progress)
    for epoch in bar:
        detach = epoch >= detach_epoch
        tally.reset()
        batches = index_batches(labeled, config.batch_size, generator)
        if static:
            key = (detach, optimizer.param_groups[0]["lr"])
            if key != graph_key:  # a new constant inside the step: new graphs
                graphed = last = None  # frees the old graphs' memory first

                def full_step(detach: bool = detach) -> None:
                    step(tally.row(rows), detach)

                def last_step(detach: bool = detach) -> None:
                    # `tail` is read when the step runs: the static partial-batch tensor made below, before last()
                    assert tail is not None  # noqa: B023
                    step(tail, detach)  # noqa: B023

                graphed = GraphedStep(full_step, runtime.cuda_graphs, device, "task step", [generator], [optimizer])
                last = GraphedStep(last_step, runtime.cuda_graphs, device, "task step (last partial batch)",
                                   [generator], [optimizer], share_pool_with=graphed)
                graph_key = key
            assert graphed is not None and last is not None  # made above at the first epoch (graph_key was None)
            if full:
                rows.copy_(torch.cat(batches[:full]).view(rows.shape))
                for _ in range(full):
                    graphed()
            if len(batches) > full:  # the partial batch: the same size every epoch, so a graph of its own
                tail = torch.empty_like(batches[full]) if tail is None else tail
                tail.copy_(batches[full])
                last()
        else:
            for batch in batches:
                step(batch, detach)
        schedule.step()
        (loss_sum,), (bad_step,) = fetch(tally.sums, tally.first_bad)  # one host sync per epoch
        if bad_step >= 0:
            raise NonFiniteLossError("task model", epoch * len(batches) + bad_step, f"epoch {epoch + 1}")
        mean_loss = loss_sum / max(1, len(batches))
        history.append(mean_loss)
        bar.set_postfix(loss=f"{mean_loss:.3f}")
        if on_epoch is not None:
            on_epoch(epoch, mean_loss)
    task.eval()
    return history


@torch.no_grad()
def infer(task: TaskModel, images: Tensor, augmenter: Augmenter, batch_size: int,
          runtime: Runtime | None = None) -> dict[str, Tensor]:
    """Eval-mode outputs on un-augmented ``images`` (uint8, on the device).

    Returns ``logits``, ``embedding`` and, with a Ranker, ``rank`` (its predicted
    loss: TA-VAAL's rank variable before any transform), all float32 on the device.
    """
    task.eval()
    device = images.device
    runtime = runtime or Runtime.resolve(None, device)
    outputs: dict[str, list[Tensor]] = {"logits": [], "embedding": [], "rank": []}
    for chunk in images.split(batch_size):
        with runtime.autocast(device):
            logits, embedding, features = task.backbone(runtime.batch(augmenter(chunk)))
            outputs["logits"].append(logits.float())
            outputs["embedding"].append(embedding.float())
            if task.ranker is not None:
                outputs["rank"].append(task.ranker(features).float())
    return {key: torch.cat(value) for key, value in outputs.items() if value}


@torch.no_grad()
def evaluate(task: TaskModel, data: ImageData, augmenter: Augmenter, batch_size: int,
             runtime: Runtime | None = None) -> float:
    """Test accuracy in percent (eval mode, un-augmented, one host sync)."""
    task.eval()
    runtime = runtime or Runtime.resolve(None, data.test_labels.device)
    correct = torch.zeros((), dtype=torch.long, device=data.test_labels.device)
    for images, labels in zip(data.test_images.split(batch_size), data.test_labels.split(batch_size)):
        with runtime.autocast(images.device):
            logits, _, _ = task.backbone(runtime.batch(augmenter(images)))
        correct += (logits.argmax(dim=1) == labels).sum()
    return 100.0 * int(correct) / max(1, int(data.test_labels.numel()))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def plain_test_accuracy(config: Config, data: ImageData, labeled: Tensor, augmenter: Augmenter, seed: int,
                        progress: bool = False) -> float:
    """Sec. 6.1 / Fig. 4: test accuracy (%) of a plain task model, no Ranker, trained from scratch
    on ``labeled`` with the run's schedule (same ResNet-18, epochs, optimiser, milestones).

    Its initialisation and batch order come from ``seed`` alone, and every RNG state (CPU and
    the data's device) is restored afterwards, so the calling cycle's other records do not
    depend on whether this model was trained.
    """
    device = labeled.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        generator = torch.Generator(device=device).manual_seed(seed)
        task = build_task_model(config, data, False, device)
        train_task_model(task, data, labeled, config, augmenter, generator, None, progress)
        return evaluate(task, data, augmenter, config.eval_batch_size, Runtime.resolve(config, device))
