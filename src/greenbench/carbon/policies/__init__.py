"""Added routing policies, one module each: a module here that calls
``greenbench.carbon.routing.register_policy(Policy(...))`` is found on the first use of
``routing.POLICIES`` and simulated after the built-in policies of ``greenbench.carbon.routing``
(docs/extending.md has a worked example). Nothing else needs editing."""
