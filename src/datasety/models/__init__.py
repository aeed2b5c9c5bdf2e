"""The model runtime every model command shares.

* :mod:`.extras`: a missing optional dependency becomes one line naming the extra to install;
* :mod:`.device`: ``--device auto|cpu|cuda|mps`` and the dtype that suits the device;
* :mod:`.loading`: offline-first loading from the Hugging Face cache (the one door every model
  load goes through);
* :mod:`.batching`: images decoded on threads ahead of the model, batches bounded by count and
  by memory, each run under ``torch.inference_mode``.

Nothing here imports torch or transformers at module level: the CLI starts without them.
"""
