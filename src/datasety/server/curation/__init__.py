"""Curation: changing captions and files through the server, and undoing it.

``caption_targets`` reads and writes caption texts (``caption_home``: where a new caption goes;
``inode_release``: freeing the files a bulk write renames over), ``bulk`` applies one edit to a
selection, ``history`` records every caption change and operation for undo, and ``trash`` moves
files into the data dir's trash and back.
"""
