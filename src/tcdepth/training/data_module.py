"""Lightning data module: datasets from the data config, deterministic and resumable loading order."""

from __future__ import annotations

from dataclasses import replace

import lightning as L
import torch
from torch.utils.data import DataLoader

from tcdepth.data import build_dataset
from tcdepth.experiment import ExperimentConfig
from tcdepth.training.sampling import ResumableShuffleSampler


class DepthDataModule(L.LightningDataModule):
    """Training and validation loaders for one experiment.

    The training order is a function of ``(train.seed, epoch)`` only, sharded over the ranks of a distributed run;
    the position inside the epoch is saved in every checkpoint so that a resumed run reads exactly the samples the
    interrupted one had not yet read. A checkpoint written at the end of an epoch resumes at the start of the next.
    """

    def __init__(self, cfg: ExperimentConfig):
        super().__init__()
        self.cfg = cfg
        self.train_set = None
        self.val_set = None
        self._sampler: ResumableShuffleSampler | None = None
        self._resume: tuple[int, int] = (0, 0)  # (epoch to run next, samples of it already done)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None and stage in (None, "fit"):
            # Ground truth is read for validation only; training never looks at it.
            self.train_set = build_dataset(replace(self.cfg.data, depth_gt=False), "train", augment=True)
        if self.val_set is None and stage in (None, "fit", "validate") and self.cfg.data.dataset != "video":
            self.val_set = build_dataset(self.cfg.data, "val", augment=False)

    def check_size(self, world: int = 1) -> None:
        """Raise unless every rank gets at least one batch of training samples."""
        if len(self.train_set) // world < self.cfg.train.batch_size:
            raise ValueError(f"data: the training set has {len(self.train_set)} samples, fewer than one batch of "
                             f"{self.cfg.train.batch_size} per rank ({world} ranks)")

    def _loader_kwargs(self) -> dict:
        workers = self.cfg.data.num_workers
        # Workers are re-created every epoch so that they see the epoch set on the dataset (augmentation draws).
        return {"num_workers": workers, "persistent_workers": False, "pin_memory": torch.cuda.is_available()}

    def train_dataloader(self) -> DataLoader:
        rank = self.trainer.global_rank if self.trainer else 0
        world = self.trainer.world_size if self.trainer else 1
        self.check_size(world)
        self._sampler = ResumableShuffleSampler(self.train_set, seed=self.cfg.train.seed, rank=rank,
                                                num_replicas=world)
        # Lightning builds the loader's iterator (and, with workers, draws the first indices) before it sets the
        # epoch of a resumed run: the sampler must already hold the epoch it will run.
        epoch, skip = self._resume
        self._sampler.set_epoch(epoch)
        self._sampler.resume(epoch, skip)
        # A private generator: creating the loader's iterator must not draw from the global random state, which
        # the checkpoint restores for the losses.
        generator = torch.Generator().manual_seed(self.cfg.train.seed)
        return DataLoader(self.train_set, batch_size=self.cfg.train.batch_size, sampler=self._sampler,
                          drop_last=True, generator=generator, **self._loader_kwargs())

    def val_dataloader(self) -> DataLoader | list:
        # A user's video has no ground truth: there is nothing to validate against.
        if self.cfg.data.dataset == "video" or self.val_set is None or len(self.val_set) == 0:
            return []
        return DataLoader(self.val_set, batch_size=self.cfg.train.batch_size, shuffle=False,
                          **self._loader_kwargs())

    def state_dict(self) -> dict:
        if self.trainer is None:
            return {}
        # "processed" counts the batch whose optimiser step has run, also when saving inside on_train_batch_end.
        done = self.trainer.fit_loop.epoch_loop.batch_progress.current.processed
        finished = done >= self.trainer.num_training_batches
        return {"epoch": self.trainer.current_epoch, "samples_done": done * self.cfg.train.batch_size,
                "finished": finished}

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        if state.get("finished", False):
            self._resume = (state["epoch"] + 1, 0)
        else:
            self._resume = (state["epoch"], state["samples_done"])
        if self._sampler is not None:
            self._sampler.set_epoch(self._resume[0])
            self._sampler.resume(*self._resume)
