"""Reading datasets: the seeded sampler, rank sharding, resume position, the test loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_data import multi_example_task, reverse_task

from trm.data import PuzzleDataset, TrainSampler
from trm.evaluate import select_rows


def test_one_puzzle_per_group_per_epoch(tmp_path):
    data = PuzzleDataset(
        reverse_task(tmp_path / "d", n_train=40, num_aug=3), "train"
    )  # 10 groups of 4
    sampler = TrainSampler(data, global_batch_size=5, epochs_per_pass=1, seed=0)
    groups = []
    for _ in range(sampler.batches_per_pass()):
        b = sampler.next_batch()
        rows = [np.where((data.inputs == b.inputs[i].numpy()).all(1))[0][0] for i in range(5)]
        groups += [r // 4 for r in rows]
    assert sorted(groups) == list(range(10))


def test_same_seed_same_batches_and_resume(tmp_path):
    data = PuzzleDataset(reverse_task(tmp_path / "d", n_train=64), "train")
    a = TrainSampler(data, 8, epochs_per_pass=2, seed=3)
    first = [a.next_batch().inputs for _ in range(20)]  # crosses pass boundaries
    b = TrainSampler(data, 8, epochs_per_pass=2, seed=3)
    for _ in range(7):
        b.next_batch()
    c = TrainSampler(data, 8, epochs_per_pass=2, seed=3)
    c.load_state_dict(b.state_dict())
    for i in range(7, 20):
        assert torch.equal(c.next_batch().inputs, first[i])
    d = TrainSampler(data, 8, epochs_per_pass=2, seed=4)
    assert not all(torch.equal(d.next_batch().inputs, first[i]) for i in range(3))


def test_ranks_split_the_global_batch(tmp_path):
    data = PuzzleDataset(multi_example_task(tmp_path / "d", n_puzzles=12, examples=3), "train")
    whole = TrainSampler(data, 6, epochs_per_pass=4, seed=0)
    parts = [
        TrainSampler(data, 6, epochs_per_pass=4, seed=0, rank=r, world_size=2) for r in range(2)
    ]
    for _ in range(5):
        g = whole.next_batch()
        r0, r1 = parts[0].next_batch(), parts[1].next_batch()
        assert torch.equal(torch.cat([r0.inputs, r1.inputs]), g.inputs)
        assert torch.equal(
            torch.cat([r0.puzzle_identifiers, r1.puzzle_identifiers]), g.puzzle_identifiers
        )


def test_multi_example_puzzles_keep_their_identifier(tmp_path):
    data = PuzzleDataset(multi_example_task(tmp_path / "d"), "train")
    b = TrainSampler(data, 6, epochs_per_pass=1, seed=0).next_batch()
    for i in range(6):
        row = np.where((data.inputs == b.inputs[i].numpy()).all(1))[0][0]
        assert (
            b.puzzle_identifiers[i].item()
            == data.puzzle_identifiers[data.puzzle_of_rows(np.array([row]))[0]]
        )


def test_evaluation_rows_all_or_a_seeded_subset_in_file_order():
    assert select_rows(10).tolist() == list(range(10))
    limited = select_rows(10, limit=5, seed=1)
    assert len(limited) == 5 and (np.diff(limited) > 0).all()
    assert select_rows(10, limit=5, seed=1).tolist() == limited.tolist()
    assert len(select_rows(10, limit=50)) == 10


def test_prefetcher_yields_the_sampler_batches_and_positions(tmp_path):
    from trm.data import Prefetcher

    data = PuzzleDataset(reverse_task(tmp_path / "d", n_train=64), "train")
    plain = TrainSampler(data, 8, epochs_per_pass=1, seed=0)
    pre = Prefetcher(TrainSampler(data, 8, epochs_per_pass=1, seed=0), torch.device("cpu"))
    for _ in range(10):
        batch, state = pre.next()
        assert torch.equal(batch.inputs, plain.next_batch().inputs)
        assert state == plain.state_dict()
    pre.close()


def _edit_json(path, **changes):
    import json

    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _edit_array(path, edit):
    a = np.load(path)
    np.save(path, edit(a.copy()))


def _set(a, index, value):
    a[index] = value
    return a


@pytest.mark.parametrize(
    "file, edit, message",
    [
        ("dataset.json", lambda p: _edit_json(p, seq_len=7), "dataset.json: seq_len is 7"),
        ("dataset.json", lambda p: _edit_json(p, vocab_size="11"), "vocab_size must be"),
        (
            "all__inputs.npy",
            lambda p: _edit_array(p, lambda a: _set(a, (3, 2), 200)),
            "token id 200",
        ),
        ("all__labels.npy", lambda p: _edit_array(p, lambda a: a[:, :5]), "differs from inputs"),
        (
            "all__puzzle_indices.npy",
            lambda p: _edit_array(p, lambda a: _set(a, -1, 10**6)),
            "must rise from 0 to the 16 examples, got 0..1000000",
        ),
        (
            "all__group_indices.npy",
            lambda p: _edit_array(p, lambda a: a[::-1]),
            "all__group_indices.npy: offsets must rise",
        ),
        (
            "all__puzzle_identifiers.npy",
            lambda p: _edit_array(p, lambda a: _set(a, 0, 5)),
            r"identifiers must lie in 0\.\.0",
        ),
    ],
)
def test_damaged_datasets_are_one_line_naming_the_file(tmp_path, file, edit, message):
    from trm.errors import TrmError

    root = reverse_task(tmp_path / "d", n_train=16, n_test=4)
    edit(root / "train" / file)
    with pytest.raises(TrmError, match=message) as e:
        PuzzleDataset(root, "train")
    assert str(root / "train" / file) in str(e.value) and "\n" not in str(e.value)
    PuzzleDataset(root, "test")  # the other split is untouched and loads
