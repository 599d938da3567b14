"""Stage 0 trained once for continuous thought and pause tokens (runners/stage0.py)."""
import dataclasses
import json

from runners import stage0
from runners.suites import graphs
from runners.train import train_group


def zhu_groups(reset=True):
    runs = graphs.experiments("smoke")["zhu_graphs"]
    if not reset:
        runs = [dataclasses.replace(r, train=dataclasses.replace(r.train, reset_optimizer=False)) for r in runs]
    return ([r for r in runs if r.view.startswith("latent")], [r for r in runs if r.view.startswith("pause")])


def rows(root, run):
    return [json.loads(line) for line in (root / run.run_id / "metrics.jsonl").read_text().splitlines()]


def test_pause_starts_from_the_latent_groups_stage0(tmp_path, monkeypatch):
    latent, pause = zhu_groups()
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    lat = train_group(latent, root=shared)
    assert len(list((shared / stage0.DIR).glob("*.pt"))) == 1 and "stage0_shared" not in lat[0]
    got = train_group(pause, root=shared)
    monkeypatch.setenv("DEPTHBENCH_SHARE_STAGE0", "0")
    want = train_group(pause, root=alone)
    assert not (alone / stage0.DIR).exists()
    for g, w, run in zip(got, want, pause):
        assert g["stage0_shared"] and g["stage0_wall_s"] > 0 and "stage0_shared" not in w
        assert g["metrics"] == w["metrics"]  # the same stage 0, then the same later batches
        key = lambda r: (r.get("stage", -1), r["step"])  # noqa: E731
        assert sorted(rows(shared, run), key=key) == sorted(rows(alone, run), key=key)


def test_the_key_drops_only_the_pause_flag():
    latent, pause = zhu_groups()
    k = stage0.key(latent, 40, 20)
    assert stage0.key(pause, 40, 20) == k
    assert stage0.key(latent[::-1], 40, 20) != k
    assert stage0.key(latent, 40, 21) != k
    other = [dataclasses.replace(r, seed=r.seed + 7) for r in latent]
    assert stage0.key(other, 40, 20) != k


def test_nothing_is_shared_without_an_optimizer_reset(tmp_path):
    latent, pause = zhu_groups(reset=False)
    train_group(latent, root=tmp_path)
    assert not (tmp_path / stage0.DIR).exists()
    assert "stage0_shared" not in train_group(pause, root=tmp_path)[0]


def test_a_group_resumes_at_stage1_from_its_own_snapshot(tmp_path):
    latent, _ = zhu_groups()
    first = train_group(latent, root=tmp_path)
    again = train_group(latent, root=tmp_path)  # as after a kill past stage 0
    assert again[0]["stage0_shared"] and [r["metrics"] for r in again] == [r["metrics"] for r in first]


def test_sharing_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHBENCH_SHARE_STAGE0", "0")
    latent, pause = zhu_groups()
    train_group(latent, root=tmp_path)
    assert not (tmp_path / stage0.DIR).exists()
    assert "stage0_shared" not in train_group(pause, root=tmp_path)[0]
