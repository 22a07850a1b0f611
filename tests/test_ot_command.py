"""`earthmover emd A B` on .npy, .npz and .csv files."""

import json

import numpy as np
import pytest
import scipy.stats

from earthmover.cli import main
from earthmover.ot import emd
from earthmover.ot.command import load_distribution


@pytest.fixture
def clouds(tmp_path):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(12, 2)), rng.normal(size=(9, 2)) + 1.0
    np.save(tmp_path / "x.npy", X)
    np.savetxt(tmp_path / "y.csv", Y, delimiter=",")
    return tmp_path, X, Y


def test_points_distance_plan_and_json(clouds, capsys):
    tmp, X, Y = clouds
    rc = main(
        ["emd", str(tmp / "x.npy"), str(tmp / "y.csv"), "--plan", str(tmp / "plan.png"), "--json", str(tmp / "r.json")]
    )
    assert rc == 0
    expected = emd(x=X, y=Y).distance
    out = capsys.readouterr().out
    assert f"earth mover's distance: {expected:.10g}" in out
    data = json.loads((tmp / "r.json").read_text())
    assert data["distance"] == pytest.approx(expected, rel=1e-12)
    assert data["method"] == "network-simplex" and (data["n"], data["m"]) == (12, 9)
    assert data["duality"]["gap"] <= 1e-9
    assert (tmp / "plan.png").stat().st_size > 1000


def test_histograms_on_bins(tmp_path, capsys):
    np.savetxt(tmp_path / "p.csv", [1, 2, 3, 0], delimiter=",")
    np.save(tmp_path / "q.npy", np.array([0.0, 0.0, 3.0, 3.0]))
    assert (
        main(
            [
                "emd",
                str(tmp_path / "p.csv"),
                str(tmp_path / "q.npy"),
                "--json",
                str(tmp_path / "h.json"),
                "--plan",
                str(tmp_path / "h.png"),
            ]
        )
        == 0
    )
    data = json.loads((tmp_path / "h.json").read_text())
    ref = 6 * scipy.stats.wasserstein_distance(np.arange(4), np.arange(4), [1, 2, 3, 0], [0, 0, 3, 3])
    assert data["kind"] == "histogram" and data["method"] == "1d"
    assert data["distance"] == pytest.approx(ref, rel=1e-12)  # mass 6 moved, in bins
    assert (tmp_path / "h.png").exists()


def test_weighted_npz_and_normalize(tmp_path, capsys):
    rng = np.random.default_rng(1)
    P, Q = rng.normal(size=(5, 3)), rng.normal(size=(6, 3))
    w = np.array([1.0, 1.0, 1.0, 1.0, 2.0])
    np.savez(tmp_path / "p.npz", points=P, weights=w)
    np.savez(tmp_path / "q.npz", cloud=Q)
    assert main(["emd", str(tmp_path / "p.npz"), str(tmp_path / "q.npz")]) == 2
    assert "a sums to 6 but b sums to 1" in capsys.readouterr().err
    assert main(["emd", str(tmp_path / "p.npz"), str(tmp_path / "q.npz"), "--normalize", "--method", "lp"]) == 0
    ref = emd(w / 6, None, x=P, y=Q).distance
    assert f"{ref:.10g}" in capsys.readouterr().out


def test_kind_points_reads_a_column_as_points_on_a_line(tmp_path):
    np.savetxt(tmp_path / "u.csv", [0.0, 1.0, 5.0], delimiter=",")
    x, w, kind = load_distribution(tmp_path / "u.csv", kind="points")
    assert kind == "points" and w is None and x.shape == (3, 1)
    x, w, kind = load_distribution(tmp_path / "u.csv")
    assert kind == "histogram" and np.array_equal(w, [0.0, 1.0, 5.0]) and x.shape == (3, 1)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.with_suffix(".txt").write_text("1,2"), "expected .npy, .npz or .csv"),
        (lambda p: (p.parent / "bad.csv").write_text("1,a\n2,3\n"), "could not be read as numbers"),
        (lambda p: np.save(p.parent / "neg.npy", np.array([1.0, -1.0, 2.0])), "contains negative"),
        (lambda p: np.savez(p.parent / "two.npz", u=[1.0], v=[2.0]), "holds 2 arrays"),
    ],
)
def test_bad_files_exit_2_with_one_line(tmp_path, capsys, make, message):
    names = {
        "does not exist": "missing.npy",
        "expected .npy, .npz or .csv": "f.txt",
        "could not be read as numbers": "bad.csv",
        "contains negative": "neg.npy",
        "holds 2 arrays": "two.npz",
    }
    make(tmp_path / "f.npy")
    np.save(tmp_path / "ok.npy", np.array([1.0, 1.0, 2.0]))
    assert main(["emd", str(tmp_path / names[message]), str(tmp_path / "ok.npy")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("earthmover: error: ") and message in err and err.count("\n") == 1


def test_mixed_kinds_are_refused(clouds, capsys):
    tmp, _, _ = clouds
    np.save(tmp / "h.npy", np.array([1.0, 2.0]))
    assert main(["emd", str(tmp / "x.npy"), str(tmp / "h.npy")]) == 2
    assert "--kind" in capsys.readouterr().err
