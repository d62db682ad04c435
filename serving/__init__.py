"""serving: the FastAPI service for planners and the CRM (``serving.app``), the planner web page
(``serving.web``), the application database (``serving.db``) and the proposal workflow every door uses
(``serving.proposal_service``); on the core, ``models`` and ``planning``, never ``training``. The root
publishes nothing itself: import the module that holds the concept."""

__all__: list[str] = []
