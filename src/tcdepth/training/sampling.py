"""A shuffling sampler whose order is a pure function of (seed, epoch) and that can resume mid-epoch.

Lightning restores the model, optimiser, scheduler and loop counters; this sampler makes the *data order* part of
the same exact resume: an interrupted epoch continues with the samples it had not yet seen, and every rank of a
distributed run reads its own shard of the same permutation.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableShuffleSampler(Sampler[int]):
    """Epoch-seeded permutation, sharded over ``num_replicas`` ranks, that can leave out the part of an epoch done
    before an interruption.

    Each rank gets ``len(dataset) // num_replicas`` indices (the tail is dropped so every rank takes the same number
    of steps).
    """

    def __init__(self, dataset, seed: int = 0, shuffle: bool = True, rank: int = 0, num_replicas: int = 1):
        length = len(dataset)
        if length < num_replicas:
            raise ValueError(f"dataset of {length} samples is smaller than the number of ranks ({num_replicas})")
        self.dataset = dataset
        self.length = length
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.num_replicas = num_replicas
        self.epoch = 0
        self.resume_epoch = -1
        self.resume_skip = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's permutation, and the epoch's augmentation draws when the dataset has them."""
        self.epoch = epoch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def resume(self, epoch: int, samples_done: int) -> None:
        """Leave out the first ``samples_done`` indices of ``epoch`` (this rank's shard), once."""
        self.resume_epoch = epoch
        self.resume_skip = samples_done

    def _indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.length, generator=g).tolist()
        else:
            order = list(range(self.length))
        per_rank = self.length // self.num_replicas
        return order[self.rank * per_rank:(self.rank + 1) * per_rank]

    def __iter__(self) -> Iterator[int]:
        indices = self._indices()
        if self.epoch == self.resume_epoch:
            indices = indices[self.resume_skip:]
            self.resume_epoch = -1
        return iter(indices)

    def __len__(self) -> int:
        return self.length // self.num_replicas
