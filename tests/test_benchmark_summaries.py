"""benchmarks/augment.py --summarize: the small-data table is computed from the study's records, not by hand."""

from __future__ import annotations

import importlib
import json

RECORDS = [
    {
        "contender": "none limit=500 seed=0/ema",
        "seconds": 120.0,
        "steps": 150,
        "fid": 60.0,
        "confidence": 0.6,
        "digits": 3,
        "covered": 2,
    },
    {
        "contender": "none limit=500 seed=0/ema",
        "seconds": 240.0,
        "steps": 300,
        "fid": 80.0,
        "confidence": 0.99,
        "digits": 1,
        "covered": 1,
    },
    {
        "contender": "diffaugment limit=500 seed=0/ema",
        "seconds": 240.0,
        "steps": 290,
        "fid": 20.0,
        "confidence": 0.9,
        "digits": 10,
        "covered": 10,
        "aug/p": 1.0,
    },
    {
        "contender": "diffaugment limit=500 seed=0",
        "steps": 290,
        "nearest_train_distance/samples": 9.25,
        "nearest_train_distance/test_digits": 9.5,
    },
    {
        "contender": "none limit=0 seed=1/ema",
        "seconds": 240.0,
        "steps": 300,
        "fid": 4.0,
        "confidence": 0.9,
        "digits": 10,
        "covered": 10,
    },
]


def test_the_summary_compares_each_arm_final_fid_with_no_augmentation(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(importlib.import_module("pathlib").Path(__file__).parents[1] / "benchmarks"))
    augment = importlib.import_module("augment")
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS[:3]))
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS[3:]))
    rows = augment.summarize([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]).splitlines()[2:]
    assert [r.split(" | ")[:6] for r in rows] == [
        ["| 500", "0", "none", "300", "80.00", ""],  # the last evaluation, not the best
        ["| 500", "0", "diffaugment", "290", "20.00", "-75%"],  # 20 / 80 - 1
        ["| 60000", "1", "none", "300", "4.00", ""],  # limit 0 is the whole training set, listed last
    ]
    assert "60.00 (2)" in rows[0]  # the best FID and the minute it was reached
    assert "9.25 / 9.50" in rows[1] and rows[1].endswith("| 1.00 |")
