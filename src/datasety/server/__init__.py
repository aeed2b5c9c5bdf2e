"""`datasety server`: the REST API of ``spec/server-api.txt`` on FastAPI.

``app.create_app(settings)`` builds the application; ``datasety.commands.server`` runs it on
uvicorn. Routes are thin (``routes/``); the work lives in ``files``, ``catalog``, ``store``.
"""
