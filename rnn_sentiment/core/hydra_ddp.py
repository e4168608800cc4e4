"""DDP ranks inside a Hydra multirun job (Lightning issue #11300).

Lightning starts the other DDP ranks by re-running `sys.argv` with `hydra.run.dir` set to Hydra's
run directory. Inside a multirun that command line is the whole sweep, so every rank would start
the sweep again, in a directory of its own. Pointing the command at this one job, in its own
directory, keeps one run directory per job with every rank in it. Lightning also leaves its launch
variables (`LOCAL_RANK`, `MASTER_PORT`, ...) behind in the launching process; the next job of the
sweep would take them to mean that its ranks were started already, so they go (the process group
itself is closed by `core.distributed.process_group_closed_at_end`, inside this block).
"""

import os
import sys
from contextlib import contextmanager

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import read_write


@contextmanager
def one_job_of_the_sweep():
    """Inside a multirun job: DDP ranks relaunch this job alone, in its directory; afterwards the
    launch variables and `sys.argv` are as before. Outside a multirun: nothing."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        yield
        return
    hydra_cfg = HydraConfig.get()
    argv, environment = sys.argv, dict(os.environ)
    # the job's own overrides hold the values the sweeper chose; hydra.mode=RUN beats an
    # hparams_search config that switches multirun on
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task, "hydra.mode=RUN"]
    with read_write(hydra_cfg):
        sweep_run_dir, hydra_cfg.run.dir = hydra_cfg.run.dir, hydra_cfg.runtime.output_dir
    try:
        yield
    finally:
        sys.argv = argv
        for key in set(os.environ) - set(environment):
            del os.environ[key]
        os.environ.update(environment)
        with read_write(hydra_cfg):
            hydra_cfg.run.dir = sweep_run_dir
