"""Generation: making images with diffusion pipelines or an OpenAI-compatible image API.

* :mod:`.families`: which diffusers pipeline a model id needs, and how each family is called;
* :mod:`.pipelines`: loading one (offline-first, ``--weights``, ``--gguf``, ``--lora``,
  ``--cpu-offload``) and running it with per-image seeds;
* :mod:`.pairs`: the control/target/caption layout an edit model trains on;
* :mod:`.synthetic`: ``datasety synthetic``, every input image edited with a prompt;
* :mod:`.image_api`: ``--image-api``, the OpenAI images protocol (edits and generations);
* :mod:`.prompts` and :mod:`.character`: ``datasety character``, an LLM's prompts rendered;
* :mod:`.sweep`: ``datasety sweep``, a workflow of synthetic runs over a grid of settings.

Plain functions, no click; nothing imports torch or diffusers at module level.
"""
