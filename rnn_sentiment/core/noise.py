"""Messages that say nothing about the run, silenced once by every entry point that trains or predicts."""

import logging
import warnings


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


_ADVERTS = _DropAdverts()


def quiet_known_noise() -> None:
    """Silence adverts, library deprecations, torchmetrics' note on sanity-check batches that hold
    one class only, and Lightning's note that prediction batches carry no indices (rows carry their
    own numbers). Calling it again adds nothing."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_ADVERTS)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message="No (positive|negative) samples in targets")
    warnings.filterwarnings("ignore", message="Couldn't infer the batch indices")
