"""Dataset listings: the per-dataset catalog and what it is made of.

``catalogs`` keeps each dataset's scan fresh (``watch``: inotify; ``first_scan``: entries
published while a first scan goes on) and answers listing queries; ``listing`` turns files into
entries and their JSON, ``listing_order`` sorts them, ``folder_filters`` filters them folder by
folder, ``listing_cache`` keeps full listing bodies on disk, ``dimensions`` reads image sizes from
headers, and ``stats`` makes the stats panel from a catalog.
"""
