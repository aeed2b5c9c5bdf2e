"""Captioning: one ``.txt`` sidecar per image, from a local model or an OpenAI-compatible API.

* :mod:`.targets` decides which caption file belongs to which image;
* :mod:`.text` shapes caption text (``--template``, ``--append``, ``--prepend``);
* :mod:`.local` runs a Hugging Face image-to-text model (torch is imported only there);
* :mod:`.api` talks to an OpenAI-compatible chat completions endpoint;
* :mod:`.run` drives a batch through either backend and reports progress.
"""
