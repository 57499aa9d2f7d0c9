"""The model registry: imports every model so that ``Base.metadata`` is complete.

Entry points (the web app, the CLI, migrations, benchmarks, tests) import this module before the first session:
a foreign key to a table whose module happened not to be imported (invoices from license_changes) would
otherwise fail at flush. It lives above every domain so that the base (``db``) imports none."""

from seatflow import clock as _clock  # noqa: F401
from seatflow.audit import models as _audit  # noqa: F401
from seatflow.audit import recorder as _audit_recorder  # noqa: F401  (the flush hook that writes the audit log)
from seatflow.auth import models as _auth  # noqa: F401
from seatflow.billing import models as _billing  # noqa: F401
from seatflow.catalog import models as _catalog  # noqa: F401
from seatflow.contracts import models as _contracts  # noqa: F401
from seatflow.costs import models as _costs  # noqa: F401
from seatflow.customers import models as _customers  # noqa: F401
from seatflow.db import sequences as _sequences  # noqa: F401
from seatflow.db.base import Base
from seatflow.events import models as _events  # noqa: F401
from seatflow.pricing import models as _pricing  # noqa: F401
from seatflow.provisioning import models as _provisioning  # noqa: F401
from seatflow.subscriptions import models as _subscriptions  # noqa: F401

metadata = Base.metadata
