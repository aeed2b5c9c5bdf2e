"""`datasety server`: the REST API of ``spec/server-api.txt`` on FastAPI.

``app.create_app(settings)`` builds the application; ``datasety.commands.server`` runs it on
uvicorn. The wiring stays here (settings, store, errors, middlewares, connections, request
bodies, the download fast path, dataset registration); routes are thin (``routes/``) and the work
lives in one subpackage per purpose: ``catalog/`` (listings), ``files/`` (confined file access,
uploads, downloads, thumbnails), ``curation/`` (captions, bulk edits, history and undo) and
``jobs/`` (the job queue and its executors).
"""
