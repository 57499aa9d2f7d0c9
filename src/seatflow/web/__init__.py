"""The web server: the app factory, request dependencies and error pages; ``api``, ``console`` and
``portal`` are its sibling routers."""
