"""Route tables: each module exposes ``router`` (a FastAPI APIRouter), and optionally
``lifespan(app)``, an async context manager run while the app is up (see ``app.py``)."""
