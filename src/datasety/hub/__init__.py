"""Publishing a dataset folder or a trained model to the Hugging Face Hub (``datasety upload``).

Plain functions, no click: :mod:`.files` picks what may be uploaded, :mod:`.kinds` tells what
the folder is, :mod:`.loader` writes the ``datasets`` loader config and its metadata rows,
:mod:`.lora` reads a LoRA's training metadata, :mod:`.card` renders the README card,
:mod:`.plan` puts them together, and :mod:`.publish` sends the plan with ``huggingface_hub``
(the only module that imports it).
"""
