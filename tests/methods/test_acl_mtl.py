"""ACL + MTL (004 eq. 20): one step's wiring (eq. 19 pseudo-labels into the bank, prototypes,
centres, the sum of eq. 20), the paper's optimiser, the settings' checks, and real training
runs on the toy frames of test_stages."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from tests.methods.test_stages import CLIPS, RUN, toy  # noqa: F401 (toy is a fixture)
from timebalance.engine.trainer import OptimSettings
from timebalance.methods.acl_mtl import (
    AclMtlModules,
    AclMtlSettings,
    AclMtlSpec,
    SgdSettings,
    acl_mtl_step,
    train_acl_mtl,
)
from timebalance.methods.classifier import load_classifier_checkpoint
from timebalance.methods.fixmatch import ViewSettings, frozen_copy, paper_optimizer
from timebalance.models import build_backbone

SPEC = AclMtlSpec(
    threshold=0.3,
    unlabeled_weight=1.0,
    unlabeled_ratio=4,
    ema_momentum=0.9,
    export="student",
    acl=True,
    mtl=True,
    acl_weight=1.0,
    mtl_weight=1.0,
    prototype_momentum=0.9,
    epsilon=0.7,
    acl_temperature=0.07,
    sample_confidence=True,
    gmm_scope="anchor",
    bank_size=16,
    acl_dim=16,
    long_strides=(4, 8),
    long_placement="nested",
    mtl_hidden_dim=32,
    mtl_dim=16,
    student_temperature=0.1,
    teacher_temperature=0.04,
    centre_momentum=0.9,
    warmup_epochs=0,
)


def _batch(n_l: int = 2, n_u: int = 4, scales: int = 3, size: int = 16) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "labeled": {
            "weak": torch.randn(n_l, 1, 3, 4, size, size, generator=g),
            "label": torch.tensor([0, 2][:n_l]),
        },
        "unlabeled": {
            "weak": torch.randn(n_u, scales, 3, 4, size, size, generator=g),
            "strong": torch.randn(n_u, 3, 4, size, size, generator=g),
            "label": torch.zeros(n_u, dtype=torch.long),
        },
    }


def test_one_step_wires_eq19_eq20_and_the_acl_mtl_state():
    torch.manual_seed(0)
    student = build_backbone("tiny", num_classes=3)
    teacher = frozen_copy(student)
    parts = AclMtlModules(SPEC, student.feature_dim, 3)
    batch = _batch()
    step = acl_mtl_step(student, teacher, parts, SPEC, torch.device("cpu"))
    out = step(batch)
    # eq. 20 with mu_1 = mu_2 = 1
    terms = out["labeled_ce"] + out["unlabeled_ce"] + out["mtl"] + out["acl"]
    assert out["loss"].item() == pytest.approx(terms.item(), rel=1e-6)
    assert out["loss"].requires_grad
    # eq. 19: the bank holds the argmax of the teacher's softmax averaged over the 3 clips
    with torch.no_grad():
        weak = batch["unlabeled"]["weak"]
        probs = torch.stack([teacher(weak[:, s]).logits.softmax(-1) for s in range(3)], 1)
    _, labels = parts.bank.entries()
    assert labels.tolist() == probs.mean(1).argmax(-1).tolist()
    assert int(parts.bank.count) == 4
    # prototypes of the two labeled classes, not of the third
    assert parts.prototypes.initialised.tolist() == [True, False, True]
    # one centre per long scale, moved off zero
    assert len(parts.centres) == 2 and all(c.centre.abs().sum() > 0 for c in parts.centres)
    # the first step has an empty bank: f^p is the only contrast entry, L_ACL = 0
    assert out["acl"].item() == pytest.approx(0.0, abs=1e-6)
    out2 = step(batch)
    assert out2["acl"].item() > 0 and int(parts.bank.count) == 8
    # a weight on L_MTL enters the sum
    spec2 = dataclasses.replace(SPEC, mtl_weight=2.0)
    out3 = acl_mtl_step(student, teacher, parts, spec2, torch.device("cpu"))(batch)
    terms = out3["labeled_ce"] + out3["unlabeled_ce"] + 2 * out3["mtl"] + out3["acl"]
    assert out3["loss"].item() == pytest.approx(terms.item(), rel=1e-6)


def test_warmup_trains_the_labeled_loss_alone_while_the_state_moves():
    """In a warm-up epoch (`batch["epoch"]` < warmup_epochs) eq. 20 is L_l only, yet the
    other terms are computed and logged and the bank, prototypes and centres fill; from
    the first epoch after it the whole sum trains."""
    torch.manual_seed(0)
    spec = dataclasses.replace(SPEC, warmup_epochs=2)
    student = build_backbone("tiny", num_classes=3)
    teacher = frozen_copy(student)
    parts = AclMtlModules(spec, student.feature_dim, 3)
    step = acl_mtl_step(student, teacher, parts, spec, torch.device("cpu"))
    for epoch in (0, 1):
        out = step({**_batch(), "epoch": epoch})
        assert out["loss"].item() == pytest.approx(out["labeled_ce"].item(), rel=1e-6)
        assert out["unsupervised_on"].item() == 0
    assert out["acl"].item() > 0 and out["mtl"].item() > 0  # computed, not trained
    assert int(parts.bank.count) == 8 and all(c.centre.abs().sum() > 0 for c in parts.centres)
    out = step({**_batch(), "epoch": 2})
    terms = out["labeled_ce"] + out["unlabeled_ce"] + out["mtl"] + out["acl"]
    assert out["loss"].item() == pytest.approx(terms.item(), rel=1e-6)
    assert out["loss"].item() > out["labeled_ce"].item() and out["unsupervised_on"].item() == 1
    # diagnostics of the figure: mean gamma, share of the top pseudo-class
    assert 0 <= out["gamma"].item() <= 1 and 0.25 <= out["pseudo_majority"].item() <= 1
    with pytest.raises(ValueError, match="warmup_epochs"):
        dataclasses.replace(SPEC, warmup_epochs=-1)


def test_switches_leave_out_their_parts():
    student = build_backbone("tiny", num_classes=3)
    spec = dataclasses.replace(SPEC, acl=False, mtl=False)
    parts = AclMtlModules(spec, student.feature_dim, 3)
    assert parts.teacher_pairs() == [] and parts.bank is None and parts.g_s is None
    assert spec.active_long_strides == ()
    out = acl_mtl_step(student, frozen_copy(student), parts, spec, torch.device("cpu"))(
        _batch(scales=1)
    )
    assert out["acl"].item() == 0 and out["mtl"].item() == 0
    assert out["loss"].item() == pytest.approx((out["labeled_ce"] + out["unlabeled_ce"]).item())


def test_a_warmup_as_long_as_the_run_is_refused():
    with pytest.raises(ValueError, match="warmup_epochs 6 leaves none of the 6 epochs"):
        _settings(dataclasses.replace(SPEC, warmup_epochs=6))


def test_spec_checks_name_the_setting():
    with pytest.raises(ValueError, match="long-term stride"):
        dataclasses.replace(SPEC, long_strides=())
    with pytest.raises(ValueError, match="gmm_scope"):
        dataclasses.replace(SPEC, gmm_scope="global")
    with pytest.raises(ValueError, match="threshold"):
        dataclasses.replace(SPEC, threshold=1.5)


def test_paper_optimizer_is_sgd_with_steps_at_25_and_28():
    sgd = SgdSettings(
        optimizer="sgd", lr=0.005, momentum=0.9, weight_decay=1e-3, milestones=(25, 28), decay=0.1
    )
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer, scheduler = paper_optimizer([param], sgd)
    assert isinstance(optimizer, torch.optim.SGD)
    group = optimizer.param_groups[0]
    assert group["momentum"] == 0.9 and group["weight_decay"] == 1e-3
    lrs = []
    for epoch in range(30):
        lrs.append(optimizer.param_groups[0]["lr"])
        assert scheduler.lr == lrs[-1]
        optimizer.step()
        scheduler.step(loss=1.0)
        if epoch == 26:  # a resumed run continues the schedule
            state = scheduler.state_dict()
            optimizer, scheduler = paper_optimizer([param], sgd)
            scheduler.load_state_dict(state)
    assert lrs[:25] == pytest.approx([0.005] * 25)
    assert lrs[25:28] == pytest.approx([0.0005] * 3)
    assert lrs[28:] == pytest.approx([0.00005] * 2)
    adam, steps = paper_optimizer([param], dataclasses.replace(sgd, optimizer="adam", lr=1e-3))
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["weight_decay"] == 1e-3
    for _ in range(25):
        steps.step(loss=1.0)
    assert adam.param_groups[0]["lr"] == pytest.approx(1e-4)  # the same steps
    with pytest.raises(ValueError, match="optimizer"):
        dataclasses.replace(sgd, optimizer="rmsprop")


def test_adam_cosine_anneals_the_lr_along_a_half_cosine_and_resumes():
    sgd = SgdSettings(
        optimizer="adam_cosine",
        lr=1e-3,
        momentum=0.9,
        weight_decay=0.0,
        milestones=(3,),  # unused by the cosine
        decay=0.1,
        epochs=4,
    )
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer, schedule = paper_optimizer([param], sgd)
    assert isinstance(optimizer, torch.optim.Adam)
    lrs = []
    for epoch in range(6):  # past the end: stays at the last value's floor, 0
        lrs.append(optimizer.param_groups[0]["lr"])
        schedule.step(loss=1.0)
        if epoch == 1:
            state = schedule.state_dict()
            optimizer, schedule = paper_optimizer([param], sgd)
            schedule.load_state_dict(state)
    half_cosine = [1e-3 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert lrs[:4] == pytest.approx(half_cosine) and lrs[4:] == pytest.approx([0.0, 0.0])
    assert lrs[0] == 1e-3 and lrs[2] == pytest.approx(5e-4)
    with pytest.raises(ValueError, match="epochs"):
        dataclasses.replace(sgd, epochs=0)


def _settings(spec: AclMtlSpec) -> AclMtlSettings:
    return AclMtlSettings(
        backbone="tiny",
        spec=spec,
        views=ViewSettings(flip_p=0.5, jitter=(0.4, 0.4, 0.4, 0.1), jitter_p=0.8, grey_p=0.2),
        clips=dataclasses.replace(CLIPS, batch_size=2, clip_len=8, crop_scale=(0.6, 1.0)),
        optim=OptimSettings(
            epochs=6,
            lr=2e-3,
            weight_decay=0.0,
            warmup_epochs=1,
            patience=5,
            max_steps_per_epoch=None,
        ),
        sgd=None,
        seed=0,
    )


@pytest.mark.parametrize("term", ["acl", "mtl", "loss"])
def test_a_gradient_step_of_the_student_lowers_each_term(term):
    """With the bank, prototypes, centres and teacher held at their state before the step,
    one small SGD step of the student (and its heads) on a term lowers that term: its
    gradients reach the student with the right sign."""
    torch.manual_seed(0)
    spec = dataclasses.replace(
        SPEC, acl=term != "mtl", mtl=term != "acl", ema_momentum=0.999, gmm_scope="bank"
    )
    student = build_backbone("tiny", num_classes=3)
    teacher = frozen_copy(student)
    parts = AclMtlModules(spec, student.feature_dim, 3)
    batch = _batch(scales=3 if spec.mtl else 1)
    step = acl_mtl_step(student, teacher, parts, spec, torch.device("cpu"))
    for _ in range(3):  # fill the bank, set the prototypes and centres
        step(batch)
    state = {"teacher": teacher.state_dict(), "parts": parts.state_dict()}
    state = {k: {n: t.clone() for n, t in v.items()} for k, v in state.items()}
    params = [p for m in (student, parts) for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=1e-3)
    before = step(batch)[term]
    assert before.item() > 0
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    teacher.load_state_dict(state["teacher"])
    parts.load_state_dict(state["parts"])
    after = step(batch)[term]
    assert after.item() < before.item()


@pytest.mark.parametrize("scope", ["anchor", "bank"])
def test_acl_mtl_trains_and_writes_an_evaluable_classifier(toy, tmp_path, scope):  # noqa: F811
    out = tmp_path / "acl_mtl.pt"
    spec = dataclasses.replace(SPEC, gmm_scope=scope)
    train_acl_mtl(
        _settings(spec),
        RUN,
        labeled=toy["labeled"],
        unlabeled=toy["unlabeled"],
        val=toy["val"],
        classes=None,
        frames_root=toy["frames"],
        init=None,
        out=out,
        resume=tmp_path / "resume.pt",
        metrics=tmp_path / "acl_mtl.jsonl",
    )
    ckpt = load_classifier_checkpoint(out)
    history = ckpt["history"]
    assert all(h["steps"] == 2 for h in history)  # 16 unlabeled videos, B_u = 8
    first, last = history[0], history[-1]
    # The sum of eq. 20 is not compared across epochs: its terms change definition while
    # the run is short (the bank fills from empty, the positives change with gamma, and
    # DINO's centring first lifts eq. 17 towards log K). The supervised term must fall, the
    # others must be active, and the network must learn.
    assert last["labeled_ce"] < first["labeled_ce"]
    assert last["acl"] > 0, "the bank never filled"
    assert last["mtl"] > 0 and last["mtl_kl"] >= 0
    assert ckpt["val_top1"] >= 75.0
    assert ckpt["settings"]["spec"]["gmm_scope"] == scope
    assert not (tmp_path / "resume.pt").exists()


def test_a_warmup_epoch_is_logged_apart_and_never_written(toy, tmp_path):  # noqa: F811
    """With warmup_epochs 4 of 6 the validation of epochs 0-3 is `val_top1_warmup`, so the
    weights written come from epoch 4 or 5, which trained eq. 20."""
    out = tmp_path / "acl_mtl.pt"
    train_acl_mtl(
        _settings(dataclasses.replace(SPEC, warmup_epochs=4)),
        RUN,
        labeled=toy["labeled"],
        unlabeled=toy["unlabeled"],
        val=toy["val"],
        classes=None,
        frames_root=toy["frames"],
        init=None,
        out=out,
        resume=tmp_path / "resume.pt",
        metrics=tmp_path / "acl_mtl.jsonl",
    )
    ckpt = load_classifier_checkpoint(out)
    history = ckpt["history"]
    assert [("val_top1_warmup" in h, "val_top1" in h) for h in history] == [
        (e < 4, e >= 4) for e in range(6)
    ]
    assert [h["unsupervised_on"] for h in history] == [0.0] * 4 + [1.0] * 2
    assert ckpt["selected_epoch"] in (4, 5)
    assert ckpt["val_top1"] == max(h["val_top1"] for h in history[4:])
