"""`digitnet serve`'s web application: the FastAPI app (app.py), what it reads from requests (inputs.py)
and the page itself (static/). FastAPI and uvicorn are imported only when the app is created."""
from .app import BODY_TIMEOUT_S, MAX_UPLOAD_BYTES, RequestError, create_app, pixels_from_json

__all__ = ["create_app", "pixels_from_json", "MAX_UPLOAD_BYTES", "BODY_TIMEOUT_S", "RequestError"]
