"""Speech datasets from raw recordings: ``datasety audio`` (clips + transcripts, LJSpeech or
wav/txt pairs) and ``datasety video`` (clips cut from videos, a transcript beside each).

* :mod:`.sources`: what ``--input`` names (files, folders, list files, URLs);
* :mod:`.vad`: Silero VAD's speech regions;
* :mod:`.transcribe`: faster-whisper with word timestamps, loaded offline-first;
* :mod:`.segments`: words grouped into clips that never cut a word, and the quality gates;
* :mod:`.text`: transcript cleaning, numbers in words, the phoneme-map check;
* :mod:`.output`: LJSpeech and pair writers, resume state;
* :mod:`.audio_run` and :mod:`.video_run`: the two pipelines.
"""
