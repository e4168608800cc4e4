"""The language model's data holds a big text once: read in chunks, ids stored once, batches as views."""

import gc
import os
import random
import tracemalloc

import pytest
import torch

from lm.data import LanguageModelDataModule

pytestmark = pytest.mark.slow  # reads a 6 MB text several times

VOCABULARY = [f"harpooneer{i:03d}" for i in range(500)]


@pytest.fixture(scope="module")
def big_text(tmp_path_factory):
    """About 6 MB of lines of long words (some blank): its ids take a fifth of its bytes."""
    file = tmp_path_factory.mktemp("big") / "big.txt"
    rng = random.Random(0)
    with open(file, "w") as out:
        while out.tell() < 6_000_000:
            out.write(" ".join(rng.choices(VOCABULARY, k=rng.randint(0, 25))) + "\n")
    return file


def resident_bytes() -> int:
    gc.collect()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_setup_never_holds_the_whole_text(big_text):
    dm = LanguageModelDataModule(path=str(big_text), num_words=1000)
    tracemalloc.start()
    try:
        dm.setup("fit")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    words = sum(len(ids) for ids in dm.ids.values())
    assert words > 300_000 and all(ids.dtype == torch.int32 for ids in dm.ids.values())
    # the text as one string alone would take its size; the ids take 4 bytes a word
    size = big_text.stat().st_size
    assert peak < size, f"{peak / 1e6:.1f} MB traced for a {size / 1e6:.1f} MB text"


@pytest.mark.parametrize("stateful", [False, True])
def test_epochs_share_the_ids_and_do_not_grow_memory(big_text, stateful):
    dm = LanguageModelDataModule(path=str(big_text), num_words=1000, seq_len=32 if stateful else 1,
                                 stateful=stateful, batch_size=256, cache_dir=str(big_text.parent / "cache"))
    dm.setup("fit")
    ids = dm.ids["train"]
    resident = []
    for epoch in range(3):
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(epoch)
        dataset = loader.dataset
        for storage in (dataset.inputs, dataset.targets):
            assert storage.untyped_storage().data_ptr() == ids.untyped_storage().data_ptr()
        batches = sum(1 for _ in loader)
        assert batches == len(loader.sampler) > 40
        resident.append(resident_bytes())
    grown = resident[2] - resident[1]  # a copy of the ids kept each epoch would add ids.nbytes or more
    assert grown < ids.nbytes / 2, f"resident memory grew by {grown / 1e6:.1f} MB in an epoch"
