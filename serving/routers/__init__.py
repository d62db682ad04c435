"""One router per resource, all under ``/api/v1`` except ``/health`` and ``/ready``."""

__all__: list[str] = []
