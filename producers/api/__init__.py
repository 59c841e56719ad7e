"""Étude's HTTP API: FastAPI with JWT auth, uploads, job queries, live progress, a web page."""
