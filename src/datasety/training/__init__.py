"""``datasety train``: LoRA fine-tuning of image models, one loop on accelerate, and voices.

* :mod:`.data`: the dataset folder (images + ``.txt`` captions), its hash, the validation
  split, aspect-ratio buckets and the order batches are drawn in;
* :mod:`.families`: what differs between model families (SDXL, FLUX.2-klein): loading,
  encoding captions and images, the training loss;
* :mod:`.cache`: latents and caption embeddings cached on disk once, reused across runs;
* :mod:`.lora_file`: the LoRA as ``.safetensors`` in diffusers' keys, with training metadata;
* :mod:`.checkpoint`: resumable checkpoints (weights, optimizer, scheduler, RNG), atomic;
* :mod:`.loop`: the training loop itself;
* :mod:`.voice`: a Piper text-to-speech voice from an LJSpeech folder (its own package);
* :mod:`.on_ray`: the same loop in the workers of a Ray Train ``TorchTrainer`` (``--workers``).

Nothing here imports torch at module level: the CLI starts without it.
"""
