"""Dataset files on disk, confined to their dataset: opening, reading, writing and serving them.

``security`` and ``fsroot`` confine every path (descriptor walks, no symlink escapes),
``readwrite`` reads and atomically writes files, captions and ``metadata.csv``, ``multipart`` and
``json_upload`` stream upload bodies, ``image_check`` checks an uploaded image decodes,
``downloads`` serves a file, ``thumbnails`` makes and caches thumbnails, and ``leftovers``
removes the temporary files a killed server left behind.
"""
