"""Joining a `torchrun` process group: one process per GPU (NCCL), or gloo on CPU."""

from __future__ import annotations

import os

import torch


def join_process_group() -> tuple[torch.device, int]:
    """The device of this process and its rank; joins the process group when `torchrun` started >1 process."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu"), 0
    cuda = torch.cuda.is_available()
    torch.distributed.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank), torch.distributed.get_rank()
    return torch.device("cpu"), torch.distributed.get_rank()
