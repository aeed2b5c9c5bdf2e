"""Voice (text-to-speech) training for ``datasety train`` on an LJSpeech folder.

* :mod:`.dataset`: ``metadata.csv`` rows paired with their clips in ``wavs/``;
* :mod:`.backends`: what a run was asked for (:class:`~.backends.VoiceSettings`) and which
  engine trains it (Piper; coqui and f5-tts are refused in one line);
* :mod:`.piper`: a Piper voice trained with piper-tts's VITS on Lightning;
* :mod:`.export`: the ONNX voice Piper loads, and a sentence spoken with it.

Only :mod:`.piper` and :mod:`.export` import the heavy stack (torch, Lightning, piper), and
only once a run starts: the CLI and the server import this package without them.
"""
