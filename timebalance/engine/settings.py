"""Typed, frozen settings of the training stages, built from the dicts the rules pass.

The settings classes have no defaults: rules/config.schema.yaml is the only source of
default values, and the workflow passes every key (timebalance.workflow.inputs). `from_dict`
names each unknown or missing key, so a renamed config key fails at the start of a job, not
as a silently ignored (or silently defaulted) value. One exception: `RunSettings`' device
fields (`accelerator`, `gpus`, `nodes`) default to one plain process, so code that builds a
RunSettings by hand runs as before; their defaults equal the schema's (tested), and
`RunSettings.of_job` passes every one of them.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Self, TypeVar

T = TypeVar("T")


def _check_type(value: Any, hint: Any, where: str) -> Any:
    """`value` converted to the field type `hint` (lists become tuples), or a TypeError."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_type(value, option, where)
            except TypeError as err:
                errors.append(err)
        raise errors[0]
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"{where} must be a mapping of {hint.__name__}'s keys, got {value!r}")
        return from_dict(hint, value, where=where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise TypeError(f"{where} must be a list, got {value!r}")
        args = typing.get_args(hint)
        item_hints = [args[0]] * len(value) if args[-1:] == (Ellipsis,) else list(args)
        if len(item_hints) != len(value):
            raise TypeError(f"{where} must hold {len(item_hints)} values, got {value!r}")
        return tuple(
            _check_type(v, h, f"{where}[{i}]")
            for i, (v, h) in enumerate(zip(value, item_hints, strict=True))
        )
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):
        raise TypeError(f"{where} must be a number, got {value!r}")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise TypeError(f"{where} must be {hint.__name__}, got {value!r}")
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], *, where: str | None = None) -> T:
    """Build the settings dataclass `cls` from `data`; every field must be given, no other
    key may be. Nested settings are built from nested mappings, lists become tuples."""
    where = where or cls.__name__
    if not isinstance(data, Mapping):
        raise TypeError(f"{where}: expected a mapping of settings, got {data!r}")
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown, missing = sorted(set(data) - fields), sorted(fields - set(data))
    if unknown or missing:
        raise KeyError(
            f"{where}: "
            + "; ".join(
                part
                for part in (
                    f"unknown key(s) {unknown}" if unknown else "",
                    f"missing key(s) {missing}" if missing else "",
                )
                if part
            )
            + f". Expected exactly {sorted(fields)}: the settings come from config.yaml through "
            "timebalance.workflow.inputs; keep the two in step."
        )
    hints = typing.get_type_hints(cls)
    return cls(**{k: _check_type(data[k], hints[k], f"{where}.{k}") for k in fields})


def to_dict(settings: Any) -> dict[str, Any]:
    """Plain containers only (dicts, lists, str, numbers, None): storable in a checkpoint
    loaded with weights_only=True, and in JSON."""

    def plain(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return plain(dataclasses.asdict(settings))


class Settings:
    """Mixin of the stage settings dataclasses: `from_dict` and `to_dict`."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str | None = None) -> Self:
        return from_dict(cls, data, where=where)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


#: Autocast modes of `AcceleratorSettings.precision` (`engine.device.autocast_dtype`).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclasses.dataclass(frozen=True)
class AcceleratorSettings(Settings):
    """How a training job uses its devices (config `accelerator:`): speed and memory only,
    never which run it is (not in the run's fingerprint: a resumed run continues under new
    values)."""

    precision: str  # autocast of forward passes: one of PRECISIONS
    channels_last_3d: bool  # 5-D weights (3D convolutions) in channels-last layout
    cudnn_benchmark: bool  # cuDNN times its convolution algorithms per input shape
    sync_batchnorm: bool  # batch-norm statistics over every process's rows (CUDA, > 1 process)
    processes: int | None  # training processes per node; None: one per granted GPU (1 on CPU)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"accelerator.precision must be one of {', '.join(PRECISIONS)}, got "
                f"{self.precision!r}"
            )
        if self.processes is not None and self.processes < 1:
            raise ValueError(f"accelerator.processes must be >= 1 or null, got {self.processes}")


#: One plain process: what a RunSettings built by hand gets (= the schema's defaults).
ONE_PROCESS = AcceleratorSettings(
    precision="auto",
    channels_last_3d=False,
    cudnn_benchmark=False,
    sync_batchnorm=False,
    processes=None,
)


@dataclasses.dataclass(frozen=True)
class RunSettings(Settings):
    """Where a stage runs, which code it is (stored with its results), and what it shows
    while it runs (none of these change what it computes: `engine.stage.RUN_ONLY`)."""

    device: str  # "auto", "cpu" or "cuda[:k]"
    threads: int | None  # intra-op threads granted by the scheduler (None: torch's default)
    code_version: str  # identity of the package code, stored in checkpoints and results
    log_every_steps: int | None  # a progress line every this many steps (None: every 30 s)
    tensorboard: str | None  # the run's TensorBoard folder (None: no event files)
    accelerator: AcceleratorSettings = ONE_PROCESS  # precision, layouts, processes
    gpus: int = 0  # GPUs granted to the job (its `gpu` resource), over all its nodes
    nodes: int = 1  # nodes of the job (its `nodes` resource; > 1 on SLURM only)

    @classmethod
    def of_job(cls, job: Any) -> RunSettings:
        """The run settings of a rule script's job (the `snakemake` object): the device of
        `params.runtime`, the job's threads, GPUs and nodes (resources `gpu`, `nodes`), the
        code version of `params.code`, the TensorBoard folder of `params.tensorboard`
        (training rules), and the config's `log_every_steps` and `accelerator` (read from
        the config, not params: changing them reruns nothing)."""
        resources = getattr(job, "resources", {})
        return cls(
            device=job.params.runtime["device"],
            threads=job.threads,
            code_version=job.params.code,
            log_every_steps=job.config["log_every_steps"],
            tensorboard=getattr(job.params, "tensorboard", None),
            accelerator=AcceleratorSettings.from_dict(
                job.config["accelerator"], where="config accelerator"
            ),
            gpus=int(resources.get("gpu", 0) or 0),
            nodes=int(resources.get("nodes", 1) or 1),
        )
