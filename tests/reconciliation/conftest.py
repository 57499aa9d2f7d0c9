from tests.provisioning.conftest import clock, make_worker, session_factory  # noqa: F401 - shared fixtures
