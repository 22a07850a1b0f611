"""No needless waiting (issue 12): a training step reads the device once.

On a GPU every read of a device value on the host (``.item()``, ``bool(t)``, ``float(t)``,
``.tolist()``, ``.cpu()``, ``torch.cuda.synchronize``) stalls the queue. On CPU they cost
nothing, so count them instead: patch each and count calls while the trainer steps. A step
may read its finiteness flags once; the progress bar, the weight check and the logged values
wait for logging and checkpoint steps."""

import contextlib

import pytest
import torch

from earthmover.train.loop import Trainer
from helpers import tiny_config

SYNCING = ("item", "__bool__", "__float__", "__int__", "__index__", "tolist", "cpu", "numpy", "__format__")


@contextlib.contextmanager
def counting_syncs():
    calls: list[str] = []
    originals = {name: getattr(torch.Tensor, name) for name in SYNCING}

    def wrap(name, fn):
        def counted(self, *args, **kwargs):
            calls.append(name)
            return fn(self, *args, **kwargs)

        return counted

    for name, fn in originals.items():
        setattr(torch.Tensor, name, wrap(name, fn))
    sync = torch.cuda.synchronize
    torch.cuda.synchronize = lambda *a, **k: calls.append("cuda.synchronize")
    try:
        yield calls
    finally:
        for name, fn in originals.items():
            setattr(torch.Tensor, name, fn)
        torch.cuda.synchronize = sync


@pytest.mark.parametrize(
    "preset, values",
    [
        ("quickstart", {}),  # WGAN-GP with EMA and a decaying learning rate: the main job
        ("wgan", {}),  # clipping
        ("ct-gan", {"model.ema": 0.9}),  # two penalties, dropout, EMA
        ("ebgan", {}),  # the auto-encoder critic and a second generator term
    ],
)
def test_one_host_synchronization_per_generator_step(preset, values):
    trainer = Trainer(tiny_config(preset, **values), quiet=True)
    trainer.train_step()  # the first step may set things up
    with counting_syncs() as calls:
        for _ in range(3):
            trainer.train_step()
    assert len(calls) <= 3, calls


def test_fit_reads_values_only_on_logging_and_checkpoint_steps(tmp_path, monkeypatch):
    """Between logging and checkpoint steps, fit adds no read to the step's own."""
    monkeypatch.setattr(Trainer, "snapshot", lambda self: None)
    config = tiny_config(
        "quickstart", **{"run.steps": 9, "run.log_every": 4, "run.checkpoint_every": 8, "run.sample_every": 1000}
    )
    trainer = Trainer(config, tmp_path / "run", quiet=False)
    per_step: dict[int, int] = {}
    step = trainer.train_step

    def counted_step():
        with counting_syncs() as calls:
            values = step()
        per_step[trainer.step] = len(calls)
        return values

    trainer.train_step = counted_step
    hooks_calls: dict[int, int] = {}
    side_work = trainer.side_work

    def counted_side_work(logger):
        hooks = side_work(logger)
        for hook in hooks:
            fn = hook.fn

            def wrapped(values, fn=fn):
                with counting_syncs() as calls:
                    fn(values)
                hooks_calls[trainer.step] = hooks_calls.get(trainer.step, 0) + len(calls)

            hook.fn = wrapped
        return hooks

    trainer.side_work = counted_side_work
    trainer.fit()
    assert set(per_step) == set(range(1, 10)) and max(per_step.values()) <= 1, per_step
    assert set(hooks_calls) == {4, 8, 9}, hooks_calls  # logging (4, 8, the last) and checkpoint (8) steps only


def test_logged_values_cross_processes_in_one_all_reduce(monkeypatch):
    import torch.distributed as dist

    from earthmover.train.distributed import DistributedContext

    reduced = []
    monkeypatch.setattr(dist, "all_reduce", lambda t, op=None: reduced.append(t.shape))
    monkeypatch.setattr(dist, "get_backend", lambda: "gloo")
    ctx = DistributedContext(rank=0, world_size=2)
    values = {
        "loss/critic": torch.tensor(1.0),
        "loss/generator": torch.tensor(2.0),
        "grad_norm/critic": torch.tensor(3.0),
    }
    out = ctx.means(values)
    assert reduced == [torch.Size([3])] and out == {"loss/critic": 0.5, "loss/generator": 1.0, "grad_norm/critic": 1.5}
