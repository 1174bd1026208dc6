"""Browser tests. A package, so that its conftest.py does not replace tests/conftest.py as module "conftest"."""
