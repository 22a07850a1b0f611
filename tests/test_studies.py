"""The studies in their quick form: each returns numbers that show its claim, and the command
writes NAME.png and NAME.json."""

import json
import math

import pytest
import torch

from earthmover.cli import main
from earthmover.studies import STUDIES, clipping_vs_penalty, parallel_lines, vanishing_gradients
from earthmover.studies.common import finite_json, format_table, parameter_grad_norm, verdict


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------- parallel lines


def test_parallel_lines_closed_forms_and_estimates():
    r = parallel_lines.run(seed=0, quick=True)
    assert 0.0 in r.thetas and len(r.thetas) == 9
    log2 = math.log(2.0)
    for i, t in enumerate(r.thetas):
        if t == 0.0:
            assert [r.closed[k][i] for k in ("w", "js", "kl", "tv")] == [0.0, 0.0, 0.0, 0.0]
            continue
        assert r.closed["w"][i] == abs(t)
        assert r.closed["js"][i] == log2 and math.isinf(r.closed["kl"][i]) and r.closed["tv"][i] == 1.0
        # disjoint lines fall in different histogram cells: the plug-in estimates are exact
        assert abs(r.estimated["js"][i] - log2) <= 1e-9
        assert math.isinf(r.estimated["kl"][i])
        assert abs(r.estimated["tv"][i] - 1.0) <= 1e-9
    for w, t in zip(r.estimated["w"], r.thetas):
        # every matched pair costs sqrt(t^2 + dy^2) >= |t|; the excess is O(1/sqrt(n)) (about 0.03 at n = 200)
        assert abs(t) - 1e-12 <= w <= abs(t) + 0.1
    off_zero = [abs(w - abs(t)) for w, t in zip(r.estimated["w"], r.thetas) if t != 0.0]
    assert max(off_zero) == pytest.approx(r.max_w_error_off_zero) and r.max_w_error_off_zero < 0.02
    assert r.max_js_gap_off_zero <= 1e-9 and r.kl_infinite_off_zero and r.max_tv_gap_off_zero <= 1e-9
    checks = parallel_lines.checks(r)
    assert verdict(checks) == "holds" and checks[0].value <= 1e-9  # JS within 5% of log 2 at |theta| >= 0.5


def test_parallel_lines_needs_zero_on_the_grid():
    from earthmover.errors import EarthmoverError

    with pytest.raises(EarthmoverError, match="num_thetas=8"):
        parallel_lines.run(quick=True, num_thetas=8)


# ----------------------------------------------------------------------------- vanishing gradients


def test_saturating_gradient_vanishes_and_wasserstein_does_not():
    r = vanishing_gradients.run(seed=0, quick=True)
    assert r.steps == [10, 50, 100, 300]
    assert r.accuracy[-1] >= 0.99  # the discriminator separates the disjoint supports
    # Theorem 2.4: |grad| <= (a multiple of) the discriminator's error; seeds 0-4 give 6e-4 .. 2.4e-3
    assert r.saturating_drop < 1e-2
    assert r.saturating_drop == pytest.approx(r.grad_norm["saturating"][-1] / r.grad_norm["saturating"][0])
    assert r.mean_d_fake[-1] < 0.01 < r.mean_d_fake[0]
    # the -log D cost and the Wasserstein critic keep (and grow) the gradient: 5.9x .. 37x over seeds 0-4
    assert r.non_saturating_drop > 1.0
    assert r.wasserstein_drop > 1.0
    assert all(v > 0 and math.isfinite(v) for name in r.grad_norm for v in r.grad_norm[name])
    assert verdict(vanishing_gradients.checks(r)) == "holds"


def test_parameter_grad_norm_matches_autograd():
    net = torch.nn.Linear(3, 2)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    loss = net(x).pow(2).sum()
    norm = parameter_grad_norm(loss, net.parameters())
    loss = net(x).pow(2).sum()
    loss.backward()
    expected = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in net.parameters()))
    assert norm == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------------------- clipping vs penalty


def test_clipping_piles_weights_at_the_bounds_and_flattens_the_critic():
    r = clipping_vs_penalty.run(seed=0, quick=True)
    (o,) = r.outcomes
    clipped = clipping_vs_penalty._params(r._critics["8gaussians"]["clipping"])
    assert float(clipped.abs().max()) <= r.c + 1e-9
    # from ~1% at the scaled start to 27-45% within 1% of +-c after 300 steps (seeds 0-4)
    assert o.init_at_bounds < 0.03
    assert o.at_bounds["clipping"] > 0.15
    assert o.at_bounds["penalty"] < 0.01
    # the clipped critic's gradient is bounded by prod c sqrt(in out), far below the penalty's target 1
    assert o.grad_norm_mean["clipping"] <= r.gradient_bound_clipping < 0.01
    assert 0.8 < o.grad_norm_mean["penalty"] < 1.2  # seeds 0-4: 0.96 .. 1.03
    assert verdict(clipping_vs_penalty.checks(r)) == "holds"


def test_clipping_gradient_bound_holds_for_any_clipped_critic():
    from earthmover.losses.penalties import critic_input_gradient, per_sample_norm
    from earthmover.nets.mlp import MLPCritic

    torch.manual_seed(0)
    c = 0.01
    critic = MLPCritic(in_dim=2, width=16, depth=2)
    with torch.no_grad():  # the worst case for the bound: every weight at +c
        for p in critic.parameters():
            p.fill_(c)
    x = torch.rand(64, 2)
    norms = per_sample_norm(critic_input_gradient(critic, x, create_graph=False))
    bound = clipping_vs_penalty.clipping_gradient_bound(2, 16, 2, c)
    assert bound == pytest.approx(c**3 * math.sqrt(2 * 16) * math.sqrt(16 * 16) * math.sqrt(16))
    # all weights equal and all ReLUs open: the layers are rank one and the bound is attained
    assert torch.allclose(norms, torch.full_like(norms, bound), rtol=1e-4)


def test_fraction_at_bounds():
    values = torch.tensor([-1.0, -0.995, -0.5, 0.0, 0.98, 0.99, 1.0, 0.2])
    assert clipping_vs_penalty.fraction_at_bounds(values, 1.0) == pytest.approx(4 / 8)


# ----------------------------------------------------------------------------- command


def test_command_writes_png_and_strict_json(tmp_path, capsys):
    rc = main(["study", "parallel-lines", "--quick", "--out", str(tmp_path), "--seed", "1", "--threads", "1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "JS_est" in out and "max |W_est - |theta||" in out
    png, record = tmp_path / "parallel-lines.png", tmp_path / "parallel-lines.json"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    data = json.loads(record.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert data["study"] == "parallel-lines" and data["seed"] == 1 and data["quick"] is True
    result = data["result"]
    assert result["kl_infinite_off_zero"] is True
    assert result["estimated"]["kl"][0] == "inf" and result["closed"]["kl"][len(result["thetas"]) // 2] == 0.0
    assert result["max_js_gap_off_zero"] <= 1e-9


@pytest.mark.parametrize("module", [vanishing_gradients, clipping_vs_penalty])
def test_other_figures_draw(module, tmp_path):
    if module is vanishing_gradients:
        r = module.run(seed=0, quick=True, steps=[1, 3])
    else:
        r = module.run(seed=0, quick=True, steps=10, n=64, width=16)
    path = module.draw(r, tmp_path / "f.png")
    assert path.stat().st_size > 10_000
    json.dumps(finite_json(r.to_dict()), allow_nan=False)
    header, rows = r.rows()
    assert rows and all(len(row) == len(header) for row in rows)
    assert format_table(header, rows).count("\n") == len(rows) + 1


def test_unknown_study_is_a_one_line_error(capsys):
    assert main(["study", "parallel", "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown study 'parallel'" in err and "did you mean 'parallel-lines'" in err and "\n" not in err
    assert {
        "parallel-lines",
        "vanishing-gradients",
        "clipping-vs-penalty",
        "duality",
        "critic-vs-discriminator",
    } <= set(STUDIES)


def test_out_must_be_a_directory(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["study", "parallel-lines", "--quick", "--out", str(f)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_finite_json():
    assert finite_json({"a": [math.inf, -math.inf, 1.5], "b": (math.nan,)}) == {"a": ["inf", "-inf", 1.5], "b": ["nan"]}
