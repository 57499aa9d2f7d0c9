from tests.console.conftest import login, operators  # noqa: F401 - the console's operators, for its views
from tests.provisioning.conftest import clock, make_worker, session_factory  # noqa: F401 - shared fixtures
from tests.reconciliation.fixtures import vet  # noqa: F401 - shared fixture
