"""Run configuration: :class:`Config` and :func:`make_config` (a stored config is read against it by
:mod:`tavaal_nb.stored_config`: old files, JSON types, the comparison on resume).

:class:`Config` checks values (ranges, choices, consistency). Names are checked where they are
looked up: the dataset by the dataset registry and the methods by the strategy registry, at the
start of a run or a sweep (:func:`tavaal_nb.preflight.check_names`). This module sits below both
registries' users and below the models; it imports only the presets (:mod:`tavaal_nb.presets`)
and the dataset registry (for the paper's per-dataset settings).
"""

from __future__ import annotations

import dataclasses
import math
import operator
import sys
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch

from tavaal_nb.data.datasets import DATASETS
from tavaal_nb.presets import PRESET_HELP, PRESETS, authors_code_adjustments, default_preset, resolve_preset
from tavaal_nb.schema import is_integer, is_number

__all__ = ["Config", "PRESETS", "PRESET_HELP", "default_preset", "resolve_preset", "make_config", "SEEDINGS",
           "RENAMED_FIELDS", "renamed_fields", "StrategyParams"]

R_TRANSFORMS = ("sigmoid", "raw")
SEEDINGS = ("shared", "per-method")
"""How a cycle's random draws are seeded (:func:`tavaal_nb.seeding.cycle_seeds`): ``shared`` gives every method of
a trial the same task-model initialisation, batch order, augmentation draws and candidate subset at a cycle
(common random numbers; a method's own seed enters only its strategy), ``per-method`` seeds all of them from
the method (what this package did before 0.2, and in spirit the public code, which seeds nothing)."""
ADVERSARIAL_INITS = ("kaiming", "pytorch")
"""VAE/discriminator initialisation (:mod:`tavaal_nb.models.adversarial`): the public code's or PyTorch's."""
VAE_LAYOUTS = ("padded", "authors")
"""How :class:`tavaal_nb.models.vae.ConditionalVAE` builds for 28x28 images: padded to 32, or the public code's."""
MAX_COUNT = 2**31 - 1
"""The largest count a Config takes (epochs, sizes, widths): larger ones overflow torch and the progress bars."""
MAX_VAE_EPOCHS = 1e6
"""The most VAE passes per query a Config takes (more overflows the iteration count; the paper's code: 100)."""
MAX_SEED = 2**63 - 1
"""The largest seed (torch generators take 64-bit seeds; derived seeds are 63-bit)."""


def _is_finite(value: Any) -> bool:
    """A number that is neither NaN nor infinite (``1e309`` parses as inf; ints are always finite)."""
    return is_integer(value) or (isinstance(value, float) and math.isfinite(value))


class StrategyParams(Mapping[str, Mapping[str, Any]]):
    """A Config's ``strategy_params``: ``{method: {key: value}}``, read-only and hashable like the other fields.

    Values are checked against what each strategy declares where methods are looked up
    (:mod:`tavaal_nb.strategies.params`); here only the shape is (:meth:`Config.validate`).
    """

    def __init__(self, data: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        data = {} if data is None else data
        if not isinstance(data, Mapping) or not all(isinstance(v, Mapping) for v in data.values()):
            raise ValueError(f"invalid configuration:\n  - strategy_params must map method names to {{key: value}} "
                             f"(e.g. {{'least-confidence': {{'temperature': 2.0}}}}), got {data!r}")
        self._data = {method: dict(values) for method, values in data.items()}

    def __getitem__(self, method: str) -> Mapping[str, Any]:
        return MappingProxyType(self._data[method])

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(repr(sorted((m, sorted(v.items(), key=repr)) for m, v in self._data.items())))

    def __reduce__(self) -> tuple[Any, ...]:  # copies and pickles as the plain dict
        return (StrategyParams, (self.to_dict(),))

    def __repr__(self) -> str:
        return repr(self._data)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {method: dict(values) for method, values in self._data.items()}


@dataclass(frozen=True)
class Config:
    """Everything that determines an active-learning experiment.

    The defaults are the ``paper`` preset: the paper's text wherever it is explicit,
    the authors' public code where the paper is silent (see ``docs/settings.md``).
    """

    dataset: str = "cifar10"
    methods: tuple[str, ...] = ("tavaal",)
    trials: int = 5
    first_trial: int = 0  # runs trials first_trial .. first_trial + trials - 1 (a sweep's one-trial runs)
    cycles: int = 10
    initial: int = 1000
    budget: int = 1000
    subset: int = 10_000
    # task learner (ResNet-18) and its Ranker / loss prediction module
    width: int = 64
    epochs: int = 200
    milestones: tuple[int, ...] = (160,)
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.005
    batch_size: int = 128
    min_steps: int = 0  # at least this many optimizer steps per cycle: epochs grow on small labeled sets (0: off)
    crop_padding: int = 2
    ranker_weight: float = 1.0
    ranker_detach_epoch: int = 121
    ranker_margin: float = 1.0  # eq. 1's margin (Learning Loss's Ranker objective), for lloss and vaal-lloss
    # conditional VAE and discriminator
    vae_width: int = 128
    z_dim: int = 32
    vae_lr: float = 5e-4
    disc_lr: float = 5e-4
    vae_batch_size: int = 128
    vae_epochs: float = 100.0
    vae_iterations: int | None = None
    num_vae_steps: int = 1  # VAE steps per discriminator step (TA-VAAL's code: 1; VAAL's: 2)
    kl_weight: float = 1.0
    adversarial_weight: float = 1.0
    disc_depth: int = 3  # Linear layers: the public code's Linear-ReLU-Linear-ReLU-Linear
    disc_hidden: int = 512
    adversarial_init: str = "kaiming"  # VAE/discriminator weights: kaiming (public code) or pytorch (defaults)
    vae_layout: str = "padded"  # 28x28 images: padded to 32 inside the VAE, or authors (the public code's build)
    decoder_r: str = "sigmoid"
    discriminator_r: str = "raw"
    # data and run
    train_limit: int | None = None
    test_limit: int | None = None
    eval_batch_size: int = 1024
    precision: str = "auto"
    memory_format: str = "auto"
    fused_optimizers: str = "auto"  # fused SGD/Adam kernels: auto (on CUDA only), on, off
    cuda_graphs: str = "auto"  # whole training steps as CUDA graphs: auto (on CUDA only), on (CUDA only), off
    compile: bool = False  # torch.compile the task model and the VAE (optional; off by default)
    autocast_cache: bool = True  # autocast casts each weight once per region (PyTorch's default); False: per use
    allow_tf32: bool = True  # False: TF32 off on CUDA (convolutions and matmuls in true fp32)
    retrain_plain: bool = False  # also train a plain task model (no Ranker) per cycle (sec. 6.1, Fig. 4)
    seeding: str = "shared"  # shared: common random numbers across methods; per-method: each method its own draws
    seed: int = 0
    device: str = "auto"
    data_dir: str | None = None
    preset: str = "paper"
    # each method's declared parameters, as given (tavaal_nb.strategies.params): {method: {key: value}}
    strategy_params: StrategyParams = StrategyParams()

    def __post_init__(self) -> None:
        methods = self.methods
        if isinstance(methods, str):  # "tavaal,random" is two methods, as on the command line
            methods = [m.strip() for m in methods.split(",") if m.strip()]
        if not isinstance(methods, (list, tuple)) or not all(isinstance(m, str) for m in methods):
            raise ValueError(f"invalid configuration:\n  - methods must be method names (a list of str, or one str "
                             f"with commas), got {self.methods!r}")
        object.__setattr__(self, "methods", tuple(methods))
        if not isinstance(self.strategy_params, StrategyParams):
            object.__setattr__(self, "strategy_params", StrategyParams(self.strategy_params))
        try:  # operator.index: ints (numpy's too), never floats or strings
            object.__setattr__(self, "milestones", tuple(operator.index(m) for m in self.milestones))
        except TypeError:
            raise ValueError(f"invalid configuration:\n  - milestones must be a list of epoch numbers (integers), "
                             f"got {self.milestones!r}") from None
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise ``ValueError`` naming every invalid field and what is valid (names: see the module)."""
        problems: list[str] = []
        if not isinstance(self.dataset, str) or not self.dataset:
            problems.append(f"dataset must be a dataset name (see `python -m tavaal_nb datasets`), got {self.dataset!r}")
        if not self.methods:
            problems.append("methods is empty; give at least one method (see `python -m tavaal_nb methods`)")
        if len(set(self.methods)) != len(self.methods):
            problems.append(f"methods repeat a name: {list(self.methods)}")
        positive = ["trials", "cycles", "initial", "budget", "subset", "width", "epochs", "batch_size",
                    "vae_width", "z_dim", "vae_batch_size", "num_vae_steps", "disc_hidden", "eval_batch_size"]
        for name in positive:
            value = getattr(self, name)
            if not is_integer(value) or not 1 <= value <= MAX_COUNT:
                problems.append(f"{name} must be a positive integer up to {MAX_COUNT}, got {value!r}")
        if not is_integer(self.min_steps) or not 0 <= self.min_steps <= MAX_COUNT:
            problems.append(f"min_steps must be an integer in 0..{MAX_COUNT} (0: off), got {self.min_steps!r}")
        if self.seeding not in SEEDINGS:
            problems.append(f"seeding must be one of {SEEDINGS} (shared: common random numbers across methods), "
                            f"got {self.seeding!r}")
        for name in ("ranker_detach_epoch", "crop_padding", "disc_depth", "first_trial"):
            if not is_integer(getattr(self, name)) or abs(getattr(self, name)) > MAX_COUNT:
                problems.append(f"{name} must be an integer up to {MAX_COUNT}, got {getattr(self, name)!r}")
        if not is_integer(self.seed) or not 0 <= self.seed <= MAX_SEED:
            problems.append(f"seed must be an integer in 0..{MAX_SEED} (2**63 - 1), got {self.seed!r}")
        if self.vae_iterations is not None and (not is_integer(self.vae_iterations) or self.vae_iterations > MAX_COUNT):
            problems.append(f"vae_iterations must be a positive integer up to {MAX_COUNT} or None, "
                            f"got {self.vae_iterations!r}")
        numbers = ("lr", "vae_lr", "disc_lr", "vae_epochs", "momentum", "weight_decay", "ranker_weight", "kl_weight",
                   "adversarial_weight", "ranker_margin")
        for name in numbers:
            if not is_number(getattr(self, name)):
                problems.append(f"{name} must be a number, got {getattr(self, name)!r}")
            elif not _is_finite(getattr(self, name)):
                problems.append(f"{name} must be a finite number, got {getattr(self, name)!r}")
        if _is_finite(self.vae_epochs) and self.vae_epochs > MAX_VAE_EPOCHS:
            problems.append(f"vae_epochs must be at most {MAX_VAE_EPOCHS:g} (passes over the pool per query), "
                            f"got {self.vae_epochs!r}")
        # the comparisons below look only at values of the right type (the others are named above)
        for name in ("lr", "vae_lr", "disc_lr"):
            if is_number(getattr(self, name)) and not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("momentum", "weight_decay", "ranker_weight", "kl_weight", "adversarial_weight", "ranker_margin"):
            if is_number(getattr(self, name)) and not getattr(self, name) >= 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if isinstance(self.subset, int) and isinstance(self.budget, int) and self.subset < self.budget:
            problems.append(f"subset ({self.subset}) must be at least the budget ({self.budget})")
        if isinstance(self.batch_size, int) and self.batch_size < 2:
            problems.append(f"batch_size must be at least 2 (ranking losses pair samples), got {self.batch_size}")
        if isinstance(self.vae_batch_size, int) and self.vae_batch_size < 2:
            problems.append(f"vae_batch_size must be at least 2 (batch norm), got {self.vae_batch_size}")
        if isinstance(self.epochs, int) and any(not 0 < m <= self.epochs for m in self.milestones):
            problems.append(f"milestones must lie in 1..epochs={self.epochs}, got {list(self.milestones)}")
        if list(self.milestones) != sorted(self.milestones):
            problems.append(f"milestones must be ascending, got {list(self.milestones)}")
        if is_integer(self.ranker_detach_epoch) and not 0 <= self.ranker_detach_epoch:
            problems.append(f"ranker_detach_epoch must be >= 0, got {self.ranker_detach_epoch}")
        if is_integer(self.crop_padding) and self.crop_padding < 0:
            problems.append(f"crop_padding must be >= 0, got {self.crop_padding}")
        if is_integer(self.disc_depth) and self.disc_depth < 2:
            problems.append(f"disc_depth (Linear layers of the discriminator) must be >= 2, got {self.disc_depth}")
        if is_integer(self.vae_iterations) and self.vae_iterations < 1:
            problems.append(f"vae_iterations must be a positive integer or None, got {self.vae_iterations}")
        if is_number(self.vae_epochs) and not self.vae_epochs > 0:
            problems.append(f"vae_epochs must be > 0, got {self.vae_epochs}")
        for name in ("decoder_r", "discriminator_r"):
            if getattr(self, name) not in R_TRANSFORMS:
                problems.append(f"{name} must be one of {R_TRANSFORMS}, got {getattr(self, name)!r}")
        if self.precision not in ("auto", "bf16", "fp16", "fp32"):
            problems.append(f"precision must be auto (bf16 on CUDA GPUs of compute capability >= 8.0, fp16 on older "
                            f"ones, fp32 on the CPU), bf16, fp16 or fp32, got {self.precision!r}")
        if self.memory_format not in ("auto", "channels_last", "contiguous"):
            problems.append(f"memory_format must be auto (channels_last on CUDA), channels_last or contiguous, "
                            f"got {self.memory_format!r}")
        if self.fused_optimizers not in ("auto", "on", "off"):
            problems.append(f"fused_optimizers must be auto (fused SGD/Adam on CUDA, plain on the CPU), on or off, "
                            f"got {self.fused_optimizers!r}")
        if self.cuda_graphs not in ("auto", "on", "off"):
            problems.append(f"cuda_graphs must be auto (on when the device is CUDA), on (CUDA devices only) or off, "
                            f"got {self.cuda_graphs!r}")
        elif self.cuda_graphs == "on" and isinstance(self.device, str) and self.device == "cpu":
            problems.append("cuda_graphs='on' needs a CUDA device, but device is 'cpu'; use cuda_graphs=auto or off")
        elif self.cuda_graphs == "on" and self.precision == "fp16":
            problems.append("cuda_graphs='on' does not work with precision='fp16' (its gradient scaler checks for "
                            "overflow on the host every step); use precision bf16 or fp32, or cuda_graphs auto or off")
        for name in ("allow_tf32", "retrain_plain"):
            if not isinstance(getattr(self, name), bool):
                problems.append(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.adversarial_init not in ADVERSARIAL_INITS:
            problems.append(f"adversarial_init must be one of {ADVERSARIAL_INITS}, got {self.adversarial_init!r}")
        if self.vae_layout not in VAE_LAYOUTS:
            problems.append(f"vae_layout must be one of {VAE_LAYOUTS}, got {self.vae_layout!r}")
        if not isinstance(self.autocast_cache, bool):
            problems.append(f"autocast_cache must be true or false, got {self.autocast_cache!r}")
        if not isinstance(self.compile, bool):
            problems.append(f"compile must be true or false, got {self.compile!r}")
        elif self.compile:
            unavailable = _compile_unavailable()
            if unavailable:
                problems.append(f"compile=True needs torch.compile, which is not available here ({unavailable}); "
                                f"run with compile=False (the default)")
        if is_integer(self.first_trial) and self.first_trial < 0:
            problems.append(f"first_trial must be an integer >= 0, got {self.first_trial!r}")
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and (not is_integer(value) or not 1 <= value <= MAX_COUNT):
                problems.append(f"{name} must be a positive integer or None, got {value!r}")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            problems.append(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        problems += _strategy_params_problems(self.strategy_params, self.methods)
        if problems:
            raise ValueError("invalid configuration:\n  - " + "\n  - ".join(problems))

    # ------------------------------------------------------------- derived values
    def vae_iterations_for(self, labeled_size: int, unlabeled_size: int) -> int:
        """VAE/discriminator iterations for one query.

        ``vae_iterations`` if set, else ``int((labeled + unlabeled) * vae_epochs / vae_batch_size)``,
        the public code's count: with 1,000 c labeled and the 10,000 candidates,
        ``int((1000 c + 10000) * 100 / 128)``, 8,593 .. 14,843 for c = 1..9.
        """
        if self.vae_iterations is not None:
            return self.vae_iterations
        return max(1, int((labeled_size + unlabeled_size) * self.vae_epochs / self.vae_batch_size))

    def task_schedule(self, labeled_size: int) -> tuple[int, tuple[int, ...], int]:
        """The task learner's ``(epochs, milestones, ranker_detach_epoch)`` on ``labeled_size`` images.

        Without ``min_steps`` (0, the paper's presets) the configured ``epochs``, ``milestones`` and
        ``ranker_detach_epoch``. With it, a labeled set too small to give ``min_steps`` optimizer steps in
        ``epochs`` epochs trains for ``ceil(min_steps / steps_per_epoch)`` epochs instead (``steps_per_epoch``:
        the mini-batches of one epoch, ``ceil(labeled_size / batch_size)`` less a final batch of one), and the milestones and the Ranker's detach epoch are stretched in
        proportion (rounded), so the schedule keeps its shape. A larger set keeps the configured epochs.
        """
        full, rest = divmod(labeled_size, self.batch_size)  # a final batch of one is dropped (index_batches)
        steps_per_epoch = max(1, full + (1 if rest > 1 or full == 0 else 0))
        epochs = max(self.epochs, math.ceil(self.min_steps / steps_per_epoch))
        if epochs == self.epochs:
            return self.epochs, tuple(self.milestones), self.ranker_detach_epoch
        scale = epochs / self.epochs
        milestones = tuple(sorted({max(1, min(epochs, round(m * scale))) for m in self.milestones}))
        return epochs, milestones, round(self.ranker_detach_epoch * scale)

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {self.device!r} was asked for but CUDA is not available here; use --device cpu or auto")
        return torch.device(self.device)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["methods"] = list(self.methods)
        data["milestones"] = list(self.milestones)
        data["strategy_params"] = self.strategy_params.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """A Config from a stored dict (old field names of :data:`RENAMED_FIELDS` are read, with a warning)."""
        data = renamed_fields(data)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown configuration fields {unknown}; valid: {', '.join(sorted(names))}")
        return cls(**data)

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (see :func:`make_config` for the epoch rescaling rule)."""
        return make_config(self.preset, base=self, **changes)


def _strategy_params_problems(params: StrategyParams, methods: tuple[str, ...]) -> list[str]:
    """The shape of ``strategy_params``: methods of this Config, identifier keys, JSON scalar values."""
    problems = []
    for method, values in params.items():
        if method not in methods:
            problems.append(f"strategy_params names method {method!r}, which this configuration does not run; "
                            f"its methods: {', '.join(map(str, methods))}")
        for key, value in values.items():
            if not isinstance(key, str) or not key.isidentifier():
                problems.append(f"strategy_params of {method!r}: a parameter name must be an identifier, got {key!r}")
            elif not (isinstance(value, (bool, int, str)) or (isinstance(value, float) and math.isfinite(value))):
                problems.append(f"strategy_params of {method!r}: {key} must be a number, a text or true/false, "
                                f"got {value!r}")
    return problems


def _compile_unavailable() -> str | None:
    """Why ``torch.compile`` cannot be used in this interpreter, or None when it can."""
    if not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile (it needs torch >= 2.0)"
    try:  # imported here: whether it imports at all is what this function finds out
        from torch import _dynamo
    except Exception as error:  # noqa: BLE001 - any import failure means no compile
        return f"torch._dynamo does not import: {error}"
    if not _dynamo.is_dynamo_supported():
        return f"TorchDynamo does not support this Python ({sys.version.split()[0]}) or platform"
    return None



def make_config(preset: str | None = None, base: Config | None = None, **overrides: Any) -> Config:
    """Build a :class:`Config` from a preset, the dataset's paper adjustments and overrides.

    ``None`` values in ``overrides`` are ignored (they stand for an unset CLI flag).
    When ``epochs`` is overridden but ``milestones`` / ``ranker_detach_epoch`` are not,
    both are rescaled in proportion (160/200 and 120/200 of the paper stay 0.8 and 0.6
    of the new length), so ``--epochs 20`` on the paper preset stays valid.
    Paper adjustments of a dataset (CIFAR-100's 2,000 initial images and budget; 5 cycles for
    the imbalanced sets) apply to the ``paper`` and ``authors-code`` presets unless overridden,
    and :func:`tavaal_nb.presets.authors_code_adjustments` to ``authors-code``.
    """
    overrides = renamed_fields({k: v for k, v in overrides.items() if v is not None})
    valid = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ValueError(f"unknown configuration fields {unknown}; valid: {', '.join(sorted(valid))}")
    if base is None:
        name = resolve_preset(preset)
        values: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(Config)}
        values.update(PRESETS[name])
        values["preset"] = name
        dataset = overrides.get("dataset", values["dataset"])
        if name in ("paper", "authors-code") and dataset in DATASETS:
            values.update(DATASETS[dataset].paper_overrides)
        if name == "authors-code":
            values.update(authors_code_adjustments(dataset))
    else:
        values = base.to_dict()
    if "epochs" in overrides and is_integer(overrides["epochs"]) and 0 < overrides["epochs"] <= MAX_COUNT \
            and overrides["epochs"] != values["epochs"]:
        scale = overrides["epochs"] / values["epochs"]
        if "milestones" not in overrides:
            values["milestones"] = tuple(sorted({max(1, min(overrides["epochs"], round(m * scale))) for m in values["milestones"]}))
        if "ranker_detach_epoch" not in overrides:
            values["ranker_detach_epoch"] = round(values["ranker_detach_epoch"] * scale)
    values.update(overrides)
    return Config(**values)  # a str of methods is split on commas there


RENAMED_FIELDS = {"margin": "ranker_margin"}
"""Old field name -> new one. A stored config, a sweep's overrides, :func:`make_config` and the command line
still take the old name, read as the new one with a ``FutureWarning``."""


def renamed_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with each old name of :data:`RENAMED_FIELDS` replaced by its new name (one ``FutureWarning``
    per old name; ``ValueError`` when both names are given)."""
    data = dict(data)
    for old, new in RENAMED_FIELDS.items():
        if old not in data:
            continue
        if new in data:
            raise ValueError(f"{old!r} and {new!r} are both given: {old!r} is the old name of {new!r}; give only "
                             f"{new!r}")
        warnings.warn(f"the setting {old!r} is now called {new!r} (--{new.replace('_', '-')} on the command line); "
                      f"{old!r} is read as {new!r} for now and will stop working in a later version",
                      FutureWarning, stacklevel=3)
        data[new] = data.pop(old)
    return data
