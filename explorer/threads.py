"""OpenMP thread settings of the calling thread, in one place.

OpenMP's thread count is a per-thread setting, so limiting one thread (a decode lane, a
one-point map query) leaves every other thread (other sessions, a fit in the background)
with its own. ``torch.set_num_threads`` is not used: it would also change the default of
every thread started later (Streamlit starts one per script run).
"""
from __future__ import annotations

import functools

from threadpoolctl import ThreadpoolController


@functools.cache
def thread_controller() -> ThreadpoolController:
    return ThreadpoolController()  # built on first use, once the OpenMP libraries are loaded


def one_openmp_thread():
    """A context manager running the calling thread's OpenMP work on that thread alone.

    For one-point queries: on 2 busy cores, waking a team of OpenMP threads for
    scikit-learn's neighbour search made placing a point take 70-100 ms (spikes to 300 ms)
    instead of 1-15 ms."""
    return thread_controller().limit(limits=1, user_api="openmp")


def one_intra_op_thread() -> None:
    """Run the calling thread's torch CPU ops on that thread alone, for good (a worker thread).

    For the decode coalescer, whose batches are a few codes (a slider move: about 1 ms of
    work). With an OpenMP team of two, every such decode waited for the second thread to be
    scheduled, and on two cores busy with other work that took 100 to 280 ms; on one thread it
    took 1 to 7 ms. torch sets up a thread's OpenMP state lazily on first use, which would
    overwrite an earlier limit, so that set-up is triggered first."""
    import torch

    torch.get_num_threads()  # torch sets up this thread's OpenMP state on first use
    thread_controller().limit(limits=1, user_api="openmp")  # not undone: the thread keeps it
